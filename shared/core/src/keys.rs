//! Keys: read at cold start from a [`KeySource`] (Secrets Manager in production, see
//! `portcullis-aws`), cached with a TTL, never fetched per request. One cache serves every kind
//! of key a secret holds: the authorize function's [`Keys`], and each token secret's
//! [`KeyRing`].
use crate::error::KeyError;
use crate::keyring::KeyRing;
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
    /// Verifies the host application's session JWTs (and signs the dev login's).
    pub session: Key,
    /// Signs consent-form CSRF tokens.
    pub csrf: Key,
    /// The `session_key` before the last rotation: still verifies, never signs, so rotating the
    /// key logs nobody out.
    pub previous_session: Option<Key>,
    /// The `csrf_key` before the last rotation: a consent page opened just before the rotation
    /// can still be submitted.
    pub previous_csrf: Option<Key>,
}

impl Keys {
    /// Parses the secret's JSON: `session_key` (required) and `csrf_key` (optional; derived from
    /// `session_key` when absent, so a fresh deploy with one generated key works), and for a
    /// rotation `previous_session_key` and `previous_csrf_key` (optional; the previous CSRF key
    /// is derived from the previous session key when only that is given, by the same rule).
    pub fn from_secret_json(raw: &str) -> Result<Self, KeyError> {
        #[derive(serde::Deserialize)]
        struct Raw {
            session_key: Option<String>,
            csrf_key: Option<String>,
            previous_session_key: Option<String>,
            previous_csrf_key: Option<String>,
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
        let csrf = csrf_key(r.csrf_key, &session, "csrf_key")?;
        let previous_session = match r.previous_session_key {
            None => None,
            Some(k) if k.len() >= MIN_KEY_BYTES => Some(k),
            Some(_) => {
                return Err(KeyError::Malformed(format!(
                    "`previous_session_key` must be at least {MIN_KEY_BYTES} characters"
                )))
            }
        };
        let previous_csrf = match (r.previous_csrf_key, &previous_session) {
            (None, None) => None,
            (given, Some(prev)) => Some(csrf_key(given, prev, "previous_csrf_key")?),
            (Some(k), None) => Some(csrf_key(Some(k), &session, "previous_csrf_key")?),
        };
        Ok(Self {
            session: Key::new(session.into_bytes()),
            csrf: Key::new(csrf),
            previous_session: previous_session.map(|k| Key::new(k.into_bytes())),
            previous_csrf: previous_csrf.map(Key::new),
        })
    }

    /// The keys a session JWT may be signed with: the current one first, then the previous.
    pub fn session_keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.session).chain(self.previous_session.as_ref())
    }

    /// The keys a CSRF token may be signed with: the current one first, then the previous.
    pub fn csrf_keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.csrf).chain(self.previous_csrf.as_ref())
    }
}

