//! The token endpoint's rules (RFC 6749 §3.2, §4.1.3, §5; RFC 7636 §4.5–4.6; RFC 9700 §4.8.2),
//! free of HTTP.
use crate::clock::{Clock, Entropy};
use crate::error::{EndpointError, ErrorCode, OAuthError};
use crate::model::{
    grant_id_for_code, matching_secret, ClientCheck, GrantRecord, Issuance, ItemKind, TokenRecord,
};
use crate::pkce::parse_verifier;
use crate::scope::join_scope;
use crate::secret::{ct_eq_str, AccessToken, AuthorizationCode, ClientSecret, RefreshToken};
use crate::store::{CodeRedeem, GrantRevocation, IssueOutcome, TokenIssue};
use serde::Serialize;
use std::collections::HashMap;

/// Request parameters from a form or JSON body, with repeated names noted (RFC 6749 §3.2).
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut p = Self::default();
        for (k, v) in pairs {
            match p.values.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    if !p.repeated.contains(e.key()) {
                        p.repeated.push(e.key().clone());
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        p
    }
    /// A parameter's value; an empty value is absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
    pub fn repeated(&self) -> &[String] {
        &self.repeated
    }
}

/// Who the client says it is, from HTTP Basic or the body (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub secret: Option<ClientSecret>,
}

impl ClientCredentials {
    /// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64; a client must not
    /// use more than one authentication method in a request (§2.3), so credentials in both
    /// places must agree.
    pub fn from_request(
        basic: Option<(String, String)>,
        params: &Params,
    ) -> Result<Self, OAuthError> {
        let body_id = params.get("client_id").map(str::to_string);
        let body_secret = params.get("client_secret").map(ClientSecret::new);
        match basic {
            Some((id, secret)) => {
                // Some clients repeat the secret in the body; the same secret twice is no
                // ambiguity, two different ones are.
                if body_secret
                    .as_ref()
                    .is_some_and(|b| !ct_eq_str(b.secret(), &secret))
                {
                    return Err(OAuthError::invalid_request(
                        "different client credentials were sent in the Authorization header and in the body",
                    ));
                }
                if body_id.as_deref().is_some_and(|b| b != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the one in the Authorization header",
                    ));
                }
                Ok(Self {
                    client_id: Some(id),
                    secret: (!secret.is_empty()).then(|| ClientSecret::new(secret)),
                })
            }
            None => Ok(Self {
                client_id: body_id,
                secret: body_secret,
            }),
        }
    }
}

