//! Item (de)serialisation helpers: one place that knows how values are encoded.
//!
//! Encoding rules (see docs/dynamodb.md):
//! - strings and ids as `S`; enums as `S` of their `StoredEnum` text (the serde name);
//!   booleans as `BOOL`; counters as `N`;
//! - times as RFC 3339 UTC with nine fractional digits (`2026-01-02T03:04:05.123456789Z`):
//!   fixed width, so string order is time order and condition expressions can compare them,
//!   and a `DateTime<Utc>` round-trips exactly;
//! - the TTL attribute `ttl` as `N` epoch seconds (what DynamoDB's TTL requires).
//!
//! Readers return `StoreError::Corrupt` naming the record and the attribute when an attribute
//! is missing or has the wrong type, never panic.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;
use tollgate_domain::{Id, StoreError};

/// One DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) const PK: &str = "PK";
pub(crate) const SK: &str = "SK";
pub(crate) const GSI1: &str = "GSI1";
pub(crate) const GSI1PK: &str = "GSI1PK";
pub(crate) const GSI1SK: &str = "GSI1SK";
pub(crate) const TTL: &str = "ttl";

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Sortable, exact text form of a time.
pub(crate) fn time_str(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn time(t: DateTime<Utc>) -> AttributeValue {
    s(time_str(t))
}

/// Value of the `ttl` attribute for an item that may be dropped after `t`.
pub(crate) fn ttl(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp().max(0))
}

/// The primary key of an item, for GetItem / UpdateItem / DeleteItem.
pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// Builds an item attribute by attribute; `None` options are simply left out.
pub(crate) struct ItemBuilder(Item);

impl ItemBuilder {
    pub(crate) fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        ItemBuilder(key(pk, sk))
    }
    pub(crate) fn attr(mut self, name: &str, v: AttributeValue) -> Self {
        self.0.insert(name.to_string(), v);
        self
    }
    pub(crate) fn s(self, name: &str, v: impl Into<String>) -> Self {
        self.attr(name, s(v))
    }
    pub(crate) fn opt_s(self, name: &str, v: Option<impl Into<String>>) -> Self {
        match v {
            Some(v) => self.s(name, v),
            None => self,
        }
    }
    pub(crate) fn time(self, name: &str, t: DateTime<Utc>) -> Self {
        self.attr(name, time(t))
    }
    pub(crate) fn opt_time(self, name: &str, t: Option<DateTime<Utc>>) -> Self {
        match t {
            Some(t) => self.time(name, t),
            None => self,
        }
    }
    pub(crate) fn bool(self, name: &str, v: bool) -> Self {
        self.attr(name, AttributeValue::Bool(v))
    }
    pub(crate) fn n(self, name: &str, v: impl ToString) -> Self {
        self.attr(name, n(v))
    }
    pub(crate) fn ttl(self, t: DateTime<Utc>) -> Self {
        self.attr(TTL, ttl(t))
    }
    /// Adds the GSI1 keys.
    pub(crate) fn gsi1(self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.s(GSI1PK, pk).s(GSI1SK, sk)
    }
    pub(crate) fn build(self) -> Item {
        self.0
    }
}

