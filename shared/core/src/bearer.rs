//! Authentication at resource endpoints (RFC 6750): an OAuth access token or an API key. The
//! same rules protect `/me` and the product's own API Lambdas (through `portcullis-resource`).
use crate::api_keys::ApiKeyRecord;
use crate::codec::parse_access;
use crate::error::{EndpointError, ErrorCode, OAuthError};
use crate::ids::{ClientId, GrantId, Subject};
use crate::keyring::KeyRing;
use crate::model::UserInfo;
use crate::ports::{ApiKeyLookup, GrantRead};
use crate::secret::{AccessToken, ApiKey};

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// An OAuth access token in `Authorization: Bearer`.
    AccessToken,
    /// An API key in `Authorization: Bearer`.
    ApiKey,
    /// An API key in the query, `?apiKey=` (Cal.com's API v1 form).
    ApiKeyQuery,
}

/// Who a request speaks for: a user (through an app's access token, or an API key), or a client
/// on its own behalf (a client-credentials token, RFC 6749 §4.4), which has no user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who the credential names: the user's subject, or for a client's own token the client id
    /// (RFC 9068 §2.2: `sub` of a client-credentials token is the client).
    pub subject: Subject,
    /// The user; `None` when a client calls on its own behalf ([`Principal::is_client`]).
    /// For an API key only `sub` is known.
    pub user: Option<UserInfo>,
    /// The OAuth client the token was issued to; `None` for an API key.
    pub client_id: Option<ClientId>,
    pub scopes: Vec<String>,
    pub method: AuthMethod,
    /// The grant the token descends from, or the API key's id (`ak_…`).
    pub grant_id: GrantId,
    /// RFC 8707: the resource an access token was issued for (its audience); `None` for a token
    /// with no audience restriction, and for an API key.
    pub resource: Option<String>,
}

/// The old name, for `/me`'s code.
pub type AccessContext = Principal;

impl Principal {
    /// [`Principal::subject`]: the user's subject, or the client id of a client's own token.
    pub fn sub(&self) -> &Subject {
        &self.subject
    }

    /// Whether a user is calling (through an app, or with an API key).
    pub fn is_user(&self) -> bool {
        self.user.is_some()
    }

    /// Whether a client is calling on its own behalf (client credentials): no user.
    pub fn is_client(&self) -> bool {
        self.user.is_none()
    }

    /// The user, for an API that acts on a user's data; a client's own token is refused with
    /// RFC 6750 §3.1 `invalid_token` ("invalid for other reasons": it names no user), so a
    /// product API refuses machine callers in one line: `let user = principal.require_user()?;`.
    pub fn require_user(&self) -> Result<&UserInfo, OAuthError> {
        self.user.as_ref().ok_or_else(|| {
            OAuthError::invalid_token(
                "this token is a client's own (client_credentials): it has no user, and this API acts for a user",
            )
        })
    }

    /// RFC 6750 §3.1: a credential without the scope gets `insufficient_scope` (403).
    pub fn require_scope(&self, scope: &str) -> Result<(), OAuthError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                format!("this request needs the {scope} scope"),
            ))
        }
    }
}

/// A credential as the request presented it, told apart by its prefix.
#[derive(Debug, Clone)]
pub enum Presented {
    AccessToken(AccessToken),
    ApiKey(ApiKey, AuthMethod),
}

impl Presented {
    pub fn is_api_key(&self) -> bool {
        matches!(self, Self::ApiKey(..))
    }
}

/// The query parameter an API key may be sent in (Cal.com's API v1).
pub const API_KEY_PARAM: &str = "apiKey";

/// The credential of a request, from its `Authorization` header and its `apiKey` query
/// parameter. `Ok(None)` when neither was sent: RFC 6750 §3.1 says such a request gets a
/// challenge without an error code.
///
/// - RFC 6750 §2.1: `Authorization: Bearer <b64token>`; the scheme is case-insensitive (RFC 9110
///   §11.1). An access token or an API key, told apart by prefix.
/// - `?apiKey=` carries API keys only: access tokens in the query leak through logs and
///   referrers (RFC 6750 §5.3; OAuth 2.1 drops that method).
/// - RFC 6750 §2: a client must not use more than one method; both is `invalid_request`.
pub fn credentials(
    authorization: Option<&str>,
    api_key_param: Option<&str>,
) -> Result<Option<Presented>, OAuthError> {
    match (authorization, api_key_param) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "send one credential: the Authorization header or the apiKey parameter, not both",
        )),
        (Some(h), None) => {
            let token = bearer_value(h)?;
            Ok(Some(if token.starts_with(ApiKey::PREFIX) {
                Presented::ApiKey(ApiKey::new(token), AuthMethod::ApiKey)
            } else {
                Presented::AccessToken(AccessToken::new(token))
            }))
        }
        (None, Some(k)) => {
            if !k.starts_with(ApiKey::PREFIX) {
                return Err(OAuthError::invalid_token(
                    "the apiKey parameter takes API keys only; send access tokens in Authorization: Bearer",
                ));
            }
            Ok(Some(Presented::ApiKey(
                ApiKey::new(k),
                AuthMethod::ApiKeyQuery,
            )))
        }
    }
}

