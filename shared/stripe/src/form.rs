//! Stripe's parameter encoding: `application/x-www-form-urlencoded` pairs whose keys nest with
//! brackets (`metadata[org_id]=org_1`, `items[0][price]=price_1`, `expand[]=customer`), the
//! same for a POST's body and a GET's query string.

use url::form_urlencoded;

/// The parameters of one request, in the order they were added. Keys are written out whole
/// (`line_items[0][price]`): the few nested parameters we send do not need a serializer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub(crate) fn new() -> Self {
        Form::default()
    }

    /// A parameter; an empty value is sent (it unsets a metadata key at Stripe).
    pub(crate) fn text(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// A parameter if `value` is there.
    pub(crate) fn opt(self, key: impl Into<String>, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.text(key, value),
            None => self,
        }
    }

    /// An integer parameter.
    pub(crate) fn int(self, key: impl Into<String>, value: i64) -> Self {
        self.text(key, value.to_string())
    }

    /// A boolean parameter, as Stripe spells it (`true`/`false`).
    pub(crate) fn bool(self, key: impl Into<String>, value: bool) -> Self {
        self.text(key, if value { "true" } else { "false" })
    }

    /// A map under `name` (`name[key]=value`), such as `metadata`.
    pub(crate) fn map(self, name: &str, pairs: &[(&str, &str)]) -> Self {
        pairs.iter().fold(self, |form, (key, value)| form.text(format!("{name}[{key}]"), *value))
    }

    /// Fields to expand in the answer (`expand[]=customer`).
    pub(crate) fn expand(self, field: &str) -> Self {
        self.text("expand[]", field)
    }

    /// Whether there are no parameters.
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pairs, in order (for tests and logs of keys).
    #[cfg(test)]
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The encoded form: `a=1&metadata%5Bb%5D=x+y` (Stripe decodes the brackets).
    pub(crate) fn encode(&self) -> String {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.pairs {
            serializer.append_pair(key, value);
        }
        serializer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_their_order_and_nest_with_brackets() {
        let form = Form::new()
            .text("email", "ada@example.com")
            .map("metadata", &[("org_id", "org_1"), ("plan_id", "")])
            .text("line_items[0][price]", "price_1")
            .int("line_items[0][quantity]", 1)
            .bool("auto_advance", true)
            .bool("cancel_at_period_end", false)
            .opt("description", None)
            .opt("test_clock", Some("clock_1"))
            .expand("customer");
        let pairs: Vec<(&str, &str)> = form.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("email", "ada@example.com"),
                ("metadata[org_id]", "org_1"),
                ("metadata[plan_id]", ""),
                ("line_items[0][price]", "price_1"),
                ("line_items[0][quantity]", "1"),
                ("auto_advance", "true"),
                ("cancel_at_period_end", "false"),
                ("test_clock", "clock_1"),
                ("expand[]", "customer"),
            ]
        );
    }

    #[test]
    fn keys_and_values_are_percent_encoded() {
        let form = Form::new()
            .text("metadata[org_id]", "a b&c=d")
            .text("success_url", "https://x.test/b?done=1")
            .text("name", "Zoë")
            .expand("customer");
        assert_eq!(
            form.encode(),
            "metadata%5Borg_id%5D=a+b%26c%3Dd&success_url=https%3A%2F%2Fx.test%2Fb%3Fdone%3D1&name=Zo%C3%AB\
             &expand%5B%5D=customer"
        );
        // What a server decodes is what was given.
        let decoded: Vec<(String, String)> =
            form_urlencoded::parse(form.encode().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(decoded, form.pairs());
        assert_eq!(Form::new().encode(), "");
        assert!(Form::new().is_empty());
    }
}
