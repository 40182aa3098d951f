//! Two-factor authentication: TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), the
//! `otpauth://` URI authenticator apps scan, base32 (RFC 4648, no padding) for the secret,
//! and one-time recovery codes.
//!
//! Replay protection lives in the store: an enrolment keeps the last step a code was accepted
//! for, and a code is accepted only for a later step (`MfaRepository::use_totp_step`).

use crate::{Id, TokenHash};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

/// Seconds per TOTP step (RFC 6238's default, what every authenticator app assumes).
pub const TOTP_PERIOD_SECONDS: i64 = 30;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: u32 = 6;
/// Bytes of a new secret: 160 bits, the length of an HMAC-SHA1 key RFC 4226 recommends.
pub const TOTP_SECRET_BYTES: usize = 20;
/// Steps either side of the current one a code may be for (clock skew between the phone and
/// the server).
pub const TOTP_SKEW_STEPS: u64 = 1;
/// How many recovery codes a confirmed enrolment gets.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// The issuer shown by authenticator apps.
pub const TOTP_ISSUER: &str = "tollgate";

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 (RFC 4648 alphabet) without padding, as authenticator apps expect secrets.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32_ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32 (RFC 4648 alphabet), any case, with or without `=` padding. None for any
/// other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = BASE32_ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

/// The HOTP value (RFC 4226) of `key` for `counter`, as a number of `digits` digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks 4 bytes, top bit cleared.
    let offset = usize::from(digest[19] & 0x0f);
    let value =
        u32::from_be_bytes([digest[offset], digest[offset + 1], digest[offset + 2], digest[offset + 3]]) & 0x7fff_ffff;
    value % 10u32.pow(digits)
}

/// The TOTP step of a time: whole periods since the Unix epoch.
pub fn totp_step(at: DateTime<Utc>) -> u64 {
    at.timestamp().div_euclid(TOTP_PERIOD_SECONDS).max(0) as u64
}

/// The 6-digit code of `key` at `at`, zero-padded (what an authenticator app shows).
pub fn totp_code(key: &[u8], at: DateTime<Utc>) -> String {
    format_code(hotp(key, totp_step(at), TOTP_DIGITS))
}

fn format_code(value: u32) -> String {
    format!("{value:0width$}", width = TOTP_DIGITS as usize)
}

/// The step `code` is valid for at `now` (the current step, the one before or the one after),
/// if any, and only a step after `last_used_step`: a code already accepted, or one for an
/// earlier step than an accepted one, is refused. The caller still has to record the step
/// with the store's conditional write, which is what makes a replay fail under concurrency.
/// Spaces in the code are ignored (apps show `123 456`).
pub fn verify_totp(key: &[u8], code: &str, now: DateTime<Utc>, last_used_step: Option<u64>) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = totp_step(now);
    let first = current.saturating_sub(TOTP_SKEW_STEPS);
    (first..=current + TOTP_SKEW_STEPS)
        .filter(|step| last_used_step.is_none_or(|last| *step > last))
        // Compare every candidate (no early exit) so the time does not tell which step matched.
        .fold(None, |found, step| {
            let matches = constant_time_eq(format_code(hotp(key, step, TOTP_DIGITS)).as_bytes(), code.as_bytes());
            found.or(matches.then_some(step))
        })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new TOTP secret: 20 bytes from the operating system's CSPRNG, base32-encoded.
pub fn generate_totp_secret() -> String {
    let mut bytes = [0u8; TOTP_SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base32_encode(&bytes)
}

/// The `otpauth://` URI of a secret, for a QR code or to paste into an authenticator app.
pub fn otpauth_uri(account: &str, secret: &str) -> String {
    // The secret is base32 and the other parameters constants: only the label needs encoding.
    format!(
        "otpauth://totp/{}?secret={secret}&issuer={TOTP_ISSUER}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_PERIOD_SECONDS}",
        percent_encode_label(&format!("{TOTP_ISSUER}:{account}"))
    )
}

/// Percent-encodes what a path segment may not hold as is (the `:` between issuer and account
/// and the `@` of the email stay, as Google's Key URI format shows them).
fn percent_encode_label(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'@' | b'+' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// New recovery codes: [`RECOVERY_CODE_COUNT`] codes of 10 base32 characters (50 random bits
/// each, from the OS CSPRNG), shown as `XXXXX-XXXXX`.
pub fn generate_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0u8; 7];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let text = base32_encode(&bytes);
            format!("{}-{}", &text[..5], &text[5..10])
        })
        .collect()
}

/// The stored form of a recovery code: the SHA-256 of its normalised text (upper case, no
/// dashes or spaces), so `abcde fghij` and `ABCDE-FGHIJ` are the same code.
pub fn recovery_code_hash(code: &str) -> TokenHash {
    let normalised: String =
        code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    TokenHash::of(&normalised)
}

/// Whether `code` looks like a recovery code rather than a TOTP code (so the caller knows
/// which check to make).
pub fn is_recovery_code_shaped(code: &str) -> bool {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').count() == 10
}