/// RFC 6750 §2.1: the token of an `Authorization: Bearer` header.
fn bearer_value(h: &str) -> Result<&str, OAuthError> {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(OAuthError::invalid_token(
            "the Authorization header must use the Bearer scheme",
        ));
    }
    let token = rest.trim();
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let well_formed = !token.is_empty()
        && token.len() <= 512
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        });
    if !well_formed {
        return Err(OAuthError::invalid_token("the bearer token is malformed"));
    }
    Ok(token)
}

/// Validates a presented credential with one storage request (none for a malformed or forged
/// one):
/// - an access token: its tag verifies with the access-tag key ([`crate::codec`]); then one
///   strongly consistent BatchGetItem of the grant it names and its client: the grant is live
///   and names this token as its current or previous access token, unexpired, and the client
///   exists and is enabled, so revoking the grant or disabling the client stops the token at
///   once. A refresh token is never accepted here (Cal.com's weakness 3): it has another
///   prefix and another tag key.
/// - an API key: known, not expired, not revoked.
pub async fn authenticate(
    store: &(impl GrantRead + ApiKeyLookup + ?Sized),
    access_tag: &KeyRing,
    presented: Presented,
    now: u64,
) -> Result<Principal, EndpointError> {
    match presented {
        Presented::AccessToken(token) => {
            let invalid =
                || OAuthError::invalid_token("the access token is invalid or has expired");
            // Not one of ours: no need to ask the table.
            let parts = parse_access(&token, access_tag).ok_or_else(invalid)?;
            let (grant, clients) = store
                .grant_and_clients(&parts.grant_id, &[&parts.client_id], true)
                .await?;
            let view = grant
                .filter(|g| {
                    clients
                        .iter()
                        .any(|c| c.client_id == parts.client_id && c.accepts(g))
                })
                .and_then(|g| g.access(&parts.client_id, parts.generation, &token.hash(), now))
                .ok_or_else(invalid)?;
            Ok(Principal {
                subject: view
                    .user
                    .as_ref()
                    .map_or_else(|| Subject::new(view.client_id.as_str()), |u| u.sub.clone()),
                user: view.user,
                client_id: Some(view.client_id),
                scopes: view.scopes,
                method: AuthMethod::AccessToken,
                grant_id: view.grant_id,
                resource: view.resource,
            })
        }
        Presented::ApiKey(key, method) => {
            let invalid =
                || OAuthError::invalid_token("the API key is invalid, revoked or expired");
            if !key.is_well_formed() {
                return Err(invalid().into());
            }
            let rec: ApiKeyRecord = store
                .api_key(&key.hash(), now)
                .await?
                .filter(|r| r.is_live(now))
                .ok_or_else(invalid)?;
            Ok(Principal {
                subject: rec.user_sub.clone(),
                user: Some(UserInfo {
                    sub: rec.user_sub,
                    ..UserInfo::default()
                }),
                client_id: None,
                scopes: rec.scopes,
                method,
                grant_id: rec.grant_id,
                resource: None,
            })
        }
    }
}

