//! Typed access to a parsed form ([`crate::form::parse`]): every getter answers Stripe's
//! error for a missing, malformed or unknown parameter, naming it in bracket notation.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// A level of request parameters (the top level, or e.g. `recurring`, `items[0]`).
#[derive(Debug, Clone)]
pub struct Params<'a> {
    map: &'a Map<String, Value>,
    /// This level's own name (`items[0]`), empty at the top level.
    prefix: String,
}

/// How a `metadata` parameter changes an object's metadata (Stripe merges on update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataUpdate {
    /// `metadata=`: remove every key.
    Clear,
    /// `metadata[k]=v` sets k; `metadata[k]=` removes it.
    Merge(BTreeMap<String, Option<String>>),
}

impl MetadataUpdate {
    /// Applies the update to `metadata`, enforcing Stripe's limits (50 keys, key 40 and
    /// value 500 characters).
    pub fn apply(&self, metadata: &mut BTreeMap<String, String>, param: &str) -> ApiResult<()> {
        match self {
            MetadataUpdate::Clear => metadata.clear(),
            MetadataUpdate::Merge(changes) => {
                for (k, v) in changes {
                    if k.chars().count() > 40 {
                        return Err(ApiError::invalid_param(
                            format!("{param}[{k}]"),
                            "Metadata keys can have up to 40 characters.",
                        ));
                    }
                    match v {
                        Some(v) if v.chars().count() > 500 => {
                            return Err(ApiError::invalid_param(
                                format!("{param}[{k}]"),
                                "Metadata values can have up to 500 characters.",
                            ))
                        }
                        Some(v) => {
                            metadata.insert(k.clone(), v.clone());
                        }
                        None => {
                            metadata.remove(k);
                        }
                    }
                }
                if metadata.len() > 50 {
                    return Err(ApiError::invalid_param(param, "You can have at most 50 metadata keys."));
                }
            }
        }
        Ok(())
    }
}

impl<'a> Params<'a> {
    /// The top level of a request. The caller's value must be an object (the parser's
    /// output always is).
    pub fn root(value: &'a Value) -> ApiResult<Self> {
        match value {
            Value::Object(map) => Ok(Params { map, prefix: String::new() }),
            _ => Err(ApiError::invalid("Invalid request body")),
        }
    }

