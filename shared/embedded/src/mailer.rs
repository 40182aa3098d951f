//! `OutboxMailer`: outgoing mail as JSON files in a folder, for local runs and tests.

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use tollgate_domain::{MailMessage, Mailer, PortError};

/// The `Mailer` port for the single-process server: each message becomes the pretty JSON file
/// `<dir>/<created_at unix millis>-<id>.json`, where a developer (or a test) can read it.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    /// An outbox in `dir`; the folder is created on the first message.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        OutboxMailer { dir: dir.into() }
    }

    /// The outbox folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every message in the outbox `dir`, oldest first. A missing folder is an empty outbox;
    /// files that are not messages (or do not decode) are skipped with a warning.
    pub fn read_all(dir: impl AsRef<Path>) -> Vec<MailMessage> {
        let dir = dir.as_ref();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut messages: Vec<(MailMessage, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| {
                let decoded = std::fs::read(&p)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| serde_json::from_slice::<MailMessage>(&bytes).map_err(|e| e.to_string()));
                match decoded {
                    Ok(m) => Some((m, p)),
                    Err(error) => {
                        tracing::warn!(path = %p.display(), %error, "skipping unreadable outbox file");
                        None
                    }
                }
            })
            .collect();
        messages.sort_by(|(a, pa), (b, pb)| a.created_at.cmp(&b.created_at).then_with(|| pa.cmp(pb)));
        messages.into_iter().map(|(m, _)| m).collect()
    }

    fn file_name(message: &MailMessage) -> String {
        // Ids are opaque: keep only characters that are safe in a file name.
        let id: String = message
            .id
            .as_str()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
            .collect();
        format!("{}-{id}.json", message.created_at.timestamp_millis())
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    // The message body may hold a one-time link: only the kind and id go into the span.
    #[tracing::instrument(skip_all, fields(mail_id = %message.id, kind = %message.kind), err)]
    async fn send(&self, message: &MailMessage) -> Result<(), PortError> {
        let json = serde_json::to_vec_pretty(message).map_err(|e| PortError::with_source("cannot encode mail", e))?;
        let path = self.dir.join(Self::file_name(message));
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> Result<(), PortError> {
            std::fs::create_dir_all(&dir)
                .map_err(|e| PortError::with_source(format!("cannot create outbox {}", dir.display()), e))?;
            // Write then rename, so a reader never sees half a message.
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, &json)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| PortError::with_source(format!("cannot write {}", path.display()), e))
        })
        .await
        .map_err(|e| PortError::with_source("outbox task failed", e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use tollgate_domain::{Email, Id};

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tollgate-embedded-{tag}-{}", Id::generate("t")));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn message(kind: &str, at: chrono::DateTime<Utc>) -> MailMessage {
        MailMessage {
            id: Id::generate("mail"),
            to: Email::parse("Ada@Example.com").unwrap(),
            subject: format!("subject {kind}"),
            text_body: "hello\nworld".into(),
            html_body: None,
            kind: kind.into(),
            created_at: at,
        }
    }

    #[tokio::test]
    async fn writes_json_files_and_reads_them_back_oldest_first() {
        let dir = temp_dir("outbox").join("nested");
        let mailer = OutboxMailer::new(&dir);
        assert!(OutboxMailer::read_all(&dir).is_empty(), "a missing outbox is empty");

        let t0 = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let later = message("reset_password", t0 + Duration::seconds(5));
        let earlier = message("verify_email", t0);
        mailer.send(&later).await.unwrap();
        mailer.send(&earlier).await.unwrap();

        let file = dir.join(format!("1700000000123-{}.json", earlier.id));
        let text = std::fs::read_to_string(&file).expect("file named <millis>-<id>.json");
        assert!(text.contains("\n  \"subject\""), "pretty JSON: {text}");

        std::fs::write(dir.join("notes.txt"), "not mail").unwrap();
        std::fs::write(dir.join("broken.json"), "{").unwrap();
        let all = OutboxMailer::read_all(&dir);
        assert_eq!(all, vec![earlier, later]);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}
