//! Stripe's request encoding: `application/x-www-form-urlencoded` pairs whose keys use bracket
//! notation for nesting (`metadata[org_id]=x`, `items[0][price]=price_1`, `expand[]=customer`).
//! [`parse`] turns such a string into a nested JSON value whose leaves are all strings; the
//! handlers convert leaves to numbers and booleans themselves, as Stripe does per parameter.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Why a form body or query string could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    /// A key such as `a[b` or `[x]=1` that is not `name([segment])*`.
    #[error("Invalid parameter name: {0}")]
    BadKey(String),
    /// The same key is used both as a value and as a container (`a=1&a[b]=2`), or twice.
    #[error("Invalid parameters: '{0}' is given more than once or with conflicting types")]
    Conflict(String),
    /// Nesting deeper than Stripe's objects ever go.
    #[error("Parameter nesting is too deep: {0}")]
    TooDeep(String),
}

/// Nesting beyond this is certainly a mistake (Stripe's deepest parameters have 4 levels).
const MAX_DEPTH: usize = 8;

/// A parsed but not yet typed tree: maps keep their keys as text until [`Node::into_value`]
/// decides whether a map is really an array (all keys are indexes).
enum Node {
    Leaf(String),
    Map(BTreeMap<String, Node>),
}

/// Parses `a=1&b[c]=2&d[0][e]=3&f[]=4&f[]=5` into
/// `{"a":"1","b":{"c":"2"},"d":[{"e":"3"}],"f":["4","5"]}`.
pub fn parse(input: &str) -> Result<Value, FormError> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for pair in input.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(raw_key);
        let value = decode(raw_value);
        let segments = split_key(&key)?;
        if segments.len() > MAX_DEPTH {
            return Err(FormError::TooDeep(key));
        }
        insert(&mut root, &segments, value, &key)?;
    }
    Ok(Node::Map(root).into_value())
}

/// `a[b][0][]` -> `["a", "b", "0", ""]`; an empty segment means "append".
fn split_key(key: &str) -> Result<Vec<String>, FormError> {
    let bad = || FormError::BadKey(key.to_string());
    let (name, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if name.is_empty() {
        return Err(bad());
    }
    let mut segments = vec![name.to_string()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let close = inner.find(']').ok_or_else(bad)?;
        segments.push(inner[..close].to_string());
        rest = &inner[close + 1..];
    }
    Ok(segments)
}

fn insert(map: &mut BTreeMap<String, Node>, segments: &[String], value: String, key: &str) -> Result<(), FormError> {
    let conflict = || FormError::Conflict(key.to_string());
    let (first, rest) = segments.split_first().ok_or_else(conflict)?;
    // `x[]` appends: its index is the number of elements the array has so far.
    let slot = if first.is_empty() { map.len().to_string() } else { first.clone() };
    if rest.is_empty() {
        if map.contains_key(&slot) {
            return Err(conflict());
        }
        map.insert(slot, Node::Leaf(value));
        return Ok(());
    }
    match map.entry(slot).or_insert_with(|| Node::Map(BTreeMap::new())) {
        Node::Map(child) => insert(child, rest, value, key),
        Node::Leaf(_) => Err(conflict()),
    }
}

impl Node {
    fn into_value(self) -> Value {
        match self {
            Node::Leaf(s) => Value::String(s),
            Node::Map(map) => {
                let indexed: Option<Vec<(usize, &String)>> =
                    map.keys().map(|k| k.parse::<usize>().ok().map(|i| (i, k))).collect();
                match indexed {
                    // Every key is an index: an array, in index order (gaps close up).
                    Some(mut indexes) if !map.is_empty() => {
                        indexes.sort();
                        let order: Vec<String> = indexes.into_iter().map(|(_, k)| k.clone()).collect();
                        let mut map = map;
                        Value::Array(order.iter().filter_map(|k| map.remove(k)).map(Node::into_value).collect())
                    }
                    _ => Value::Object(map.into_iter().map(|(k, v)| (k, v.into_value())).collect::<Map<_, _>>()),
                }
            }
        }
    }
}

/// Percent-decoding with `+` as space (the form encoding). A `%` not followed by two hex
/// digits is kept as it is, and invalid UTF-8 is replaced, as browsers and Stripe do.
fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex_pair(bytes[i + 1], bytes[i + 2]).is_some() => {
                out.extend(hex_pair(bytes[i + 1], bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(hi)? * 16 + digit(lo)?) as u8)
}

/// Encodes a flat list of pairs the way Stripe's clients do (used by tests and the hosted page).
pub fn encode(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))).collect::<Vec<_>>().join("&")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'[' | b']' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_maps_arrays_and_appends() {
        let v = parse("email=a%40b.c&metadata[org_id]=o+1&items[1][price]=p2&items[0][price]=p1&items[0][quantity]=3&expand[]=customer&expand[]=latest_invoice").unwrap();
        assert_eq!(
            v,
            json!({
                "email": "a@b.c",
                "metadata": {"org_id": "o 1"},
                "items": [{"price": "p1", "quantity": "3"}, {"price": "p2"}],
                "expand": ["customer", "latest_invoice"],
            })
        );
    }

    #[test]
    fn empty_values_and_empty_input() {
        assert_eq!(parse("").unwrap(), json!({}));
        assert_eq!(parse("metadata=&a").unwrap(), json!({"metadata": "", "a": ""}));
    }

    #[test]
    fn gaps_close_up_and_non_index_keys_stay_a_map() {
        assert_eq!(parse("a[5]=x&a[2]=y").unwrap(), json!({"a": ["y", "x"]}));
        assert_eq!(parse("a[0]=x&a[b]=y").unwrap(), json!({"a": {"0": "x", "b": "y"}}));
    }

    #[test]
    fn bad_keys_and_conflicts_are_errors() {
        assert!(matches!(parse("a[b=1"), Err(FormError::BadKey(_))));
        assert!(matches!(parse("[a]=1"), Err(FormError::BadKey(_))));
        assert!(matches!(parse("a=1&a[b]=2"), Err(FormError::Conflict(_))));
        assert!(matches!(parse("a[b]=2&a=1"), Err(FormError::Conflict(_))));
        assert!(matches!(parse("a=1&a=2"), Err(FormError::Conflict(_))));
        assert!(matches!(parse("a[1][2][3][4][5][6][7][8]=1"), Err(FormError::TooDeep(_))));
    }

    #[test]
    fn percent_decoding_keeps_stray_percent_signs() {
        assert_eq!(decode("100%25+sure%"), "100% sure%");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%E2%82%AC"), "€");
    }

    #[test]
    fn encode_round_trips() {
        let s = encode(&[("line_items[0][price]", "price_1"), ("success_url", "http://x/ok?id={CHECKOUT_SESSION_ID}")]);
        assert_eq!(
            parse(&s).unwrap(),
            json!({"line_items": [{"price": "price_1"}], "success_url": "http://x/ok?id={CHECKOUT_SESSION_ID}"})
        );
    }
}