/// For `/me`, which speaks OAuth only: the credential of the `Authorization` header, refusing
/// API keys before any storage call.
pub fn oauth_only(presented: Presented) -> Result<Presented, OAuthError> {
    if presented.is_api_key() {
        return Err(OAuthError::invalid_token(
            "API keys are not accepted here: this endpoint takes OAuth access tokens",
        ));
    }
    Ok(presented)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_keys::{new_api_key, ApiKeyRequest};
    use crate::clock::OsEntropy;
    use crate::ports::{ApiKeyRegistry, MemoryStore};
    use crate::scope::ScopeCatalog;

    fn header(h: &str) -> Result<Option<Presented>, OAuthError> {
        credentials(Some(h), None)
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_must_be_b64token() {
        assert!(header("Bearer pc_at_abc").is_ok());
        assert!(header("bearer pc_at_abc").is_ok());
        assert!(header("Basic abc").is_err());
        assert!(header("Bearer").is_err());
        assert!(header("Bearer a b").is_err());
    }

    /// RFC 6750 §3.1: a request without any credential gets no error code.
    #[test]
    fn no_credentials_at_all_is_not_an_error_code() {
        assert!(matches!(credentials(None, None), Ok(None)));
    }

    /// RFC 6750 §2: one method per request.
    #[test]
    fn credentials_in_both_header_and_query_are_invalid_request() {
        let e = credentials(Some("Bearer pc_ak_x"), Some("pc_ak_x")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn api_keys_and_access_tokens_are_told_apart_by_prefix() {
        assert!(matches!(
            header("Bearer pc_ak_abc"),
            Ok(Some(Presented::ApiKey(_, AuthMethod::ApiKey)))
        ));
        assert!(matches!(
            header("Bearer pc_at_abc"),
            Ok(Some(Presented::AccessToken(_)))
        ));
        assert!(matches!(
            credentials(None, Some("pc_ak_abc")),
            Ok(Some(Presented::ApiKey(_, AuthMethod::ApiKeyQuery)))
        ));
    }

    /// RFC 6750 §5.3: access tokens are not taken from the query.
    #[test]
    fn access_tokens_in_the_query_are_refused() {
        let e = credentials(None, Some("pc_at_abc")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidToken);
    }

    #[test]
    fn oauth_only_endpoints_refuse_api_keys() {
        let k = header("Bearer pc_ak_abc").unwrap().unwrap();
        assert_eq!(oauth_only(k).unwrap_err().code, ErrorCode::InvalidToken);
        let t = header("Bearer pc_at_abc").unwrap().unwrap();
        assert!(oauth_only(t).is_ok());
    }

    /// Issue 17: a product API refuses machine callers in one line: `require_user` is
    /// `invalid_token` for a client's own token and the user for anyone else.
    #[tokio::test]
    async fn require_user_refuses_a_client_credentials_token() {
        let w = crate::testkit::World::new();
        let m = crate::testkit::client("m1").machine().build();
        let t = w.issue_client_token(&m, &Default::default()).await.unwrap();
        let p = w.access(&t.access_token).await.unwrap();
        assert!(p.is_client() && !p.is_user());
        assert_eq!(p.sub().as_str(), "m1");
        assert_eq!(p.require_user().unwrap_err().code, ErrorCode::InvalidToken);
    }

    #[test]
    fn missing_scope_is_insufficient_scope() {
        let ctx = Principal {
            subject: Subject::new("u"),
            user: Some(UserInfo::default()),
            client_id: Some("c".into()),
            scopes: vec!["READ_BOOKING".into()],
            method: AuthMethod::AccessToken,
            grant_id: "g".into(),
            resource: None,
        };
        assert_eq!(
            ctx.require_scope("READ_PROFILE").map_err(|e| e.code),
            Err(ErrorCode::InsufficientScope)
        );
        assert!(ctx.require_scope("READ_BOOKING").is_ok());
    }

    async fn stored_key(store: &MemoryStore, expires_in: Option<u64>) -> ApiKey {
        let k = new_api_key(
            ApiKeyRequest {
                sub: "u-key".into(),
                scopes: vec!["READ_BOOKING".into()],
                name: None,
                expires_in,
            },
            &ScopeCatalog::default(),
            &OsEntropy,
            1_000,
        )
        .unwrap();
        store.create_api_key(&k.record).await.unwrap();
        k.key
    }

    #[tokio::test]
    async fn a_live_api_key_authenticates_its_user_with_its_scopes_and_no_client() {
        let store = MemoryStore::new();
        let key = stored_key(&store, None).await;
        store.reset_calls();
        let p = authenticate(
            &store,
            &crate::testkit::test_keys().access_tag,
            Presented::ApiKey(key, AuthMethod::ApiKeyQuery),
            2_000,
        )
        .await
        .unwrap();
        assert_eq!(store.calls(), 1);
        assert_eq!(p.sub().as_str(), "u-key");
        assert_eq!(p.client_id, None);
        assert_eq!(p.scopes, ["READ_BOOKING"]);
        assert_eq!(p.method, AuthMethod::ApiKeyQuery);
    }

    #[tokio::test]
    async fn expired_revoked_and_unknown_api_keys_are_invalid_token() {
        let store = MemoryStore::new();
        let expiring = stored_key(&store, Some(60)).await;
        let e = authenticate(
            &store,
            &crate::testkit::test_keys().access_tag,
            Presented::ApiKey(expiring, AuthMethod::ApiKey),
            1_060,
        )
        .await
        .unwrap_err();
        assert_eq!(e.public().code, ErrorCode::InvalidToken);

        let revoked = stored_key(&store, None).await;
        let id = store
            .api_keys_of(&"u-key".into())
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.pk.ct_eq(&revoked.hash()))
            .unwrap()
            .grant_id;
        assert!(store.revoke_api_key(&id).await.unwrap());
        let e = authenticate(
            &store,
            &crate::testkit::test_keys().access_tag,
            Presented::ApiKey(revoked, AuthMethod::ApiKey),
            1_001,
        )
        .await
        .unwrap_err();
        assert_eq!(e.public().code, ErrorCode::InvalidToken);

        store.reset_calls();
        let garbage = ApiKey::new("pc_ak_short");
        assert!(authenticate(
            &store,
            &crate::testkit::test_keys().access_tag,
            Presented::ApiKey(garbage, AuthMethod::ApiKey),
            1_001
        )
        .await
        .is_err());
        assert_eq!(store.calls(), 0, "a malformed key costs no storage call");
    }
}
