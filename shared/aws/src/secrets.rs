//! The Secrets Manager key sources (feature `secrets`). Each secret is one JSON object:
//!
//! - the authorize function's keys, `{"session_key", "csrf_key"?, "previous_session_key"?,
//!   "previous_csrf_key"?}`, parsed by [`Keys::from_secret_json`] ([`SecretsManagerKeys`]);
//! - a token secret's key ring, `{"key", "previous_key"?}`, parsed by
//!   [`KeyRing::from_secret_json`] ([`SecretsManagerKeyRing`]): the mint, tag and access-tag
//!   secrets.
//!
//! The previous keys verify during a rotation (docs/security.md, "Key rotation";
//! docs/operating.md, "Rotating the token keys"). The caller's
//! [`portcullis_core::keys::KeyCache`] decides when to read a secret again and backs off when a
//! read fails.
use async_trait::async_trait;
use portcullis_core::error::KeyError;
use portcullis_core::keyring::KeyRing;
use portcullis_core::keys::{KeySource, Keys};

/// One read of a secret's string value.
async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, KeyError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| KeyError::Unavailable(Box::new(e)))?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| KeyError::Malformed("the secret has no string value".into()))
}

/// Reads the keys from one Secrets Manager secret.
#[derive(Debug, Clone)]
pub struct SecretsManagerKeys {
    pub client: aws_sdk_secretsmanager::Client,
    pub secret_id: String,
}

impl SecretsManagerKeys {
    pub fn new(sdk: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            secret_id: secret_id.into(),
        }
    }
}

#[async_trait]
impl KeySource for SecretsManagerKeys {
    type Keys = Keys;
    async fn fetch(&self) -> Result<Keys, KeyError> {
        Keys::from_secret_json(&secret_string(&self.client, &self.secret_id).await?)
    }
}

/// Reads one key ring (`{"key", "previous_key"?}`) from one Secrets Manager secret.
#[derive(Debug, Clone)]
pub struct SecretsManagerKeyRing {
    pub client: aws_sdk_secretsmanager::Client,
    pub secret_id: String,
}

impl SecretsManagerKeyRing {
    pub fn new(sdk: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            secret_id: secret_id.into(),
        }
    }
}

#[async_trait]
impl KeySource for SecretsManagerKeyRing {
    type Keys = KeyRing;
    async fn fetch(&self) -> Result<KeyRing, KeyError> {
        KeyRing::from_secret_json(&secret_string(&self.client, &self.secret_id).await?)
    }
}
