//! API keys: long-lived credentials an operator issues to one user for the product's own APIs
//! (Cal.com's API v1 `?apiKey=`). They are not OAuth tokens: no client, no consent, no refresh.
//!
//! Storage: an item of kind `api_key` in the tokens table, keyed like a token by the key's hash,
//! with the owner in `user_sub` and the key's id in `grant_id` (an API key is its own grant) and
//! in `key_id`. So the resource server finds a key with one `GetItem`, the `by_user` index lists
//! a user's keys (range key `grant_id` beginning with [`KEY_ID_PREFIX`]), and the `by_key` index
//! (on `key_id`, which only API keys carry, so grant items cost it no write) finds a key by its
//! id for `apikey revoke`. No `expires_at` means no expiry
//! (and no TTL); with one, expiry is checked in code at every use, as for tokens.
use crate::clock::Entropy;
use crate::ids::{GrantId, Subject};
use crate::model::ItemKind;
use crate::scope::ScopeCatalog;
use crate::secret::{ApiKey, SecretHash};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Every key id starts with this; nothing else in `grant_id` does (grants are `g_…`).
pub const KEY_ID_PREFIX: &str = "ak_";
/// The longest `--name`, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A stored API key: never the key, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub pk: SecretHash,
    pub kind: ItemKind,
    /// The key's id (`ak_…`), shown by `apikey list` and taken by `apikey revoke`.
    pub grant_id: GrantId,
    /// The same id, as the `by_key` index's key.
    pub key_id: GrantId,
    pub user_sub: Subject,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub created_at: u64,
    /// `None`: the key lives until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl ApiKeyRecord {
    /// The key's id.
    pub fn id(&self) -> &GrantId {
        &self.grant_id
    }
    /// Expiry in code, not only in the table: TTL deletes late.
    pub fn is_live(&self, now: u64) -> bool {
        self.kind == ItemKind::ApiKey && self.expires_at.is_none_or(|end| end > now)
    }
}