/// A parsed token request. Only the authorization code grant for now; refresh joins it.
#[derive(Debug, Clone)]
pub enum TokenRequest {
    AuthorizationCode {
        code: AuthorizationCode,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
}

impl TokenRequest {
    /// RFC 6749 §4.1.3 and §5.2: parse once, at the edge.
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        if let Some(name) = params.repeated().first() {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{name}` was sent more than once"
            )));
        }
        match params.get("grant_type") {
            None => Err(OAuthError::invalid_request("grant_type is required")),
            Some("authorization_code") => {
                let code = params
                    .get("code")
                    .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
                Ok(Self::AuthorizationCode {
                    code: AuthorizationCode::new(code),
                    redirect_uri: params.get("redirect_uri").map(str::to_string),
                    code_verifier: params.get("code_verifier").map(str::to_string),
                })
            }
            Some(other) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "grant_type `{}` is not supported",
                    other.chars().take(64).collect::<String>()
                ),
            )),
        }
    }
}

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
}

pub struct TokenContext<'a> {
    pub clock: &'a dyn Clock,
    pub entropy: &'a dyn Entropy,
    pub access_ttl: u64,
    pub refresh_ttl: u64,
}

fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant("the authorization code is invalid, expired or already used")
}

/// RFC 6749 §4.1.3: exchanges a code for tokens.
///
/// The code is consumed first, atomically: whatever follows, it cannot be used again. A code
/// that is not there may be a replay, so the grant it started is revoked with every token issued
/// from it (RFC 6749 §4.1.2 "SHOULD revoke"; Cal.com's weakness 1).
pub async fn exchange_code<S>(
    store: &S,
    creds: &ClientCredentials,
    code: &AuthorizationCode,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    ctx: &TokenContext<'_>,
) -> Result<TokenResponse, EndpointError>
where
    S: CodeRedeem + TokenIssue + GrantRevocation + ?Sized,
{
    let now = ctx.clock.now();
    let code_hash = code.hash();
    let Some(rec) = store.consume_code(&code_hash, now).await? else {
        let grant_id = grant_id_for_code(&code_hash);
        let revoked = store.revoke_grant(&grant_id).await?;
        if revoked > 0 {
            tracing::warn!(
                grant_id,
                revoked,
                "authorization code replayed; its grant was revoked"
            );
        }
        return Err(invalid_code().into());
    };

    // RFC 6749 §4.1.3: the code must have been issued to the authenticated client.
    let Some(client_id) = creds.client_id.as_deref() else {
        return Err(OAuthError::invalid_client(
            "client authentication is required: send client_id",
        )
        .into());
    };
    if client_id != rec.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was not issued to this client",
        )
        .into());
    }
    let secret_hash = if rec.client_public {
        if creds.secret.is_some() {
            return Err(OAuthError::invalid_client(
                "this is a public client: it has no client_secret",
            )
            .into());
        }
        None
    } else {
        let secret = creds.secret.as_ref().ok_or_else(|| {
            OAuthError::invalid_client("client_secret is required for this client")
        })?;
        Some(
            matching_secret(&rec.client_secret_hashes, secret)
                .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?,
        )
    };

    // RFC 6749 §4.1.3: redirect_uri must be identical when the authorization request had one.
    let redirect_ok = match redirect_uri {
        Some(r) => r == rec.redirect_uri,
        None => !rec.redirect_uri_explicit,
    };
    if !redirect_ok {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the one in the authorization request",
        )
        .into());
    }

    // RFC 7636 §4.6, RFC 9700 §4.8.2.
    match (&rec.code_challenge, code_verifier) {
        (Some(challenge), Some(v)) => {
            if !challenge.verify(&parse_verifier(v)?) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                )
                .into());
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required: the authorization used PKCE",
            )
            .into())
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge",
            )
            .into())
        }
        (None, None) => {}
    }

    let grant_id = rec.grant_id();
    let access = AccessToken::generate(ctx.entropy);
    let refresh = RefreshToken::generate(ctx.entropy);
    let token = |pk, kind, ttl: u64| TokenRecord {
        pk,
        kind,
        grant_id: grant_id.clone(),
        client_id: rec.client_id.clone(),
        user_sub: rec.user.sub.clone(),
        user: rec.user.clone(),
        scopes: rec.scopes.clone(),
        created_at: now,
        expires_at: now + ttl,
    };
    let issuance = Issuance {
        grant: GrantRecord {
            pk: GrantRecord::key(&grant_id),
            kind: ItemKind::Grant,
            grant_id: grant_id.clone(),
            client_id: rec.client_id.clone(),
            user_sub: rec.user.sub.clone(),
            scopes: rec.scopes.clone(),
            created_at: now,
            expires_at: now + ctx.refresh_ttl,
        },
        access: token(access.hash(), ItemKind::Access, ctx.access_ttl),
        refresh: token(refresh.hash(), ItemKind::Refresh, ctx.refresh_ttl),
        client_check: ClientCheck {
            client_id: rec.client_id.clone(),
            secret_hash,
        },
    };
    let outcome = match store.issue_tokens(&issuance).await {
        Ok(o) => o,
        Err(e) => {
            // Nothing was written: put the code back so the client's retry can succeed.
            if let Err(restore) = store.restore_code(&rec).await {
                tracing::warn!(error = %restore, "could not restore the code after a failed exchange");
            }
            return Err(e.into());
        }
    };
    match outcome {
        IssueOutcome::Issued => {}
        IssueOutcome::AlreadyIssued => {
            store.revoke_grant(&grant_id).await?;
            tracing::warn!(
                grant_id,
                "authorization code exchanged twice; its grant was revoked"
            );
            return Err(invalid_code().into());
        }
        IssueOutcome::ClientRejected => {
            return Err(OAuthError::invalid_client(
                "the client is disabled or its secret is no longer valid",
            )
            .into())
        }
    }
    tracing::info!(client_id = %rec.client_id, grant_id, "authorization code exchanged");
    Ok(TokenResponse {
        access_token: access.secret().to_string(),
        token_type: "Bearer",
        expires_in: ctx.access_ttl,
        refresh_token: refresh.secret().to_string(),
        scope: join_scope(&rec.scopes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::{issue_code, validate_request, AuthorizeParams, IssueContext};
    use crate::clock::{FixedClock, OsEntropy};
    use crate::model::Client;
    use crate::model::UserInfo;
    use crate::pkce::CodeChallenge;
    use crate::scope::ScopeCatalog;
    use crate::session::Session;
    use crate::store::{MemoryStore, TokenLookup};

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const SECRET: &str = "pc_cs_the-secret";

    struct World {
        store: MemoryStore,
        clock: FixedClock,
    }

    fn world(public: bool) -> World {
        let store = MemoryStore::new();
        store.upsert_client(Client {
            client_id: "c1".into(),
            name: "App".into(),
            logo_uri: None,
            redirect_uris: vec!["https://app.example/cb".into()],
            scopes: vec!["READ_PROFILE".into()],
            public,
            trusted: false,
            disabled: false,
            secret_hashes: if public {
                vec![]
            } else {
                vec![ClientSecret::new(SECRET).hash()]
            },
            created_at: 0,
        });
        World {
            store,
            clock: FixedClock::at(10_000),
        }
    }

    impl World {
        /// Runs the authorization step and returns the code.
        async fn code(&self, query: &str) -> AuthorizationCode {
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let p =
                AuthorizeParams::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())));
            let req = validate_request(&self.store, &ScopeCatalog::default(), "https://iss", &p)
                .await
                .unwrap();
            let user = Session {
                user: UserInfo {
                    sub: "u1".into(),
                    username: Some("ada".into()),
                    email: None,
                    name: None,
                },
                exp: 0,
            };
            let ctx = IssueContext {
                clock: &self.clock,
                entropy: &OsEntropy,
                code_ttl: 600,
                issuer: "https://iss",
            };
            let loc = issue_code(&self.store, &req, &user, &ctx).await.unwrap();
            let url = url::Url::parse(&loc).unwrap();
            let code = url
                .query_pairs()
                .find(|(k, _)| k == "code")
                .unwrap()
                .1
                .to_string();
            AuthorizationCode::new(code)
        }

        async fn exchange(
            &self,
            creds: (&str, Option<&str>),
            code: &AuthorizationCode,
            redirect_uri: Option<&str>,
            verifier: Option<&str>,
        ) -> Result<TokenResponse, ErrorCode> {
            let creds = ClientCredentials {
                client_id: Some(creds.0.into()),
                secret: creds.1.map(ClientSecret::new),
            };
            let ctx = TokenContext {
                clock: &self.clock,
                entropy: &OsEntropy,
                access_ttl: 1800,
                refresh_ttl: 86400,
            };
            exchange_code(&self.store, &creds, code, redirect_uri, verifier, &ctx)
                .await
                .map_err(|e| e.public().code)
        }
    }

    const Q: &str = "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=READ_PROFILE";
    const CB: Option<&str> = Some("https://app.example/cb");

    #[tokio::test]
    async fn confidential_client_exchanges_a_code_for_bearer_tokens() {
        let w = world(false);
        let code = w.code(Q).await;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, 1800);
        assert_eq!(t.scope, "READ_PROFILE");
        assert!(t.access_token.starts_with("pc_at_") && t.refresh_token.starts_with("pc_rt_"));
        let rec = w
            .store
            .token(&AccessToken::new(t.access_token).hash(), 10_001)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.user.username.as_deref(), Some("ada"));
    }

    /// RFC 6749 §4.1.2: single use; a second use revokes the tokens the first one issued.
    #[tokio::test]
    async fn code_is_rejected_on_second_use_and_its_tokens_are_revoked() {
        let w = world(false);
        let code = w.code(Q).await;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        let again = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(again.err(), Some(ErrorCode::InvalidGrant));
        let access = w
            .store
            .token(&AccessToken::new(t.access_token).hash(), 10_001)
            .await
            .unwrap();
        let refresh = w
            .store
            .token(&RefreshToken::new(t.refresh_token).hash(), 10_001)
            .await
            .unwrap();
        assert!(access.is_none() && refresh.is_none());
    }

    #[tokio::test]
    async fn expired_code_is_invalid_grant() {
        let w = world(false);
        let code = w.code(Q).await;
        w.clock.advance(600);
        let r = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
    }

    /// RFC 6749 §4.1.3: redirect_uri must be identical to the authorization request's.
    #[tokio::test]
    async fn wrong_or_missing_redirect_uri_is_invalid_grant() {
        let w = world(false);
        let code = w.code(Q).await;
        let r = w
            .exchange(
                ("c1", Some(SECRET)),
                &code,
                Some("https://app.example/other"),
                None,
            )
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        let code = w.code(Q).await;
        let r = w.exchange(("c1", Some(SECRET)), &code, None, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
    }

    #[tokio::test]
    async fn redirect_uri_may_be_omitted_when_the_authorization_request_omitted_it() {
        let w = world(false);
        let code = w.code("client_id=c1").await;
        assert!(w
            .exchange(("c1", Some(SECRET)), &code, None, None)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn wrong_client_secret_is_invalid_client() {
        let w = world(false);
        let code = w.code(Q).await;
        let r = w
            .exchange(("c1", Some("pc_cs_wrong")), &code, CB, None)
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        let code = w.code(Q).await;
        let r = w.exchange(("c1", None), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
    }

    #[tokio::test]
    async fn code_issued_to_another_client_is_invalid_grant() {
        let w = world(false);
        let code = w.code(Q).await;
        let r = w.exchange(("c2", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
    }

    #[tokio::test]
    async fn disabled_client_cannot_finish_the_exchange() {
        let w = world(false);
        let code = w.code(Q).await;
        let mut c = w.store.client_for_test("c1");
        c.disabled = true;
        w.store.upsert_client(c);
        let r = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
    }

    /// RFC 7636 §4.6.
    #[tokio::test]
    async fn public_client_with_pkce_exchanges_and_wrong_verifier_is_invalid_grant() {
        let w = world(true);
        let q = format!(
            "{Q}&code_challenge={}&code_challenge_method=S256",
            CodeChallenge::s256(VERIFIER).as_str()
        );
        let code = w.code(&q).await;
        assert!(w
            .exchange(("c1", None), &code, CB, Some(VERIFIER))
            .await
            .is_ok());
        let code = w.code(&q).await;
        let wrong = "a".repeat(43);
        assert_eq!(
            w.exchange(("c1", None), &code, CB, Some(&wrong))
                .await
                .err(),
            Some(ErrorCode::InvalidGrant)
        );
        let code = w.code(&q).await;
        assert_eq!(
            w.exchange(("c1", None), &code, CB, None).await.err(),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// RFC 9700 §4.8.2: a verifier for a code issued without a challenge is refused.
    #[tokio::test]
    async fn code_verifier_for_a_code_without_challenge_is_rejected() {
        let w = world(false);
        let code = w.code(Q).await;
        let r = w
            .exchange(("c1", Some(SECRET)), &code, CB, Some(VERIFIER))
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
    }

    #[test]
    fn token_request_parsing_names_what_is_wrong() {
        let p =
            |s: &str| Params::from_pairs(url::form_urlencoded::parse(s.as_bytes()).into_owned());
        let code = |r: Result<TokenRequest, OAuthError>| r.err().map(|e| e.code);
        assert_eq!(
            code(TokenRequest::parse(&p("code=x"))),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(TokenRequest::parse(&p("grant_type=password"))),
            Some(ErrorCode::UnsupportedGrantType)
        );
        assert_eq!(
            code(TokenRequest::parse(&p("grant_type=authorization_code"))),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(TokenRequest::parse(&p(
                "grant_type=authorization_code&code=a&code=b"
            ))),
            Some(ErrorCode::InvalidRequest)
        );
        assert!(TokenRequest::parse(&p("grant_type=authorization_code&code=a")).is_ok());
    }

    /// RFC 6749 §2.3: one authentication method per request; the same credentials repeated in
    /// the body are tolerated, conflicting ones are not.
    #[test]
    fn conflicting_basic_and_body_credentials_are_invalid_request() {
        let p = Params::from_pairs([("client_secret".to_string(), "other".to_string())]);
        assert!(ClientCredentials::from_request(Some(("c1".into(), "s".into())), &p).is_err());
        let p = Params::from_pairs([("client_secret".to_string(), "s".to_string())]);
        assert!(ClientCredentials::from_request(Some(("c1".into(), "s".into())), &p).is_ok());
        let p = Params::from_pairs([("client_id".to_string(), "c2".to_string())]);
        assert!(ClientCredentials::from_request(Some(("c1".into(), "s".into())), &p).is_err());
        let p = Params::from_pairs([("client_id".to_string(), "c1".to_string())]);
        assert!(ClientCredentials::from_request(Some(("c1".into(), "s".into())), &p).is_ok());
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;
    use crate::clock::{FixedClock, OsEntropy};
    use crate::error::StoreError;
    use crate::model::{CodeRecord, UserInfo};
    use crate::secret::SecretHash;
    use crate::store::{CodeIssue, MemoryStore, TokenLookup};
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The memory store, with token issuance failing as DynamoDB does when throttled.
    struct Flaky {
        inner: MemoryStore,
        fail: AtomicBool,
    }

    #[async_trait]
    impl CodeRedeem for Flaky {
        async fn consume_code(
            &self,
            h: &SecretHash,
            now: u64,
        ) -> Result<Option<CodeRecord>, StoreError> {
            self.inner.consume_code(h, now).await
        }
        async fn restore_code(&self, c: &CodeRecord) -> Result<(), StoreError> {
            self.inner.restore_code(c).await
        }
    }
    #[async_trait]
    impl TokenIssue for Flaky {
        async fn issue_tokens(&self, i: &Issuance) -> Result<IssueOutcome, StoreError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("throttled".into()));
            }
            self.inner.issue_tokens(i).await
        }
    }
    #[async_trait]
    impl GrantRevocation for Flaky {
        async fn revoke_grant(&self, g: &str) -> Result<usize, StoreError> {
            self.inner.revoke_grant(g).await
        }
    }

    const NOW: u64 = 1000;

    /// A registered confidential client and an unexpired code issued to it.
    async fn seeded(
        store: &MemoryStore,
        code: &str,
    ) -> (AuthorizationCode, CodeRecord, ClientCredentials) {
        let secret = ClientSecret::new("pc_cs_s");
        store.upsert_client(crate::model::Client {
            client_id: "c1".into(),
            name: "App".into(),
            logo_uri: None,
            redirect_uris: vec!["https://a/cb".into()],
            scopes: vec!["READ_PROFILE".into()],
            public: false,
            trusted: false,
            disabled: false,
            secret_hashes: vec![secret.hash()],
            created_at: 0,
        });
        let code = AuthorizationCode::new(code);
        let rec = CodeRecord {
            pk: code.hash(),
            client_id: "c1".into(),
            client_public: false,
            client_secret_hashes: vec![secret.hash()],
            redirect_uri: "https://a/cb".into(),
            redirect_uri_explicit: false,
            scopes: vec!["READ_PROFILE".into()],
            user: UserInfo {
                sub: "u".into(),
                ..Default::default()
            },
            code_challenge: None,
            created_at: 0,
            expires_at: NOW + 600,
        };
        store.put_code(&rec).await.unwrap();
        let creds = ClientCredentials {
            client_id: Some("c1".into()),
            secret: Some(secret),
        };
        (code, rec, creds)
    }

    async fn exchange<S: CodeRedeem + TokenIssue + GrantRevocation>(
        store: &S,
        creds: &ClientCredentials,
        code: &AuthorizationCode,
    ) -> Result<TokenResponse, ErrorCode> {
        let clock = FixedClock::at(NOW);
        let ctx = TokenContext {
            clock: &clock,
            entropy: &OsEntropy,
            access_ttl: 60,
            refresh_ttl: 600,
        };
        exchange_code(store, creds, code, None, None, &ctx)
            .await
            .map_err(|e| e.public().code)
    }

    /// A storage fault mid-exchange leaves no half-done state: the code is back, the retry works.
    #[tokio::test]
    async fn a_storage_fault_during_issuance_is_503_and_the_code_survives_for_the_retry() {
        let store = Flaky {
            inner: MemoryStore::new(),
            fail: AtomicBool::new(true),
        };
        let (code, _, creds) = seeded(&store.inner, "pc_ac_code").await;
        let first = exchange(&store, &creds, &code).await;
        assert_eq!(first.err(), Some(ErrorCode::TemporarilyUnavailable));
        assert_eq!(
            store.inner.counts(),
            (1, 0),
            "code restored, no token written"
        );

        store.fail.store(false, Ordering::SeqCst);
        let t = exchange(&store, &creds, &code).await.unwrap();
        let h = AccessToken::new(t.access_token).hash();
        assert!(store.inner.token(&h, NOW + 1).await.unwrap().is_some());
    }

    /// If a first exchange's answer was lost after it succeeded and the code came back, a second
    /// exchange cannot mint a second set of tokens: the grant id is derived from the code.
    #[tokio::test]
    async fn a_second_issuance_for_one_code_is_refused_and_revokes_the_grant() {
        let store = MemoryStore::new();
        let (code, rec, creds) = seeded(&store, "pc_ac_twice").await;
        let first = exchange(&store, &creds, &code).await.unwrap();
        store.restore_code(&rec).await.unwrap();
        let second = exchange(&store, &creds, &code).await;
        assert_eq!(second.err(), Some(ErrorCode::InvalidGrant));
        let h = AccessToken::new(first.access_token).hash();
        assert!(store.token(&h, NOW + 1).await.unwrap().is_none());
    }
}
