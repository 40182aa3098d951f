//! Matching a request to an endpoint of the catalog.

use std::collections::HashMap;
use tollgate_domain::Endpoint;

/// The catalog compiled into one path router per method (plus `ANY`).
pub struct Catalog {
    endpoints: Vec<Endpoint>,
    by_method: HashMap<String, matchit::Router<usize>>,
}

/// A matched endpoint and the part of the path its `{*rest}` captured (if any).
pub struct Matched<'a> {
    pub endpoint: &'a Endpoint,
    pub rest: Option<String>,
}

impl Catalog {
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        let mut by_method: HashMap<String, matchit::Router<usize>> = HashMap::new();
        for (i, e) in endpoints.iter().enumerate() {
            if let Err(err) = by_method.entry(e.method.clone()).or_default().insert(e.path.clone(), i) {
                // Two patterns that cannot coexist (e.g. /a/{x} and /a/{y}): the first wins.
                tracing::warn!(endpoint = %e.id, path = %e.path, error = %err, "endpoint path conflicts; ignored");
            }
        }
        Catalog { endpoints, by_method }
    }

    /// The endpoint for `method` and `path` (the part after `/api/v1`). An endpoint of the
    /// exact method wins over an `ANY` one.
    pub fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        for m in [method, "ANY"] {
            if let Some(found) = self.by_method.get(m).and_then(|r| r.at(path).ok()) {
                let endpoint = &self.endpoints[*found.value];
                let rest = endpoint
                    .path
                    .rsplit('/')
                    .next()
                    .and_then(|last| last.strip_prefix("{*"))
                    .and_then(|n| n.strip_suffix('}'))
                    .and_then(|name| found.params.get(name))
                    .map(str::to_string);
                return Some(Matched { endpoint, rest });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn matching() {
        let echo = Endpoint::default_echo(Utc::now());
        let any = Endpoint {
            id: tollgate_domain::Id::from_string("ep_any"),
            method: "ANY".into(),
            path: "/items/{id}".into(),
            ..echo.clone()
        };
        let get = Endpoint {
            id: tollgate_domain::Id::from_string("ep_get"),
            method: "GET".into(),
            path: "/items/{id}".into(),
            ..echo.clone()
        };
        let c = Catalog::new(vec![echo, any, get]);
        let m = c.find("GET", "/echo/hello/world").unwrap();
        assert_eq!((m.endpoint.id.as_str(), m.rest.as_deref()), ("ep_echo", Some("hello/world")));
        assert_eq!(c.find("GET", "/items/7").unwrap().endpoint.id.as_str(), "ep_get");
        assert_eq!(c.find("DELETE", "/items/7").unwrap().endpoint.id.as_str(), "ep_any");
        assert!(c.find("POST", "/echo/x").is_none());
        assert!(c.find("GET", "/nothing").is_none());
    }
}
