//! A key ring: the HMAC key of one Secrets Manager secret, and during a rotation the key before
//! it. The current key signs (mints, tags); the previous key only verifies, so a rotation
//! invalidates nothing that was signed just before it.
//!
//! Three secrets hold one key ring each (`PORTCULLIS_MINT_SECRET_ID`, `PORTCULLIS_TAG_SECRET_ID`,
//! `PORTCULLIS_ACCESS_TAG_SECRET_ID`; docs/operating.md, "Rotating the token keys"), each a JSON
//! object `{"key": "...", "previous_key": "..."}` read by [`KeyRing::from_secret_json`] and
//! cached by a [`crate::keys::KeyCache`].
use crate::clock::Entropy;
use crate::error::KeyError;
use crate::keys::MIN_KEY_BYTES;
use crate::secret::Key;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::fmt;

/// The fields a key ring's secret may have.
const FIELDS: &[&str] = &["key", "previous_key"];

/// Random bytes in a generated key: 384 bits, 64 base64url characters (the length CloudFormation
/// generates for the template's secrets).
const GENERATED_KEY_BYTES: usize = 48;

/// One secret's keys: the current one, which signs, and the previous one, which still verifies.
///
/// No `PartialEq`, and `Debug` shows no key material.
#[derive(Clone)]
pub struct KeyRing {
    current: Key,
    previous: Option<Key>,
}

impl KeyRing {
    pub fn new(current: Key, previous: Option<Key>) -> Self {
        Self { current, previous }
    }

    /// Parses the secret's JSON: `key` (required) and, during a rotation, `previous_key`
    /// (optional), each at least [`MIN_KEY_BYTES`] characters and used as its UTF-8 bytes. Any
    /// other field is refused by name: a misspelt `previous_key` would otherwise be dropped
    /// silently, and everything signed with it refused. No message repeats a value.
    pub fn from_secret_json(raw: &str) -> Result<Self, KeyError> {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw)
            .map_err(|_| KeyError::Malformed("the secret is not a JSON object".into()))?;
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(KeyError::Malformed(format!(
                "unknown field `{unknown}`: a key ring has only `key` and `previous_key`"
            )));
        }
        let field = |name: &str| -> Result<Option<Key>, KeyError> {
            match object.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(k)) if k.len() >= MIN_KEY_BYTES => {
                    Ok(Some(Key::new(k.as_bytes())))
                }
                Some(_) => Err(KeyError::Malformed(format!(
                    "`{name}` must be a string of at least {MIN_KEY_BYTES} characters"
                ))),
            }
        };
        let current = field("key")?.ok_or_else(|| {
            KeyError::Malformed(format!(
                "`key` is missing: it must be a string of at least {MIN_KEY_BYTES} characters"
            ))
        })?;
        Ok(Self {
            current,
            previous: field("previous_key")?,
        })
    }

    /// The key that signs: the only one new tokens, codes and tags are made with.
    pub fn current(&self) -> &Key {
        &self.current
    }

    /// The keys a value may have been signed with: the current one first, then the previous.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }

    /// A fresh secret value, `{"key": <64 base64url characters of 384 random bits>}`, for
    /// `portcullis init`.
    pub fn generate_json(entropy: &dyn Entropy) -> String {
        let mut bytes = [0u8; GENERATED_KEY_BYTES];
        entropy.fill(&mut bytes);
        serde_json::json!({ "key": URL_SAFE_NO_PAD.encode(bytes) }).to_string()
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &"[redacted]")
            .field("previous", &self.previous.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OsEntropy;

    fn json(fields: &[(&str, &str)]) -> String {
        let m: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        serde_json::Value::Object(m).to_string()
    }

    fn malformed(raw: &str) -> String {
        match KeyRing::from_secret_json(raw) {
            Err(KeyError::Malformed(m)) => m,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn the_key_is_read_as_its_utf8_bytes_and_alone_is_the_whole_ring() {
        let key = "k".repeat(MIN_KEY_BYTES);
        let ring = KeyRing::from_secret_json(&json(&[("key", &key)])).unwrap();
        assert_eq!(ring.current().bytes(), key.as_bytes());
        assert_eq!(ring.keys().count(), 1);
    }

    #[test]
    fn a_missing_key_is_refused_naming_the_field() {
        for raw in ["{}", r#"{"key": null}"#] {
            assert!(malformed(raw).contains("`key`"), "{raw}");
        }
        let prev = "p".repeat(MIN_KEY_BYTES);
        assert!(malformed(&json(&[("previous_key", &prev)])).contains("`key`"));
    }

    #[test]
    fn a_key_shorter_than_32_characters_is_refused_naming_the_field() {
        let short = "s".repeat(MIN_KEY_BYTES - 1);
        let m = malformed(&json(&[("key", &short)]));
        assert!(m.contains("`key`") && m.contains("32"), "{m}");
        assert!(malformed(r#"{"key": 12345}"#).contains("`key`"));
    }

    #[test]
    fn a_previous_key_shorter_than_32_characters_is_refused_naming_the_field() {
        let key = "k".repeat(MIN_KEY_BYTES);
        let m = malformed(&json(&[("key", &key), ("previous_key", "short")]));
        assert!(m.contains("`previous_key`"), "{m}");
    }

    /// A misspelt `previous_key` must not be dropped silently: what it signed would be refused.
    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let key = "k".repeat(MIN_KEY_BYTES);
        let m = malformed(&json(&[("key", &key), ("previous", &key)]));
        assert!(m.contains("`previous`"), "{m}");
        assert!(malformed("not json").contains("JSON"));
        assert!(malformed(r#"["k"]"#).contains("JSON"));
    }

    /// Rotation: the new key signs, the previous one still verifies, current first.
    #[test]
    fn during_a_rotation_the_current_key_signs_and_both_verify_current_first() {
        let (new, old) = ("n".repeat(MIN_KEY_BYTES), "o".repeat(MIN_KEY_BYTES));
        let ring =
            KeyRing::from_secret_json(&json(&[("key", &new), ("previous_key", &old)])).unwrap();
        assert_eq!(ring.current().bytes(), new.as_bytes());
        let keys: Vec<&[u8]> = ring.keys().map(Key::bytes).collect();
        assert_eq!(keys, [new.as_bytes(), old.as_bytes()]);
    }

    #[test]
    fn no_message_or_debug_output_shows_key_material() {
        let (key, prev) = ("K".repeat(40), "P".repeat(40));
        let ring = KeyRing::new(Key::new(key.as_bytes()), Some(Key::new(prev.as_bytes())));
        let shown = format!("{ring:?}");
        assert!(
            !shown.contains("KKKK") && !shown.contains("PPPP"),
            "{shown}"
        );
        assert!(shown.contains("redacted"), "{shown}");
        let m = malformed(&json(&[("key", &key), ("previous_key", "PPPPPPPP")]));
        assert!(!m.contains("KKKK") && !m.contains("PPPP"), "{m}");
    }

    #[test]
    fn a_generated_secret_is_a_fresh_key_the_reader_accepts() {
        let a = KeyRing::generate_json(&OsEntropy);
        let b = KeyRing::generate_json(&OsEntropy);
        assert_ne!(a, b);
        let ring = KeyRing::from_secret_json(&a).unwrap();
        assert_eq!(ring.keys().count(), 1);
        assert_eq!(ring.current().bytes().len(), 64);
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        let key = v["key"].as_str().unwrap();
        assert!(key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(v.as_object().unwrap().len(), 1);
    }
}