/// Typed access to an item's attributes; `what` names the record in error messages.
pub(crate) struct Reader<'a> {
    item: &'a Item,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(item: &'a Item, what: &'static str) -> Self {
        Reader { item, what }
    }

    fn corrupt(&self, name: &str, problem: &str) -> StoreError {
        StoreError::Corrupt(format!("{} item: attribute `{name}` {problem}", self.what))
    }

    pub(crate) fn opt_s(&self, name: &str) -> Result<Option<&'a str>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(self.corrupt(name, "is not a string")),
        }
    }
    pub(crate) fn s(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_s(name)?.ok_or_else(|| self.corrupt(name, "is missing"))
    }
    pub(crate) fn string(&self, name: &str) -> Result<String, StoreError> {
        self.s(name).map(str::to_string)
    }
    pub(crate) fn opt_string(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.opt_s(name)?.map(str::to_string))
    }
    pub(crate) fn id(&self, name: &str) -> Result<Id, StoreError> {
        self.s(name).map(Id::from_string)
    }
    pub(crate) fn opt_id(&self, name: &str) -> Result<Option<Id>, StoreError> {
        Ok(self.opt_s(name)?.map(Id::from_string))
    }
    pub(crate) fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_s(name)?
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| self.corrupt(name, &format!("is not an RFC 3339 time ({e})")))
            })
            .transpose()
    }
    pub(crate) fn time(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(name)?.ok_or_else(|| self.corrupt(name, "is missing"))
    }
    pub(crate) fn bool(&self, name: &str) -> Result<bool, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::Bool(v)) => Ok(*v),
            Some(_) => Err(self.corrupt(name, "is not a boolean")),
            None => Err(self.corrupt(name, "is missing")),
        }
    }
    /// A number attribute; missing counts as 0 (counters that were never incremented).
    pub(crate) fn u64_or_zero(&self, name: &str) -> Result<u64, StoreError> {
        match self.item.get(name) {
            None => Ok(0),
            Some(AttributeValue::N(v)) => v.parse().map_err(|_| self.corrupt(name, "is not a non-negative integer")),
            Some(_) => Err(self.corrupt(name, "is not a number")),
        }
    }
    /// An optional number attribute of any integer type (absent or NULL is None).
    pub(crate) fn opt_num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => {
                v.parse().map(Some).map_err(|_| self.corrupt(name, &format!("is not a {}", std::any::type_name::<T>())))
            }
            Some(_) => Err(self.corrupt(name, "is not a number")),
        }
    }
    /// A required number attribute of any integer type.
    pub(crate) fn num<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.opt_num(name)?.ok_or_else(|| self.corrupt(name, "is missing"))
    }
    /// A string attribute holding JSON (small nested records); absent is None.
    pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.opt_s(name)?
            .map(|v| {
                serde_json::from_str(v).map_err(|e| self.corrupt(name, &format!("is not the expected JSON ({e})")))
            })
            .transpose()
    }
    /// Decodes a string attribute with `parse`, reporting unknown values as corrupt.
    pub(crate) fn parsed<T>(&self, name: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, StoreError> {
        let v = self.s(name)?;
        parse(v).ok_or_else(|| self.corrupt(name, &format!("has unknown value {v:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_round_trip_exactly_and_sort_as_strings() {
        let a = Utc.timestamp_opt(1_700_000_000, 5).unwrap();
        let b = Utc.timestamp_opt(1_700_000_000, 123_000_000).unwrap();
        let item = ItemBuilder::new("p", "s").time("a", a).time("b", b).build();
        let r = Reader::new(&item, "test");
        assert_eq!(r.time("a").unwrap(), a);
        assert_eq!(r.time("b").unwrap(), b);
        assert!(time_str(a) < time_str(b));
        assert_eq!(time_str(a).len(), time_str(b).len());
    }

    #[test]
    fn missing_and_mistyped_attributes_are_corrupt() {
        let item = ItemBuilder::new("p", "s").n("num", 3).s("bad_time", "yesterday").build();
        let r = Reader::new(&item, "test");
        assert!(matches!(r.s("nope"), Err(StoreError::Corrupt(m)) if m.contains("`nope` is missing")));
        assert!(matches!(r.s("num"), Err(StoreError::Corrupt(_))));
        assert!(matches!(r.time("bad_time"), Err(StoreError::Corrupt(_))));
        assert!(matches!(r.bool("num"), Err(StoreError::Corrupt(_))));
        assert_eq!(r.u64_or_zero("num").unwrap(), 3);
        assert_eq!(r.u64_or_zero("absent").unwrap(), 0);
        assert_eq!(r.opt_s("absent").unwrap(), None);
        assert!(matches!(r.parsed("PK", |_| None::<u8>), Err(StoreError::Corrupt(m)) if m.contains("unknown value")));
    }
}