/// A user's TOTP enrolment.
///
/// The secret is stored as is, unlike passwords and recovery codes: verifying a code needs
/// the secret itself, so it cannot be hashed. It is protected by the store's encryption at
/// rest, never logged and never shown again after enrolment.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaEnrollment {
    pub user_id: Id,
    /// The base32 secret shared with the authenticator app.
    pub secret: String,
    pub created_at: DateTime<Utc>,
    /// None until the first valid code confirms it; only a confirmed enrolment is required
    /// at login.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last TOTP step a code was accepted for: codes of it and earlier steps are refused.
    pub last_used_step: Option<u64>,
}

impl MfaEnrollment {
    /// A new, unconfirmed enrolment with a fresh secret.
    pub fn new(user_id: &Id, now: DateTime<Utc>) -> Self {
        MfaEnrollment {
            user_id: user_id.clone(),
            secret: generate_totp_secret(),
            created_at: now,
            confirmed_at: None,
            last_used_step: None,
        }
    }

    /// Whether a code confirmed the enrolment.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }

    /// The step `code` is valid for at `now`, after the last used one (see [`verify_totp`]).
    pub fn verify(&self, code: &str, now: DateTime<Utc>) -> Option<u64> {
        let key = base32_decode(&self.secret)?;
        verify_totp(&key, code, now, self.last_used_step)
    }
}

/// Debug without the secret: enrolments end up in test failures and error messages.
impl std::fmt::Debug for MfaEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaEnrollment")
            .field("user_id", &self.user_id)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    /// RFC 6238 appendix B, SHA-1 rows (8 digits; the key is the ASCII of "1234567890" twice).
    #[test]
    fn rfc6238_test_vectors() {
        let key = b"12345678901234567890";
        for (time, expected) in [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(key, totp_step(at(time)), 8), expected, "T = {time}");
        }
        // The 6-digit code is the last six digits, zero-padded.
        assert_eq!(totp_code(key, at(1111111109)), "081804");
    }

    /// RFC 4226 appendix D.
    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, value) in expected.into_iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), value);
        }
    }

    /// RFC 4648 section 10, without padding.
    #[test]
    fn base32_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(base32_decode(&encoded.to_lowercase()).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("MZXW6YQ=").unwrap(), b"foob");
        assert_eq!(base32_decode("MZ1"), None, "1 is not in the alphabet");
    }

    #[test]
    fn base32_round_trips_random_secrets() {
        for _ in 0..50 {
            let secret = generate_totp_secret();
            assert_eq!(secret.len(), 32, "20 bytes are 32 characters");
            let bytes = base32_decode(&secret).unwrap();
            assert_eq!(bytes.len(), TOTP_SECRET_BYTES);
            assert_eq!(base32_encode(&bytes), secret);
        }
    }

    #[test]
    fn verify_accepts_one_step_of_skew_and_refuses_replays() {
        let key = b"12345678901234567890";
        let now = at(1_700_000_000);
        let step = totp_step(now);
        let code = |s: u64| format_code(hotp(key, s, TOTP_DIGITS));
        assert_eq!(verify_totp(key, &code(step), now, None), Some(step));
        assert_eq!(verify_totp(key, &code(step - 1), now, None), Some(step - 1));
        assert_eq!(verify_totp(key, &code(step + 1), now, None), Some(step + 1));
        assert_eq!(verify_totp(key, &code(step - 2), now, None), None, "too old");
        assert_eq!(verify_totp(key, &code(step + 2), now, None), None, "too far ahead");
        assert_eq!(verify_totp(key, &code(step), now, Some(step)), None, "the same step again");
        assert_eq!(verify_totp(key, &code(step - 1), now, Some(step)), None, "an earlier step");
        assert_eq!(verify_totp(key, &code(step + 1), now, Some(step)), Some(step + 1));
        let spaced = format!("{} {}", &code(step)[..3], &code(step)[3..]);
        assert_eq!(verify_totp(key, &spaced, now, None), Some(step));
        assert_eq!(verify_totp(key, "12345", now, None), None);
        assert_eq!(verify_totp(key, "abcdef", now, None), None);
    }

    #[test]
    fn otpauth_uri_has_every_parameter() {
        let uri = otpauth_uri("ada@example.com", "JBSWY3DPEHPK3PXP");
        assert_eq!(
            uri,
            "otpauth://totp/tollgate:ada@example.com?secret=JBSWY3DPEHPK3PXP&issuer=tollgate&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_are_grouped_distinct_and_normalised() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert!(is_recovery_code_shaped(code));
        }
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
        assert_eq!(recovery_code_hash("abcde fghij"), recovery_code_hash("ABCDE-FGHIJ"));
        assert!(!is_recovery_code_shaped("123456"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let e = MfaEnrollment::new(&Id::from_string("usr_x"), at(0));
        assert!(!format!("{e:?}").contains(&e.secret));
    }
}
