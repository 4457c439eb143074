//! A function's key rings at cold start (feature `secrets`): one [`KeyCache`] per Secrets
//! Manager secret, read when first needed and again after `ttl` seconds.
use crate::secrets::SecretsManagerKeyRing;
use portcullis_core::keys::KeyCache;
use portcullis_core::rings::Ring;

/// The ring of one secret, cached for `ttl` seconds.
pub fn ring(sdk: &aws_config::SdkConfig, secret_id: &str, ttl: u64) -> Ring {
    Box::new(KeyCache::new(
        SecretsManagerKeyRing::new(sdk, secret_id),
        ttl,
    ))
}