/// Whether `s` has the shape of a key id (so `apikey revoke` can never name an OAuth grant).
pub fn is_key_id(s: &str) -> bool {
    s.strip_prefix(KEY_ID_PREFIX).is_some_and(|body| {
        body.len() == 16
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// What `apikey create` asks for.
#[derive(Debug, Clone)]
pub struct ApiKeyRequest {
    pub sub: String,
    pub scopes: Vec<String>,
    pub name: Option<String>,
    /// Seconds from now; `None` for no expiry.
    pub expires_in: Option<u64>,
}

/// Why a key cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("--sub must not be empty")]
    EmptySubject,
    #[error("--scopes: give at least one scope")]
    NoScopes,
    #[error("--scopes: unknown scope `{0}` (configured: {1})")]
    UnknownScope(String, String),
    #[error("--name must be 1 to {MAX_NAME_CHARS} characters")]
    BadName,
    #[error("--expires-in must be at least 1 second")]
    BadExpiry,
}

/// A new key: the record to store and the key itself, shown once.
#[derive(Debug)]
pub struct NewApiKey {
    pub key: ApiKey,
    pub record: ApiKeyRecord,
}

/// Checks the request against the configured scopes and draws the key (256 bits) and its id
/// (96 bits: unique, not secret).
pub fn new_api_key(
    req: ApiKeyRequest,
    catalog: &ScopeCatalog,
    entropy: &dyn Entropy,
    now: u64,
) -> Result<NewApiKey, ApiKeyError> {
    let sub = req.sub.trim();
    if sub.is_empty() {
        return Err(ApiKeyError::EmptySubject);
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in req
        .scopes
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        if !catalog.contains(scope) {
            let known: Vec<&str> = catalog.names().collect();
            return Err(ApiKeyError::UnknownScope(scope.into(), known.join(", ")));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_string());
        }
    }
    if scopes.is_empty() {
        return Err(ApiKeyError::NoScopes);
    }
    let name = match req.name.as_deref().map(str::trim) {
        None => None,
        Some(n) if n.is_empty() || n.chars().count() > MAX_NAME_CHARS => {
            return Err(ApiKeyError::BadName)
        }
        Some(n) => Some(n.to_string()),
    };
    let expires_at = match req.expires_in {
        None => None,
        Some(0) => return Err(ApiKeyError::BadExpiry),
        Some(s) => Some(now.saturating_add(s)),
    };
    let key = ApiKey::generate(entropy);
    let mut id = [0u8; 12];
    entropy.fill(&mut id);
    let key_id = GrantId::new(format!("{KEY_ID_PREFIX}{}", URL_SAFE_NO_PAD.encode(id)));
    let record = ApiKeyRecord {
        pk: key.hash(),
        kind: ItemKind::ApiKey,
        grant_id: key_id.clone(),
        key_id,
        user_sub: Subject::from(sub),
        scopes,
        name,
        created_at: now,
        expires_at,
    };
    Ok(NewApiKey { key, record })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OsEntropy;

    fn req(scopes: &[&str]) -> ApiKeyRequest {
        ApiKeyRequest {
            sub: "u1".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            name: Some("zapier".into()),
            expires_in: None,
        }
    }

    #[test]
    fn a_new_key_is_stored_only_as_its_hash_with_owner_scopes_and_id() {
        let k = new_api_key(
            req(&["READ_BOOKING"]),
            &ScopeCatalog::default(),
            &OsEntropy,
            100,
        )
        .unwrap();
        assert!(k.key.is_well_formed());
        assert!(k.record.pk.ct_eq(&k.key.hash()));
        assert_eq!(k.record.kind, ItemKind::ApiKey);
        assert_eq!(k.record.user_sub.as_str(), "u1");
        assert!(is_key_id(k.record.id().as_str()), "{}", k.record.id());
        assert_eq!(k.record.expires_at, None);
        let stored = serde_json::to_string(&k.record).unwrap();
        assert!(!stored.contains(k.key.secret()));
    }

    #[test]
    fn a_key_with_expires_in_expires_then_and_one_without_never_does() {
        let mut r = req(&["READ_BOOKING"]);
        r.expires_in = Some(60);
        let k = new_api_key(r, &ScopeCatalog::default(), &OsEntropy, 100).unwrap();
        assert_eq!(k.record.expires_at, Some(160));
        assert!(k.record.is_live(159));
        assert!(!k.record.is_live(160));
        let forever = new_api_key(
            req(&["READ_BOOKING"]),
            &ScopeCatalog::default(),
            &OsEntropy,
            100,
        )
        .unwrap();
        assert!(forever.record.is_live(u64::MAX));
    }

    #[test]
    fn unknown_scopes_no_scopes_empty_subject_and_zero_expiry_are_refused() {
        let c = ScopeCatalog::default();
        assert!(matches!(
            new_api_key(req(&["NOPE"]), &c, &OsEntropy, 1),
            Err(ApiKeyError::UnknownScope(..))
        ));
        assert_eq!(
            new_api_key(req(&[]), &c, &OsEntropy, 1).unwrap_err(),
            ApiKeyError::NoScopes
        );
        let mut r = req(&["READ_BOOKING"]);
        r.sub = " ".into();
        assert_eq!(
            new_api_key(r, &c, &OsEntropy, 1).unwrap_err(),
            ApiKeyError::EmptySubject
        );
        let mut r = req(&["READ_BOOKING"]);
        r.expires_in = Some(0);
        assert_eq!(
            new_api_key(r, &c, &OsEntropy, 1).unwrap_err(),
            ApiKeyError::BadExpiry
        );
    }

    /// API keys never work at the OAuth endpoints: not as a code, not as a refresh token.
    #[tokio::test]
    async fn an_api_key_is_neither_a_code_nor_a_refresh_token() {
        use crate::error::ErrorCode;
        use crate::secret::{AuthorizationCode, RefreshToken};
        use crate::testkit::{client, World, REDIRECT_URI, SECRET};
        let w = World::new().with(client("c1"));
        let key = ApiKey::generate(&OsEntropy);
        let as_code = AuthorizationCode::new(key.secret());
        let e = w
            .exchange(("c1", Some(SECRET)), &as_code, Some(REDIRECT_URI), None)
            .await
            .unwrap_err();
        assert_eq!(e, ErrorCode::InvalidGrant);
        let as_refresh = RefreshToken::new(key.secret());
        let e = w
            .refresh(("c1", Some(SECRET)), &as_refresh, None)
            .await
            .unwrap_err();
        assert_eq!(e, ErrorCode::InvalidGrant);
    }

    /// `apikey revoke` takes only key ids, so it can never revoke an OAuth grant by mistake.
    #[test]
    fn key_ids_are_recognised_and_grant_ids_are_not() {
        assert!(is_key_id("ak_AAAAAAAAAAAAAAAA"));
        assert!(!is_key_id("g_AAAAAAAAAAAAAAAA"));
        assert!(!is_key_id("ak_short"));
        assert!(!is_key_id("ak_AAAAAAAAAAAAAAA!"));
    }
}