    /// The bracket-notation name of `key` at this level, e.g. `items[0][price]`.
    pub fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}[{key}]", self.prefix)
        }
    }

    /// This level's own bracket name (`items[0]`; empty at the top level).
    pub fn path(&self) -> &str {
        &self.prefix
    }

    /// Whether the parameter was sent at all.
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Rejects parameters other than `allowed` (and `expand`), as Stripe does.
    pub fn allow(&self, allowed: &[&str]) -> ApiResult<()> {
        match self.map.keys().find(|k| k.as_str() != "expand" && !allowed.contains(&k.as_str())) {
            Some(k) => Err(ApiError::unknown_param(&self.name(k))),
            None => Ok(()),
        }
    }

    /// A string parameter; `Ok(None)` when absent.
    pub fn str(&self, key: &str) -> ApiResult<Option<&'a str>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::invalid_param(self.name(key), format!("Invalid string: {}", self.name(key)))),
        }
    }

    /// A string parameter where an empty value means "unset" (Stripe's convention).
    pub fn opt_str(&self, key: &str) -> ApiResult<Option<&'a str>> {
        Ok(self.str(key)?.filter(|s| !s.is_empty()))
    }

    /// A required, non-empty string parameter.
    pub fn required_str(&self, key: &str) -> ApiResult<&'a str> {
        self.opt_str(key)?.ok_or_else(|| ApiError::missing_param(&self.name(key)))
    }

    /// One of a fixed set of values ("Invalid mode: must be one of payment, setup, or subscription").
    pub fn one_of(&self, key: &str, allowed: &[&str]) -> ApiResult<Option<&'a str>> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(_) => {
                let list = match allowed {
                    [one] => one.to_string(),
                    [init @ .., last] => format!("{}, or {last}", init.join(", ")),
                    [] => String::new(),
                };
                Err(ApiError::invalid_param(
                    self.name(key),
                    format!("Invalid {}: must be one of {list}", self.name(key)),
                ))
            }
        }
    }

    /// An integer parameter.
    pub fn i64(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::invalid_param(self.name(key), format!("Invalid integer: {s}"))),
        }
    }

    /// A non-negative integer parameter.
    pub fn u64(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.i64(key)? {
            Some(n) if n < 0 => Err(ApiError::invalid_param(
                self.name(key),
                format!("This value must be greater than or equal to 0 (it currently is '{n}')."),
            )),
            other => Ok(other.map(|n| n as u64)),
        }
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(s) => Err(ApiError::invalid_param(self.name(key), format!("Invalid boolean: {s}"))),
        }
    }

    /// A nested hash such as `recurring[...]`; `Ok(None)` when absent or sent empty.
    pub fn child(&self, key: &str) -> ApiResult<Option<Params<'a>>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Params { map, prefix: self.name(key) })),
            Some(_) => Err(ApiError::invalid_param(self.name(key), format!("Invalid hash: {}", self.name(key)))),
        }
    }

    /// An array of hashes such as `items[0][...]`, each with its bracket name.
    pub fn list(&self, key: &str) -> ApiResult<Vec<Params<'a>>> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok(Params { map, prefix: format!("{}[{i}]", self.name(key)) }),
                    _ => Err(ApiError::invalid_param(format!("{}[{i}]", self.name(key)), "Invalid hash")),
                })
                .collect(),
            Some(_) => Err(ApiError::invalid_param(self.name(key), format!("Invalid array: {}", self.name(key)))),
        }
    }

    /// An array of strings such as `expand[]`.
    pub fn strings(&self, key: &str) -> ApiResult<Vec<String>> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(ApiError::invalid_param(self.name(key), format!("Invalid array: {}", self.name(key)))),
                })
                .collect(),
            Some(_) => Err(ApiError::invalid_param(self.name(key), format!("Invalid array: {}", self.name(key)))),
        }
    }

    /// The `metadata` hash as an update.
    pub fn metadata(&self, key: &str) -> ApiResult<Option<MetadataUpdate>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(MetadataUpdate::Clear)),
            Some(Value::Object(map)) => {
                let mut changes = BTreeMap::new();
                for (k, v) in map {
                    match v {
                        Value::String(s) if s.is_empty() => changes.insert(k.clone(), None),
                        Value::String(s) => changes.insert(k.clone(), Some(s.clone())),
                        _ => {
                            return Err(ApiError::invalid_param(
                                format!("{}[{k}]", self.name(key)),
                                "Metadata values must be strings.",
                            ))
                        }
                    };
                }
                Ok(Some(MetadataUpdate::Merge(changes)))
            }
            Some(_) => Err(ApiError::invalid_param(self.name(key), "Invalid hash")),
        }
    }

    /// Metadata for a new object: the update applied to an empty map.
    pub fn new_metadata(&self, key: &str) -> ApiResult<BTreeMap<String, String>> {
        let mut metadata = BTreeMap::new();
        if let Some(update) = self.metadata(key)? {
            update.apply(&mut metadata, &self.name(key))?;
        }
        Ok(metadata)
    }

    /// The values of this level as a string map (for free-form hashes like `payload`).
    pub fn string_map(&self) -> BTreeMap<String, String> {
        self.map.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::parse;

    #[test]
    fn typed_getters_and_errors_name_the_param() {
        let v = parse("a=1&b=true&items[0][price]=p&items[0][quantity]=x&metadata[k]=v&metadata[gone]=").unwrap();
        let p = Params::root(&v).unwrap();
        assert_eq!(p.i64("a").unwrap(), Some(1));
        assert_eq!(p.bool("b").unwrap(), Some(true));
        let items = p.list("items").unwrap();
        assert_eq!(items[0].required_str("price").unwrap(), "p");
        let err = items[0].u64("quantity").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("items[0][quantity]"));
        assert_eq!(p.required_str("nope").unwrap_err().message, "Missing required param: nope.");
        assert_eq!(p.allow(&["a", "b", "items"]).unwrap_err().param.as_deref(), Some("metadata"));
        let mut md = BTreeMap::from([("gone".to_string(), "x".to_string())]);
        p.metadata("metadata").unwrap().unwrap().apply(&mut md, "metadata").unwrap();
        assert_eq!(md, BTreeMap::from([("k".to_string(), "v".to_string())]));
    }

    #[test]
    fn one_of_lists_the_choices() {
        let v = parse("mode=x").unwrap();
        let err = Params::root(&v).unwrap().one_of("mode", &["payment", "setup", "subscription"]).unwrap_err();
        assert_eq!(err.message, "Invalid mode: must be one of payment, setup, or subscription");
    }
}
