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
    /// RFC 9700 §2.1.1: every client must use PKCE unless registered with
    /// `portcullis client create --pkce-optional` (confidential clients only: Cal.com-contract
    /// apps that send no `code_challenge`). Absent means `false`: PKCE required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pkce_optional: bool,
    /// A disabled client can neither start nor finish a flow.
    #[serde(default)]
    pub disabled: bool,
    /// Hashes of the current secrets: two during a rotation's overlap (the new one first), one
    /// otherwise; none for a public client.
    #[serde(default)]
    pub secret_hashes: Vec<SecretHash>,
    /// During a rotation's overlap (`portcullis client rotate-secret --keep-old-for`): the old
    /// secret, still listed in `secret_hashes`, and when it stops working. Checked at use (see
    /// [`Client::registered`] and the issuing writes' client check), so nothing has to sweep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_retiring: Option<RetiringSecret>,
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

/// A secret on its way out: it authenticates until `until` (epoch seconds), then no more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    pub hash: SecretHash,
    pub until: u64,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Client {
    /// What authenticating this client at `now` needs ([`crate::client_auth::authenticate`]):
    /// a retiring secret whose overlap has ended no longer counts.
    pub fn registered(&self, now: u64) -> RegisteredClient<'_> {
        RegisteredClient {
            client_id: &self.client_id,
            public: self.public,
            secret_hashes: &self.secret_hashes,
            retired: self
                .secret_retiring
                .as_ref()
                .filter(|r| r.until <= now)
                .map(|r| &r.hash),
        }
    }

    /// Whether the secret with this hash authenticates at `now`: it is listed, and is not a
    /// retiring secret past its overlap. The storage adapters' client checks say the same.
    pub fn secret_is_live(&self, hash: &SecretHash, now: u64) -> bool {
        self.secret_hashes.contains(hash)
            && !self
                .secret_retiring
                .as_ref()
                .is_some_and(|r| r.hash == *hash && r.until <= now)
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
    /// When the code was consumed. A consumed code is marked, not deleted (it goes at its TTL):
    /// if the exchange that consumed it issued nothing (the function gave up on a slow store,
    /// and the write landed later), its own client can still redeem it once, within its
    /// lifetime ([`crate::grants::code`]). Whether tokens were issued is the grant item's
    /// existence (its id is derived from the code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumed_at: Option<u64>,
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
            retired: None,
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
    /// Stored as `token_client` and `token_user`, not under the `by_client` and `by_user` index
    /// keys: only grant items (and API keys) are listed by client and by user, and an item
    /// without an index's key is not written to that index, which saves two index writes per
    /// token (`make bench`'s cost table). Items written before read back through the aliases.
    #[serde(rename = "token_client", alias = "client_id")]
    pub client_id: ClientId,
    #[serde(rename = "token_user", alias = "user_sub")]
    pub user_sub: Subject,
    pub user: UserInfo,
    pub scopes: Vec<String>,
    pub created_at: u64,
    /// Access token: its end. Active refresh token: its end (sliding). Retired refresh token:
    /// how long it is kept so that its reuse is recognised.
    pub expires_at: u64,
    /// The grant's absolute end, when the deployment sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_expires_at: Option<u64>,
    /// The least the grant item must be kept (a refresh never moves the grant's end before
    /// it): the code's end plus the replay margin, so a consumed code can never find its grant
    /// gone and be redeemed again (review finding 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_keep_until: Option<u64>,
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
            grant_expires_at: None,
            grant_keep_until: None,
            retired_at: None,
            retries: 0,
            next_access: None,
            next_refresh: None,
        }
    }

    /// RFC 6750: whether this item answers for a presented access token that names `client_id`
    /// at `now`: an access token (not a refresh token), issued to that client, unexpired (TTL
    /// deletes late). The client's own standing is the caller's to check; every
    /// [`crate::ports::AccessTokenLookup`] adapter applies this one rule.
    pub fn is_live_access_token_of(&self, client_id: &ClientId, now: u64) -> bool {
        self.kind == ItemKind::Access
            && self.client_id == *client_id
            && self.expires_at > now
            && self.retired_at.is_none()
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
    /// The access token the newest refresh replaced: the two newest access tokens are named here,
    /// so revocation deletes them by key even before the `by_grant` index shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_access: Option<SecretHash>,
    /// When the grant was last refreshed (`portcullis grants list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<u64>,
    /// A revoked grant stays as a tombstone until its TTL: a racing exchange for the same grant
    /// id (derived from the code) fails its `attribute_not_exists` condition, and a racing
    /// refresh fails its condition on the grant, so nothing written after a revocation
    /// survives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
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
