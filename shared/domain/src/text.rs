//! Human-entered text fields (names, descriptions): trimmed, bounded, no control characters.

use crate::DomainError;

/// Longest name (of a person, key, plan or endpoint), in characters.
pub const NAME_MAX: usize = 100;
/// Longest company name.
pub const COMPANY_MAX: usize = 200;
/// Longest description (of a plan or endpoint).
pub const DESCRIPTION_MAX: usize = 500;

/// Trimmed, 1..=`max` characters, no control characters; else `InvalidField(field)`.
pub fn required_text(field: &'static str, value: &str, max: usize) -> Result<String, DomainError> {
    let invalid = |reason: String| DomainError::InvalidField { field, reason };
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid("must not be empty".into()));
    }
    if v.chars().count() > max {
        return Err(invalid(format!("must be at most {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid("must not contain control characters".into()));
    }
    Ok(v.to_string())
}

/// Like [`required_text`] for an optional field; absent or empty is `None`.
pub fn optional_text(field: &'static str, value: Option<&str>, max: usize) -> Result<Option<String>, DomainError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => required_text(field, v, max).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields() {
        assert_eq!(required_text("name", "  Ada ", 10).unwrap(), "Ada");
        assert!(required_text("name", "   ", 10).is_err());
        assert!(required_text("name", "abcdefghijk", 10).is_err());
        assert!(required_text("name", "a\u{7}b", 10).is_err());
        assert_eq!(optional_text("company", Some(" "), 10).unwrap(), None);
        assert_eq!(optional_text("company", None, 10).unwrap(), None);
    }
}
