//! Where a function gets a key ring at request time: a [`crate::keys::KeyCache`] over its
//! Secrets Manager secret in production (read at cold start, again after the cache TTL), fixed
//! rings in tests and benches.
use crate::error::KeyError;
use crate::keyring::KeyRing;
use async_trait::async_trait;
use std::sync::Arc;

#[async_trait]
pub trait RingSource: Send + Sync {
    /// The ring as of `now` (cached; a failed refresh answers 503 only once no usable ring is
    /// left).
    async fn ring(&self, now: u64) -> Result<Arc<KeyRing>, KeyError>;
}

/// A boxed source: what the endpoints hold.
pub type Ring = Box<dyn RingSource>;

/// A fixed ring (tests, benches).
pub struct StaticRing(pub Arc<KeyRing>);

impl StaticRing {
    pub fn boxed(ring: KeyRing) -> Ring {
        Box::new(Self(Arc::new(ring)))
    }
}

#[async_trait]
impl RingSource for StaticRing {
    async fn ring(&self, _now: u64) -> Result<Arc<KeyRing>, KeyError> {
        Ok(self.0.clone())
    }
}

#[async_trait]
impl<S: crate::keys::KeySource<Keys = KeyRing>> RingSource for crate::keys::KeyCache<S> {
    async fn ring(&self, now: u64) -> Result<Arc<KeyRing>, KeyError> {
        self.get(now).await
    }
}
