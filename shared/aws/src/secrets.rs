//! The Secrets Manager key source (feature `secrets`): the keys are one JSON secret,
//! `{"session_key", "csrf_key"?, "previous_session_key"?, "previous_csrf_key"?}`, parsed by
//! [`Keys::from_secret_json`] (the previous keys verify during a rotation; see docs/security.md,
//! "Key rotation"). The caller's [`portcullis_core::keys::KeyCache`] decides when to read it
//! again and backs off when a read fails.
use async_trait::async_trait;
use portcullis_core::error::KeyError;
use portcullis_core::keys::{KeySource, Keys};

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
    async fn fetch(&self) -> Result<Keys, KeyError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| KeyError::Unavailable(Box::new(e)))?;
        let raw = out
            .secret_string()
            .ok_or_else(|| KeyError::Malformed("the secret has no string value".into()))?;
        Keys::from_secret_json(raw)
    }
}
