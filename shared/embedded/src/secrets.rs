//! `LocalSecrets`: named secrets from the environment or the data directory.

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tollgate_domain::{PortError, Secrets};

/// Length of a generated secret: 64 base62 characters, about 381 bits.
const GENERATED_LEN: usize = 64;

/// The `Secrets` port for the single-process server.
///
/// `get(name)` looks in order at:
/// 1. the environment variable named `name` upper-cased, with `-` turned into `_`
///    (`jwt_signing_key` -> `JWT_SIGNING_KEY`); an empty value counts as unset;
/// 2. the file `<data_dir>/secrets/<name>` (surrounding whitespace ignored);
/// 3. otherwise it generates 64 random base62 characters, writes them to that file (mode
///    0600 on Unix) and returns them, so the value survives restarts.
///
/// Names are limited to ASCII letters, digits, `_` and `-`, so they cannot escape the folder.
/// Values are never logged.
#[derive(Clone)]
pub struct LocalSecrets {
    dir: PathBuf,
    /// Serialises generation in this process so two callers never get different values.
    generate_lock: Arc<Mutex<()>>,
    /// Reads an environment variable (replaceable in tests: changing the real environment
    /// while other test threads read it is not thread-safe).
    env: Arc<EnvReader>,
}

/// Reads one environment variable.
type EnvReader = dyn Fn(&str) -> Option<String> + Send + Sync;

impl std::fmt::Debug for LocalSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSecrets").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl LocalSecrets {
    /// Secrets of the data directory `data_dir` (files live in `<data_dir>/secrets/`).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self::with_env(data_dir, |name| std::env::var(name).ok())
    }

    fn with_env(data_dir: impl Into<PathBuf>, env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        LocalSecrets {
            dir: data_dir.into().join("secrets"),
            generate_lock: Arc::new(Mutex::new(())),
            env: Arc::new(env),
        }
    }

    /// The folder holding the secret files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The environment variable consulted for `name`.
    pub fn env_var_name(name: &str) -> String {
        name.to_ascii_uppercase().replace('-', "_")
    }

    fn read_file(path: &Path) -> Result<Option<String>, PortError> {
        match std::fs::read_to_string(path) {
            Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PortError::with_source(format!("cannot read secret file {}", path.display()), e)),
        }
    }

    /// Reads the file or creates it. The new value is written to a private temporary file and
    /// hard-linked into place, which fails if the file appeared meanwhile (another process):
    /// then that process's value wins and is returned, so every reader agrees on one value.
    fn read_or_create(&self, name: &str) -> Result<String, PortError> {
        let _guard = self.generate_lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.dir.join(name);
        if let Some(v) = Self::read_file(&path)? {
            return Ok(v);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| PortError::with_source(format!("cannot create {}", self.dir.display()), e))?;
        let value = tollgate_domain::id::random_base62(GENERATED_LEN);
        let tmp = self.dir.join(format!(".{name}.{}.tmp", tollgate_domain::id::random_base62(12)));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(value.as_bytes())?;
            f.sync_all()
        };
        let placed = write().and_then(|()| {
            // An empty file left by someone counts as missing: replace it.
            if path.exists() && Self::read_file(&path).ok().flatten().is_none() {
                std::fs::rename(&tmp, &path)
            } else {
                std::fs::hard_link(&tmp, &path)
            }
        });
        let _ = std::fs::remove_file(&tmp);
        match placed {
            Ok(()) => {
                tracing::info!(secret = name, path = %path.display(), "generated a new secret");
                Ok(value)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::read_file(&path)?
                .ok_or_else(|| PortError::new(format!("secret file {} is empty", path.display()))),
            Err(e) => Err(PortError::with_source(format!("cannot write secret file {}", path.display()), e)),
        }
    }
}

#[async_trait]
impl Secrets for LocalSecrets {
    #[tracing::instrument(skip(self), err)]
    async fn get(&self, name: &str) -> Result<String, PortError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(PortError::new(format!("invalid secret name {name:?}")));
        }
        if let Some(v) = (self.env)(&Self::env_var_name(name)).filter(|v| !v.is_empty()) {
            return Ok(v);
        }
        let this = self.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || this.read_or_create(&name))
            .await
            .map_err(|e| PortError::with_source("secrets task failed", e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_domain::Id;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("tollgate-embedded-secrets-{}", Id::generate("t")))
    }

    #[tokio::test]
    async fn generates_once_persists_and_reuses() {
        let data = temp_dir();
        let secrets = LocalSecrets::with_env(&data, |_| None);
        let name = format!("test_{}", tollgate_domain::id::random_base62(10).to_lowercase());
        let first = secrets.get(&name).await.unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(secrets.get(&name).await.unwrap(), first, "same value on the second call");
        assert_eq!(LocalSecrets::with_env(&data, |_| None).get(&name).await.unwrap(), first, "survives a restart");

        let file = data.join("secrets").join(&name);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "secret files are private");
        }
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[tokio::test]
    async fn concurrent_first_reads_agree() {
        let data = temp_dir();
        let secrets = LocalSecrets::with_env(&data, |_| None);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let s = secrets.clone();
                tokio::spawn(async move { s.get("shared-secret").await.unwrap() })
            })
            .collect();
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        values.dedup();
        assert_eq!(values.len(), 1, "every caller sees the same generated value");
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[tokio::test]
    async fn file_then_environment_take_precedence() {
        let data = temp_dir();
        let fake_env = |var: &str| match var {
            "JWT_SIGNING_KEY" => Some("from-env".to_string()),
            "EMPTY_ONE" => Some(String::new()),
            _ => None,
        };
        let secrets = LocalSecrets::with_env(&data, fake_env);
        std::fs::create_dir_all(secrets.dir()).unwrap();
        std::fs::write(secrets.dir().join("empty_one"), "from-file\n").unwrap();
        std::fs::write(secrets.dir().join("jwt_signing_key"), "ignored").unwrap();
        assert_eq!(
            secrets.get("empty_one").await.unwrap(),
            "from-file",
            "an empty variable is unset; the file is trimmed"
        );
        assert_eq!(secrets.get("jwt_signing_key").await.unwrap(), "from-env", "the environment wins");
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[tokio::test]
    async fn rejects_names_that_could_escape_the_folder() {
        let secrets = LocalSecrets::with_env(temp_dir(), |_| None);
        for bad in ["", "../etc/passwd", "a/b", "a.b", "a b"] {
            assert!(secrets.get(bad).await.is_err(), "{bad:?} accepted");
        }
        assert_eq!(LocalSecrets::env_var_name("stripe-api-key"), "STRIPE_API_KEY");
    }
}