/// A CSRF key as given (at least [`MIN_KEY_BYTES`]), or derived from its session key.
fn csrf_key(given: Option<String>, session: &str, field: &str) -> Result<Vec<u8>, KeyError> {
    match given {
        Some(k) if k.len() >= MIN_KEY_BYTES => Ok(k.into_bytes()),
        Some(_) => Err(KeyError::Malformed(format!(
            "`{field}` must be at least {MIN_KEY_BYTES} characters"
        ))),
        None => Ok(derive(session.as_bytes(), b"portcullis-csrf-key-v1")),
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

/// Where a secret's keys are read from. [`KeyCache`] decides when.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// What one read yields: [`Keys`] (the authorize function's secret) or a [`KeyRing`].
    type Keys: Send + Sync + 'static;
    async fn fetch(&self) -> Result<Self::Keys, KeyError>;
}

/// Fixed keys (tests, benches).
#[derive(Debug, Clone)]
pub struct StaticKeys(pub Keys);

#[async_trait]
impl KeySource for StaticKeys {
    type Keys = Keys;
    async fn fetch(&self) -> Result<Keys, KeyError> {
        Ok(self.0.clone())
    }
}

/// A fixed key ring (tests, benches).
#[derive(Debug, Clone)]
pub struct StaticKeyRing(pub KeyRing);

#[async_trait]
impl KeySource for StaticKeyRing {
    type Keys = KeyRing;
    async fn fetch(&self) -> Result<KeyRing, KeyError> {
        Ok(self.0.clone())
    }
}

/// After a failed refresh, the first wait before Secrets Manager is asked again, in seconds;
/// each further failure doubles it, up to [`REFRESH_BACKOFF_MAX`]. Requests in between do not
/// call Secrets Manager (a blip must not turn into a request storm on it).
pub const REFRESH_BACKOFF_MIN: u64 = 1;
/// The longest wait between two refresh attempts, in seconds.
pub const REFRESH_BACKOFF_MAX: u64 = 60;
/// How long past their TTL keys are still used while refreshes fail, in seconds: long enough
/// to ride out a Secrets Manager incident, short enough that a key rotated because it leaked
/// stops being accepted. Past it, requests fail with `KeyError::Unavailable` (a 503).
pub const MAX_STALE: u64 = 3600;

/// What the cache holds.
struct Cached<T> {
    keys: Option<(Arc<T>, u64)>,
    /// No refresh before this time (after a failure).
    retry_at: u64,
    /// The current backoff, 0 after a success.
    backoff: u64,
}

/// Caches the keys for `ttl` seconds. When a refresh fails, the keys already held keep being
/// used (a Secrets Manager blip must not take sign-in down), but only for [`MAX_STALE`] seconds
/// past their TTL, and the next attempt waits out a backoff ([`REFRESH_BACKOFF_MIN`] doubling up
/// to [`REFRESH_BACKOFF_MAX`]) instead of every request re-fetching. With no usable keys the
/// error is returned and the caller answers 503.
pub struct KeyCache<S: KeySource> {
    source: S,
    ttl: u64,
    cached: RwLock<Cached<S::Keys>>,
}

impl<S: KeySource> KeyCache<S> {
    pub fn new(source: S, ttl: u64) -> Self {
        Self {
            source,
            ttl,
            cached: RwLock::new(Cached {
                keys: None,
                retry_at: 0,
                backoff: 0,
            }),
        }
    }

    /// The keys if fresh (`Ok`), or else the ones still usable while stale (`Err`).
    fn fresh(&self, c: &Cached<S::Keys>, now: u64) -> Result<Arc<S::Keys>, Option<Arc<S::Keys>>> {
        match &c.keys {
            Some((keys, at)) if now < at.saturating_add(self.ttl) => Ok(keys.clone()),
            Some((keys, at)) if now < at.saturating_add(self.ttl).saturating_add(MAX_STALE) => {
                Err(Some(keys.clone()))
            }
            _ => Err(None),
        }
    }

    pub async fn get(&self, now: u64) -> Result<Arc<S::Keys>, KeyError> {
        if let Ok(keys) = self.fresh(&*self.cached.read().await, now) {
            return Ok(keys);
        }
        let mut guard = self.cached.write().await;
        let stale = match self.fresh(&guard, now) {
            Ok(keys) => return Ok(keys),
            Err(stale) => stale,
        };
        if now < guard.retry_at {
            return stale.ok_or_else(|| {
                KeyError::Unavailable("the keys could not be read; waiting before retrying".into())
            });
        }
        match self.source.fetch().await {
            Ok(k) => {
                let k = Arc::new(k);
                guard.keys = Some((k.clone(), now));
                guard.backoff = 0;
                guard.retry_at = 0;
                Ok(k)
            }
            Err(e) => {
                guard.backoff = (guard.backoff * 2).clamp(REFRESH_BACKOFF_MIN, REFRESH_BACKOFF_MAX);
                guard.retry_at = now.saturating_add(guard.backoff);
                match stale {
                    Some(keys) => {
                        tracing::warn!(error = %e, retry_in = guard.backoff, "could not refresh keys; using the cached ones");
                        Ok(keys)
                    }
                    None => {
                        tracing::error!(error = %e, retry_in = guard.backoff, "could not read the keys");
                        Err(e)
                    }
                }
            }
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
        type Keys = Keys;
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

    /// A failing Secrets Manager is asked again only after a backoff, not on every request.
    #[tokio::test]
    async fn a_failed_key_refresh_backs_off_instead_of_refetching_per_request() {
        let cache = KeyCache::new(Counting(AtomicUsize::new(0), true), 300);
        cache.get(1000).await.unwrap();
        let fetches = || cache.source.0.load(Ordering::SeqCst);
        for _ in 0..50 {
            assert!(cache.get(1300).await.is_ok());
        }
        assert_eq!(fetches(), 2, "one failed refresh, then the backoff");
        cache.get(1300 + REFRESH_BACKOFF_MIN).await.unwrap();
        assert_eq!(fetches(), 3);
        // The backoff doubles: 2 s now.
        cache.get(1300 + REFRESH_BACKOFF_MIN + 1).await.unwrap();
        assert_eq!(fetches(), 3);
        cache.get(1300 + REFRESH_BACKOFF_MIN + 2).await.unwrap();
        assert_eq!(fetches(), 4);
    }

    /// Stale keys are used for at most `MAX_STALE` past their TTL; then requests fail (503).
    #[tokio::test]
    async fn stale_keys_are_used_only_for_a_bounded_time() {
        let cache = KeyCache::new(Counting(AtomicUsize::new(0), true), 300);
        cache.get(1000).await.unwrap();
        assert!(cache.get(1000 + 300 + MAX_STALE - 1).await.is_ok());
        let e = cache.get(1000 + 300 + MAX_STALE + 100).await.unwrap_err();
        assert!(matches!(e, KeyError::Unavailable(_)), "{e}");
    }

    /// With no keys at all (cold start during an outage), requests fail fast during the backoff.
    #[tokio::test]
    async fn without_keys_a_failed_read_is_retried_only_after_the_backoff() {
        struct Down(AtomicUsize);
        #[async_trait]
        impl KeySource for Down {
            type Keys = Keys;
            async fn fetch(&self) -> Result<Keys, KeyError> {
                self.0.fetch_add(1, Ordering::SeqCst);
                Err(KeyError::Unavailable("down".into()))
            }
        }
        let cache = KeyCache::new(Down(AtomicUsize::new(0)), 300);
        for _ in 0..10 {
            assert!(cache.get(1000).await.is_err());
        }
        assert_eq!(cache.source.0.load(Ordering::SeqCst), 1);
    }

    /// The token secrets' key rings go through the same cache: one read per TTL, and the
    /// stale ring kept while a refresh fails.
    #[tokio::test]
    async fn a_key_ring_is_cached_like_the_keys() {
        struct Rings(AtomicUsize);
        #[async_trait]
        impl KeySource for Rings {
            type Keys = KeyRing;
            async fn fetch(&self) -> Result<KeyRing, KeyError> {
                if self.0.fetch_add(1, Ordering::SeqCst) > 0 {
                    return Err(KeyError::Unavailable("down".into()));
                }
                KeyRing::from_secret_json(&format!(r#"{{"key":"{}"}}"#, "r".repeat(32)))
            }
        }
        let cache = KeyCache::new(Rings(AtomicUsize::new(0)), 300);
        for t in 0..10 {
            assert_eq!(
                cache.get(1000 + t).await.unwrap().current().bytes(),
                [b'r'; 32]
            );
        }
        assert_eq!(cache.source.0.load(Ordering::SeqCst), 1);
        assert!(cache.get(1300).await.is_ok(), "the stale ring is kept");
        assert_eq!(cache.source.0.load(Ordering::SeqCst), 2);
        let fixed = KeyCache::new(
            StaticKeyRing(cache.get(1300).await.unwrap().as_ref().clone()),
            300,
        );
        assert_eq!(fixed.get(0).await.unwrap().keys().count(), 1);
    }

    /// Rotation: the previous keys are parsed and verify; signing uses the current ones.
    #[test]
    fn the_secret_may_hold_previous_session_and_csrf_keys() {
        let cur = "c".repeat(32);
        let prev = "p".repeat(32);
        let k = Keys::from_secret_json(&format!(
            r#"{{"session_key":"{cur}","previous_session_key":"{prev}"}}"#
        ))
        .unwrap();
        assert_eq!(k.session.bytes(), cur.as_bytes());
        assert_eq!(k.session_keys().count(), 2);
        let derived = Keys::from_secret_json(&format!(r#"{{"session_key":"{prev}"}}"#)).unwrap();
        assert_eq!(
            k.previous_csrf.as_ref().unwrap().bytes(),
            derived.csrf.bytes()
        );
        assert_eq!(k.csrf_keys().count(), 2);
        let none = Keys::from_secret_json(&format!(r#"{{"session_key":"{cur}"}}"#)).unwrap();
        assert_eq!(
            (none.session_keys().count(), none.csrf_keys().count()),
            (1, 1)
        );
        assert!(Keys::from_secret_json(&format!(
            r#"{{"session_key":"{cur}","previous_session_key":"short"}}"#
        ))
        .is_err());
    }
}
