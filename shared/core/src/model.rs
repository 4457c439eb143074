//! What is stored. Every code and token item carries `expires_at` (epoch seconds, the tables' TTL
//! attribute); every token names its grant; nothing secret is stored except as a hash.
use crate::client_auth::{AuthenticatedClient, RegisteredClient};
use crate::ids::{ClientId, GrantId, RedirectUri, Subject};
use crate::pkce::CodeChallenge;
use crate::secret::SecretHash;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A registered app (RFC 6749 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: ClientId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
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
    /// RFC 9700 §4.14.2: each refresh replaces the refresh token. `false` only for confidential
    /// clients registered with `--no-refresh-rotation` (Cal.com's first version kept one refresh
    /// token forever). Items written before this field existed rotate.
    #[serde(default = "yes")]
    pub refresh_rotation: bool,
    /// A resource server (RFC 7662 §4): at the introspection endpoint it sees every client's
    /// tokens as they are, where any other client sees only its own as active. Set by
    /// `portcullis client create --resource-server`; items written before the field are not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub resource_server: bool,
    pub created_at: u64,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Client {
    /// What authenticating this client needs ([`crate::client_auth::authenticate`]).
    pub fn registered(&self) -> RegisteredClient<'_> {
        RegisteredClient {
            client_id: &self.client_id,
            public: self.public,
            secret_hashes: &self.secret_hashes,
        }
    }
}

/// The user an authorization is for, as the host application's session described them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserInfo {
    pub sub: Subject,
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
    pub client_id: ClientId,
    pub client_public: bool,
    #[serde(default)]
    pub client_secret_hashes: Vec<SecretHash>,
    pub redirect_uri: RedirectUri,
    /// Whether the authorization request named `redirect_uri` (RFC 6749 §4.1.3).
    pub redirect_uri_explicit: bool,
    pub scopes: Vec<String>,
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<CodeChallenge>,
    /// The client's [`Client::refresh_rotation`] when the code was issued.
    #[serde(default = "yes")]
    pub client_refresh_rotation: bool,
    pub created_at: u64,
    pub expires_at: u64,
}

impl CodeRecord {
    /// The grant this code starts. Derived from the code's hash, so that a replayed code (whose
    /// item is gone) still names the grant to revoke (RFC 6749 §4.1.2).
    pub fn grant_id(&self) -> GrantId {
        grant_id_for_code(&self.pk)
    }

    /// The client this code was issued to, as it was registered then.
    pub fn client(&self) -> RegisteredClient<'_> {
        RegisteredClient {
            client_id: &self.client_id,
            public: self.client_public,
            secret_hashes: &self.client_secret_hashes,
        }
    }
}

/// See [`CodeRecord::grant_id`].
pub fn grant_id_for_code(code_hash: &SecretHash) -> GrantId {
    let mut h = Sha256::new();
    h.update(b"portcullis-grant-v1:");
    h.update(code_hash.as_str().as_bytes());
    GrantId::new(format!("g_{}", URL_SAFE_NO_PAD.encode(h.finalize())))
}

/// What a row of the tokens table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Access,
    Refresh,
    Grant,
    /// An API key ([`crate::api_keys::ApiKeyRecord`]).
    ApiKey,
}

/// An access or refresh token, keyed by its hash.
///
/// A refresh token item also carries what a refresh needs without reading anything else: its
/// client's kind and secret hashes (a snapshot, re-checked in the refresh's write), whether it
/// rotates, the grant's absolute end, and its rotation state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub pk: SecretHash,
    pub kind: ItemKind,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_sub: Subject,
    pub user: UserInfo,
    pub scopes: Vec<String>,
    pub created_at: u64,
    /// Access token: its end. Active refresh token: its end (sliding). Retired refresh token:
    /// how long it is kept so that its reuse is recognised.
    pub expires_at: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub client_public: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_secret_hashes: Vec<SecretHash>,
    /// Legacy mode (`--no-refresh-rotation`): a refresh returns this same refresh token.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_rotation: bool,
    /// The grant's absolute end, when the deployment sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_expires_at: Option<u64>,
    /// When this refresh token was used and replaced; `None` while it is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
    /// Grace-window retries this retired token has had.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// The pair the latest use of this (retired) token issued: a grace retry revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_access: Option<SecretHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_refresh: Option<SecretHash>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TokenRecord {
    /// A token item with no refresh-only attributes.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pk: SecretHash,
        kind: ItemKind,
        grant_id: GrantId,
        client_id: ClientId,
        user: UserInfo,
        scopes: Vec<String>,
        created_at: u64,
        expires_at: u64,
    ) -> Self {
        Self {
            pk,
            kind,
            grant_id,
            client_id,
            user_sub: user.sub.clone(),
            user,
            scopes,
            created_at,
            expires_at,
            client_public: false,
            client_secret_hashes: Vec::new(),
            no_rotation: false,
            grant_expires_at: None,
            retired_at: None,
            retries: 0,
            next_access: None,
            next_refresh: None,
        }
    }

    /// The client this refresh token was issued to, as it was registered then.
    pub fn client(&self) -> RegisteredClient<'_> {
        RegisteredClient {
            client_id: &self.client_id,
            public: self.client_public,
            secret_hashes: &self.client_secret_hashes,
        }
    }
}

/// One consent: every token descended from it names it, so it can be revoked as a whole and
/// found by user (`by_user`) and by client (`by_client`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub pk: String,
    pub kind: ItemKind,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_sub: Subject,
    pub scopes: Vec<String>,
    pub created_at: u64,
    /// Extended by every refresh: the grant lives as long as its newest refresh token.
    pub expires_at: u64,
    /// The newest access and refresh tokens, written in the same atomic write that issues them,
    /// so revocation finds them even before the `by_grant` index has caught up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_access: Option<SecretHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_refresh: Option<SecretHash>,
    /// What the replay rules need once the code is gone (RFC 6749 §4.1.2): a replay of the code
    /// revokes this grant only until `replay_until` (the code's end plus a margin), only by
    /// this grant's client and, for a public client, only with a verifier for this challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_until: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub client_public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<CodeChallenge>,
}

impl GrantRecord {
    pub fn key(grant_id: &GrantId) -> String {
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
    pub client_check: AuthenticatedClient,
}
