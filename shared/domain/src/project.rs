//! Projects: an organization's API keys grouped by the application they serve, each with its
//! own usage analytics and, for servers that verify keys themselves, a verify secret.
//!
//! Every organization has a default project (`Project::default_id`): keys created without a
//! project, and every key from before projects existed, belong to it. It is created when
//! first needed, so stores need no migration of existing keys, and it cannot be deleted.

use crate::id::random_base62;
use crate::text::{optional_text, required_text, DESCRIPTION_MAX, NAME_MAX};
use crate::{DomainError, Id, TokenHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Name of a default project until its owner renames it.
pub const DEFAULT_PROJECT_NAME: &str = "Default project";

/// A project of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: Id,
    pub org_id: Id,
    pub name: String,
    pub description: Option<String>,
    /// SHA-256 of the project's verify secret (`pvs_...`, see [`NewVerifySecret`]), once one
    /// was issued: it authenticates `POST /api/v1/verify` for this project's keys.
    pub verify_secret_hash: Option<TokenHash>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Project {
    /// The id of `org_id`'s default project, derived from the organization's id so that every
    /// store and every instance agrees on it without a lookup (`org_X` -> `prj_X`).
    pub fn default_id(org_id: &Id) -> Id {
        let suffix = org_id.as_str().strip_prefix("org_").unwrap_or(org_id.as_str());
        let suffix: String = suffix.chars().filter(char::is_ascii_alphanumeric).collect();
        Id::from_string(format!("{}_{suffix}", crate::id::prefix::PROJECT))
    }

    /// The default project of `org_id`, as first stored.
    pub fn default_for(org_id: &Id, now: DateTime<Utc>) -> Project {
        Project {
            id: Project::default_id(org_id),
            org_id: org_id.clone(),
            name: DEFAULT_PROJECT_NAME.into(),
            description: None,
            verify_secret_hash: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// `raw` as a project id, if it can be one: checked before any I/O.
    pub fn parse_id(raw: &str) -> Option<Id> {
        Id::is_plausible(raw, crate::id::prefix::PROJECT).then(|| Id::from_string(raw))
    }

    /// Whether this is its organization's default project.
    pub fn is_default(&self) -> bool {
        self.id == Project::default_id(&self.org_id)
    }

    /// A new project of `org_id`; `InvalidField` for a blank or too long name or description.
    pub fn new(org_id: &Id, name: &str, description: Option<&str>, now: DateTime<Utc>) -> Result<Project, DomainError> {
        Ok(Project {
            id: Id::generate(crate::id::prefix::PROJECT),
            org_id: org_id.clone(),
            name: required_text("name", name, NAME_MAX)?,
            description: optional_text("description", description, DESCRIPTION_MAX)?,
            verify_secret_hash: None,
            created_at: now,
            updated_at: now,
        })
    }
}

/// Prefix of a project's verify secret.
pub const VERIFY_SECRET_PREFIX: &str = "pvs_";

/// A fresh verify secret: shown to the project's owner once; only its hash is stored.
pub struct NewVerifySecret {
    /// `pvs_` and 40 base62 characters (about 238 bits). Never stored, never logged.
    pub plaintext: String,
    pub hash: TokenHash,
}

impl std::fmt::Debug for NewVerifySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewVerifySecret(..)")
    }
}

impl NewVerifySecret {
    pub fn generate() -> Self {
        let plaintext = format!("{VERIFY_SECRET_PREFIX}{}", random_base62(40));
        NewVerifySecret { hash: TokenHash::of(&plaintext), plaintext }
    }

    /// Whether `raw` has the shape of a verify secret (checked before any I/O).
    pub fn is_well_formed(raw: &str) -> bool {
        raw.strip_prefix(VERIFY_SECRET_PREFIX)
            .is_some_and(|r| r.len() == 40 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_project_id_follows_from_the_organization() {
        let org = Id::generate("org");
        let id = Project::default_id(&org);
        assert!(Id::is_plausible(id.as_str(), "prj"), "{id}");
        assert_eq!(id.as_str()[4..], org.as_str()[4..]);
        assert!(Project::default_for(&org, Utc::now()).is_default());
        assert!(!Project::new(&org, "Mobile app", None, Utc::now()).unwrap().is_default());
        assert_ne!(Project::default_id(&Id::generate("org")), id);
        assert_eq!(Project::parse_id(id.as_str()), Some(id.clone()));
        assert_eq!(Project::parse_id(&format!(" {id}")), None);
        assert_eq!(Project::parse_id("key_abc"), None);
    }

    #[test]
    fn names_are_required() {
        let org = Id::generate("org");
        assert!(Project::new(&org, "  ", None, Utc::now()).is_err());
        assert!(Project::new(&org, &"x".repeat(NAME_MAX + 1), None, Utc::now()).is_err());
        let p = Project::new(&org, " Web ", Some(" "), Utc::now()).unwrap();
        assert_eq!((p.name.as_str(), p.description), ("Web", None));
    }

    #[test]
    fn verify_secrets() {
        let s = NewVerifySecret::generate();
        assert!(NewVerifySecret::is_well_formed(&s.plaintext));
        assert_eq!(s.hash, TokenHash::of(&s.plaintext));
        assert!(!NewVerifySecret::is_well_formed("pvs_short"));
        assert!(!format!("{s:?}").contains(&s.plaintext));
    }
}
