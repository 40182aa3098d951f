//! The text form of the enums that stores keep: one table per enum, beside its serde name.
//!
//! Both adapters store these enums as their snake_case serde name (a SQLite TEXT column, a
//! DynamoDB `S` attribute). The text is written once, in the `stored_enum!` invocation next to
//! the enum, and a unit test per enum checks it against serde, so a renamed variant cannot
//! make the stored form drift from the JSON form.

/// An enum stored as text: its snake_case serde name.
pub trait StoredEnum: Sized + Copy + 'static {
    /// Every variant, in declaration order.
    const ALL: &'static [Self];

    /// The stored text of this variant (equal to its serde name).
    fn as_str(self) -> &'static str;

    /// The variant stored as `text`; None for text no variant has (a corrupt record).
    fn parse(text: &str) -> Option<Self>;
}

/// Implements [`StoredEnum`] from one list of `Variant => "text"` pairs.
///
/// `as_str` is an exhaustive match, so a new variant does not compile until it is listed;
/// `ALL` and `parse` come from the same list.
macro_rules! stored_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $crate::StoredEnum for $ty {
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use stored_enum;

/// Test helper: for every variant of `T`, the stored text is its serde name, both ways, and
/// `parse` inverts `as_str`.
#[cfg(test)]
pub(crate) fn assert_text_is_serde_name<T>()
where
    T: StoredEnum + serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    for &v in T::ALL {
        let text = v.as_str();
        assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::from(text), "{v:?} serialises as {text:?}");
        assert_eq!(serde_json::from_value::<T>(text.into()).unwrap(), v, "{text:?} deserialises as {v:?}");
        assert_eq!(T::parse(text), Some(v), "{text:?} parses back");
    }
    assert_eq!(T::parse("no_such_variant"), None);
}
