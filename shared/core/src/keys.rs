//! Keys: read at cold start from a [`KeySource`] (Secrets Manager in production, see
//! `portcullis-aws`), cached with a TTL, never fetched per request.
use crate::error::KeyError;
use crate::secret::Key;
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use tokio::sync::RwLock;

/// The shortest `session_key` accepted: 256 bits (RFC 7518 §3.2 asks HS256 keys to be at least
/// the hash size).
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct Keys {
    /// Verifies the host application's session JWTs.
    pub session: Key,
    /// Signs consent-form CSRF tokens.
    pub csrf: Key,
}

impl Keys {
    /// Parses the secret's JSON: `session_key` (required) and `csrf_key` (optional; derived from
    /// `session_key` when absent, so a fresh deploy with one generated key works).
    pub fn from_secret_json(raw: &str) -> Result<Self, KeyError> {
        #[derive(serde::Deserialize)]
        struct Raw {
            session_key: Option<String>,
            csrf_key: Option<String>,
        }
        let r: Raw = serde_json::from_str(raw).map_err(|_| {
            KeyError::Malformed("the secret is not a JSON object with string keys".into())
        })?;
        let session = r
            .session_key
            .filter(|k| k.len() >= MIN_KEY_BYTES)
            .ok_or_else(|| {
                KeyError::Malformed(format!(
                    "`session_key` must be at least {MIN_KEY_BYTES} characters"
                ))
            })?;
        let csrf = match r.csrf_key {
            Some(k) if k.len() >= MIN_KEY_BYTES => k.into_bytes(),
            Some(_) => {
                return Err(KeyError::Malformed(format!(
                    "`csrf_key` must be at least {MIN_KEY_BYTES} characters"
                )))
            }
            None => derive(session.as_bytes(), b"portcullis-csrf-key-v1"),
        };
        Ok(Self {
            session: Key::new(session.into_bytes()),
            csrf: Key::new(csrf),
        })
    }
}

fn derive(key: &[u8], label: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(label);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[async_trait]
pub trait KeySource: Send + Sync {
    async fn fetch(&self) -> Result<Keys, KeyError>;
}

/// Fixed keys (tests, benches).
#[derive(Debug, Clone)]
pub struct StaticKeys(pub Keys);

#[async_trait]
impl KeySource for StaticKeys {
    async fn fetch(&self) -> Result<Keys, KeyError> {
        Ok(self.0.clone())
    }
}

/// Caches the keys for `ttl` seconds. When a refresh fails, the keys already held keep being
/// used (a Secrets Manager blip must not take sign-in down); with none held, the error is
/// returned and the caller answers 503.
pub struct KeyCache<S> {
    source: S,
    ttl: u64,
    cached: RwLock<Option<(Arc<Keys>, u64)>>,
}

impl<S: KeySource> KeyCache<S> {
    pub fn new(source: S, ttl: u64) -> Self {
        Self {
            source,
            ttl,
            cached: RwLock::new(None),
        }
    }

    pub async fn get(&self, now: u64) -> Result<Arc<Keys>, KeyError> {
        if let Some((keys, at)) = &*self.cached.read().await {
            if now < at.saturating_add(self.ttl) {
                return Ok(keys.clone());
            }
        }
        let mut guard = self.cached.write().await;
        if let Some((keys, at)) = &*guard {
            if now < at.saturating_add(self.ttl) {
                return Ok(keys.clone());
            }
        }
        match self.source.fetch().await {
            Ok(k) => {
                let k = Arc::new(k);
                *guard = Some((k.clone(), now));
                Ok(k)
            }
            Err(e) => match &*guard {
                Some((keys, _)) => {
                    tracing::warn!(error = %e, "could not refresh keys; using the cached ones");
                    Ok(keys.clone())
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_short_or_missing_session_key_is_refused() {
        assert!(Keys::from_secret_json("{}").is_err());
        assert!(Keys::from_secret_json(r#"{"session_key":"short"}"#).is_err());
        assert!(Keys::from_secret_json("not json").is_err());
        let k =
            Keys::from_secret_json(&format!(r#"{{"session_key":"{}"}}"#, "s".repeat(32))).unwrap();
        assert_eq!(k.csrf.bytes().len(), 32);
        assert_ne!(k.csrf.bytes(), k.session.bytes());
    }

    struct Counting(AtomicUsize, bool);
    #[async_trait]
    impl KeySource for Counting {
        async fn fetch(&self) -> Result<Keys, KeyError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            if self.1 && n > 0 {
                return Err(KeyError::Unavailable("down".into()));
            }
            Keys::from_secret_json(&format!(r#"{{"session_key":"{}"}}"#, "s".repeat(32)))
        }
    }

    #[tokio::test]
    async fn keys_are_fetched_once_per_ttl_not_per_request() {
        let cache = KeyCache::new(Counting(AtomicUsize::new(0), false), 300);
        for t in 0..10 {
            cache.get(1000 + t).await.unwrap();
        }
        assert_eq!(cache.source.0.load(Ordering::SeqCst), 1);
        cache.get(1300).await.unwrap();
        assert_eq!(cache.source.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn stale_keys_are_kept_when_a_refresh_fails() {
        let cache = KeyCache::new(Counting(AtomicUsize::new(0), true), 300);
        cache.get(1000).await.unwrap();
        assert!(cache.get(2000).await.is_ok());
    }
}
