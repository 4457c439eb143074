//! What is stored. Every code and token item carries `expires_at` (epoch seconds, the tables' TTL
//! attribute); every token names its grant; nothing secret is stored except as a hash.
use crate::pkce::CodeChallenge;
use crate::secret::{ClientSecret, SecretHash};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A registered app (RFC 6749 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    /// The scopes this client may request.
    pub scopes: Vec<String>,
    /// A public client (RFC 6749 §2.1) has no secret and must use PKCE.
    #[serde(default)]
    pub public: bool,
    /// A first-party client whose requests need no consent page.
    #[serde(default)]
    pub trusted: bool,
    /// A disabled client can neither start nor finish a flow.
    #[serde(default)]
    pub disabled: bool,
    /// Hashes of the current secrets: more than one during a rotation's overlap.
    #[serde(default)]
    pub secret_hashes: Vec<SecretHash>,
    pub created_at: u64,
}

impl Client {
    /// RFC 6749 §2.3.1: the presented secret's hash is compared in constant time with every
    /// current secret's hash (no early exit), and the one that matched is returned.
    pub fn matching_secret(&self, secret: &ClientSecret) -> Option<SecretHash> {
        matching_secret(&self.secret_hashes, secret)
    }
}

/// See [`Client::matching_secret`].
pub fn matching_secret(hashes: &[SecretHash], secret: &ClientSecret) -> Option<SecretHash> {
    let presented = secret.hash();
    let mut found = None;
    for h in hashes {
        if h.ct_eq(&presented) {
            found = Some(h.clone());
        }
    }
    found
}

/// The user an authorization is for, as the host application's session described them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserInfo {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An issued authorization code, keyed by its hash. It carries what the token endpoint needs to
/// finish without reading the client again: the client's secret hashes at issue time (the token
/// endpoint's write re-checks, in the same transaction, that the secret is still current).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub pk: SecretHash,
    pub client_id: String,
    pub client_public: bool,
    #[serde(default)]
    pub client_secret_hashes: Vec<SecretHash>,
    pub redirect_uri: String,
    /// Whether the authorization request named `redirect_uri` (RFC 6749 §4.1.3).
    pub redirect_uri_explicit: bool,
    pub scopes: Vec<String>,
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<CodeChallenge>,
    pub created_at: u64,
    pub expires_at: u64,
}

impl CodeRecord {
    /// The grant this code starts. Derived from the code's hash, so that a replayed code (whose
    /// item is gone) still names the grant to revoke (RFC 6749 §4.1.2).
    pub fn grant_id(&self) -> String {
        grant_id_for_code(&self.pk)
    }
}

/// See [`CodeRecord::grant_id`].
pub fn grant_id_for_code(code_hash: &SecretHash) -> String {
    let mut h = Sha256::new();
    h.update(b"portcullis-grant-v1:");
    h.update(code_hash.as_str().as_bytes());
    format!("g_{}", URL_SAFE_NO_PAD.encode(h.finalize()))
}

/// What a row of the tokens table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Access,
    Refresh,
    Grant,
}

/// An access or refresh token, keyed by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub pk: SecretHash,
    pub kind: ItemKind,
    pub grant_id: String,
    pub client_id: String,
    pub user_sub: String,
    pub user: UserInfo,
    pub scopes: Vec<String>,
    pub created_at: u64,
    pub expires_at: u64,
}

/// One consent: every token descended from it names it, so it can be revoked as a whole and
/// found by user (`by_user`) and by client (`by_client`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub pk: String,
    pub kind: ItemKind,
    pub grant_id: String,
    pub client_id: String,
    pub user_sub: String,
    pub scopes: Vec<String>,
    pub created_at: u64,
    pub expires_at: u64,
}

impl GrantRecord {
    pub fn key(grant_id: &str) -> String {
        format!("grant#{grant_id}")
    }
}

/// The tokens of one authorization-code exchange, written together or not at all.
#[derive(Debug, Clone)]
pub struct Issuance {
    pub grant: GrantRecord,
    pub access: TokenRecord,
    pub refresh: TokenRecord,
    /// Checked in the same write: the client still exists, is enabled and, for a confidential
    /// client, still has the secret that authenticated this request.
    pub client_check: ClientCheck,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCheck {
    pub client_id: String,
    pub secret_hash: Option<SecretHash>,
}
