//! `POST /api/auth/oauth/register`: dynamic client registration (RFC 7591), as MCP clients use
//! it. The rules are `portcullis_core::registration`; here: the mode, the body's size, the
//! initial access token, the deployment's caps and the one write.
//!
//! DynamoDB per request: an open (public) registration is 3 calls (the hour and day counters,
//! one conditional PutItem that also returns an identical registration's client); with an
//! initial access token, one more (its use). Nothing is written for a request refused by its
//! metadata, its token or the caps (a refused cap leaves the counters as they were).
use crate::http::{header, json, method_not_allowed};
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::{DynamoClients, DynamoCodes};
use portcullis_core::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis_core::error::{EndpointError, OAuthError, StoreError};
use portcullis_core::ports::{
    ClientRegistration, ClientRegistrationPort, DynamoAccess, InitialAccessTokenUse,
    InitialAccessTokenUsePort, Port, Registered, RegistrationCounter, RegistrationCounterPort,
    RegistrationWindow,
};
use portcullis_core::registration::{
    random_client_id, response, Authorisation, RegistrationMode, RegistrationRequest, MAX_BODY,
};
use portcullis_core::secret::{ClientSecret, InitialAccessToken};
use portcullis_core::settings::{ConfigError, FromEnv, RegisterSettings};

/// The storage ports `register` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    ClientRegistrationPort::DYNAMODB,
    RegistrationCounterPort::DYNAMODB,
    InitialAccessTokenUsePort::DYNAMODB,
];

pub struct RegisterEndpoint<C, K> {
    pub settings: RegisterSettings,
    /// The clients table: one conditional PutItem.
    pub clients: C,
    /// The codes table: the `reg#…` counters and `iat#…` tokens.
    pub codes: K,
    pub clock: Box<dyn Clock>,
    pub entropy: Box<dyn Entropy>,
}

impl RegisterEndpoint<DynamoClients, DynamoCodes> {
    /// Cold start: the clients and codes tables; no secret.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = RegisterSettings::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        Ok(Self {
            clients: DynamoClients::new(db.clone(), &settings.clients_table),
            codes: DynamoCodes::new(db, &settings.codes_table),
            settings,
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
        })
    }
}

/// With registration `off` the endpoint is not there: 404, as for an unknown path. RFC 7591
/// has no "disabled" error, and a client that finds no `registration_endpoint` in the metadata
/// never calls it.
fn not_found() -> Response<Body> {
    json(
        404,
        &serde_json::json!({
            "error": "not_found",
            "error_description": "this server does not offer dynamic client registration"
        }),
    )
}

/// RFC 6750 §2.1: `Authorization: Bearer <initial access token>`; `None` without one. A
/// malformed value or one that is not a token of ours is `invalid_token` before any storage
/// call.
fn initial_access_token(req: &Request) -> Result<Option<InitialAccessToken>, OAuthError> {
    let Some(h) = header(req, "authorization") else {
        return Ok(None);
    };
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(OAuthError::invalid_token(
            "the Authorization header must be Bearer with an initial access token",
        ));
    }
    let token = InitialAccessToken::new(rest.trim());
    if !token.is_well_formed() {
        return Err(OAuthError::invalid_token(
            "the initial access token is not valid",
        ));
    }
    Ok(Some(token))
}

impl<C, K> RegisterEndpoint<C, K>
where
    C: ClientRegistration,
    K: RegistrationCounter + InitialAccessTokenUse,
{
    /// The deployment's caps (RFC 7591 §5 leaves abuse to the server): the hour's counter, then
    /// the day's. A refusal is 429 until the window ends.
    async fn count(&self, now: u64) -> Result<(), EndpointError> {
        for (window, limit) in [
            (RegistrationWindow::Hour, self.settings.per_hour),
            (RegistrationWindow::Day, self.settings.per_day),
        ] {
            let start = window.start(now);
            if !self.codes.count_registration(window, start, limit).await? {
                return Err(EndpointError::RegistrationCapped {
                    limit,
                    per: window.name(),
                    retry_after: (start + window.seconds()).saturating_sub(now).max(1),
                });
            }
        }
        Ok(())
    }

    async fn register(&self, req: &Request) -> Result<Response<Body>, EndpointError> {
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_BODY {
            return Err(EndpointError::PayloadTooLarge(
                OAuthError::invalid_client_metadata(format!(
                    "the registration is larger than {MAX_BODY} bytes"
                )),
            ));
        }
        let json_body = header(req, "content-type").is_some_and(|c| {
            c.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json_body {
            return Err(OAuthError::invalid_client_metadata(
                "send the client metadata as application/json (RFC 7591 §3.1)",
            )
            .into());
        }
        let token = initial_access_token(req)?;
        let registration = RegistrationRequest::parse(body, &self.settings.scopes)?;
        let by = if token.is_some() {
            Authorisation::InitialAccessToken
        } else {
            Authorisation::Anonymous
        };
        registration.authorised(self.settings.mode, by)?;
        let now = self.clock.now();
        if let Some(token) = &token {
            if !self
                .codes
                .use_initial_access_token(&token.hash(), now)
                .await?
            {
                return Err(OAuthError::invalid_token(
                    "the initial access token is unknown, expired, revoked or used up",
                )
                .into());
            }
        }
        self.count(now).await?;
        let public = registration.is_public();
        let (client_id, secret) = if public {
            (registration.client_id(), None)
        } else {
            let id = random_client_id(self.entropy.as_ref());
            let keys_only = registration.jwks.is_some();
            (
                id,
                (!keys_only).then(|| ClientSecret::generate(self.entropy.as_ref())),
            )
        };
        let client = registration.into_client(
            client_id,
            secret.as_ref().map(ClientSecret::hash),
            now,
            self.settings.idle,
        );
        let stored = match self.clients.register_client(&client, now).await? {
            Registered::New => {
                tracing::info!(
                    client_id = %client.client_id,
                    public,
                    security_event = "client_registered",
                    "dynamic client registration"
                );
                client
            }
            Registered::Existing(old) if public => {
                if old.disabled {
                    return Err(OAuthError::invalid_client_metadata(
                        "a client with this metadata was disabled by the operator",
                    )
                    .into());
                }
                *old
            }
            // A random 128-bit id that is taken: not a registration to answer with.
            Registered::Existing(_) => {
                return Err(StoreError::Failed("a random client id collided".into()).into())
            }
        };
        Ok(json(201, &response(&stored, secret.as_ref())))
    }
}

impl<C, K> Endpoint for RegisterEndpoint<C, K>
where
    C: ClientRegistration,
    K: RegistrationCounter + InitialAccessTokenUse,
{
    type Error = TokenError;
    /// Browser-based MCP clients (the MCP Inspector) register from their page, as allowed by
    /// `PORTCULLIS_CORS_ORIGINS`.
    const CORS: bool = true;

    async fn handle(&self, req: Request) -> Result<Response<Body>, TokenError> {
        if self.settings.mode == RegistrationMode::Off {
            return Ok(not_found());
        }
        if req.method() != Method::POST {
            return Ok(method_not_allowed("POST"));
        }
        Ok(self.register(&req).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond::respond;
    use portcullis_core::clock::FixedClock;
    use portcullis_core::ports::{
        InitialAccessTokenRecord, InitialAccessTokenRegistry, MemoryStore, Op,
    };
    use portcullis_core::settings::env;

    const NOW: u64 = 1_800_000_000;

    fn endpoint(
        store: &MemoryStore,
        mode: &str,
        per_hour: &str,
    ) -> RegisterEndpoint<MemoryStore, MemoryStore> {
        let (mode, per_hour) = (mode.to_string(), per_hour.to_string());
        let settings = RegisterSettings::from_lookup(move |k| match k {
            env::CLIENTS_TABLE | env::CODES_TABLE => Some("t".into()),
            env::DYNAMIC_REGISTRATION => Some(mode.clone()),
            env::REGISTRATIONS_PER_HOUR => Some(per_hour.clone()),
            _ => None,
        })
        .unwrap();
        RegisterEndpoint {
            settings,
            clients: store.clone(),
            codes: store.clone(),
            clock: Box::new(FixedClock::at(NOW)),
            entropy: Box::new(OsEntropy),
        }
    }

    fn post(body: &str, bearer: Option<&str>) -> Request {
        let mut b = lambda_http::http::Request::builder()
            .method("POST")
            .uri("https://auth.example/api/auth/oauth/register")
            .header("content-type", "application/json");
        if let Some(t) = bearer {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Body::Text(body.to_string())).unwrap()
    }

    fn body(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    const PUBLIC: &str = r#"{"redirect_uris":["http://127.0.0.1:3030/cb"],"client_name":"Agent","token_endpoint_auth_method":"none","application_type":"native"}"#;
    const CONFIDENTIAL: &str = r#"{"redirect_uris":["https://app.example/cb"],"client_name":"Web app","token_endpoint_auth_method":"client_secret_basic"}"#;

    /// RFC 7591 §3.2.1; docs/architecture.md budget: an open registration is three calls (two
    /// counters, one PutItem), 201 with the client and `Cache-Control: no-store`.
    #[tokio::test]
    async fn an_open_registration_costs_three_calls_and_answers_201() {
        let store = MemoryStore::new();
        let e = endpoint(&store, "open", "100");
        let r = respond(&e, post(PUBLIC, None)).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
        let v = body(&r);
        assert!(v["client_id"].as_str().unwrap().starts_with("dcr_"));
        assert_eq!(v["client_id_issued_at"], NOW);
        assert!(v.get("client_secret").is_none());
        assert_eq!(store.calls(), 3);
        let stored = store
            .stored_client(v["client_id"].as_str().unwrap())
            .unwrap();
        assert!(stored.public && !stored.trusted);
    }

    /// Issue 18's burst: 1,000 different registrations at once against the hourly cap of 100.
    /// Exactly 100 are stored; every other one is 429 `temporarily_unavailable` with
    /// `Retry-After`, never a 5xx, and stores nothing. (The cap's counter is one conditional
    /// UpdateItem, so on DynamoDB too no more than the cap can pass.)
    #[tokio::test]
    async fn a_burst_of_1000_registrations_stores_exactly_the_cap_and_refuses_the_rest() {
        let store = MemoryStore::new();
        let e = std::sync::Arc::new(endpoint(&store, "open", "100"));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..1000 {
            let e = e.clone();
            set.spawn(async move {
                let body = PUBLIC.replace("3030", &(10_000 + i).to_string());
                let r = respond(e.as_ref(), post(&body, None)).await;
                (r.status().as_u16(), r.headers().contains_key("retry-after"))
            });
        }
        let (mut created, mut refused) = (0, 0);
        while let Some(r) = set.join_next().await {
            match r.unwrap() {
                (201, _) => created += 1,
                (429, true) => refused += 1,
                other => panic!("a burst registration answered {other:?}"),
            }
        }
        assert_eq!((created, refused), (100, 900));
        assert_eq!(store.client_count(), 100);
    }

    /// Idempotency: an identical re-registration is the same client, issued at the same time,
    /// in the same three calls (the refused PutItem returns the stored item).
    #[tokio::test]
    async fn an_identical_registration_returns_the_same_client() {
        let store = MemoryStore::new();
        let first = body(&respond(&endpoint(&store, "open", "100"), post(PUBLIC, None)).await);
        let mut later = endpoint(&store, "open", "100");
        later.clock = Box::new(FixedClock::at(NOW + 60));
        store.reset_calls();
        let again = respond(&later, post(PUBLIC, None)).await;
        assert_eq!(again.status(), 201);
        let again = body(&again);
        assert_eq!(again["client_id"], first["client_id"]);
        assert_eq!(again["client_id_issued_at"], NOW);
        assert_eq!(store.calls(), 3);
    }

    /// RFC 7591 §3: in `open` mode a confidential registration needs an initial access token;
    /// with one, it gets a secret (and the token's use is the fourth call).
    #[tokio::test]
    async fn a_confidential_registration_needs_a_token_and_then_gets_a_secret() {
        let store = MemoryStore::new();
        let e = endpoint(&store, "open", "100");
        let r = respond(&e, post(CONFIDENTIAL, None)).await;
        assert_eq!(r.status(), 400);
        assert_eq!(body(&r)["error"], "invalid_client_metadata");
        assert_eq!(store.calls(), 0);
        let token = InitialAccessToken::generate(&OsEntropy);
        store
            .create_initial_access_token(&InitialAccessTokenRecord {
                pk: InitialAccessTokenRecord::key(&token.hash()),
                created_at: NOW,
                expires_at: NOW + 60,
                max_uses: Some(1),
                used: 0,
            })
            .await
            .unwrap();
        store.reset_calls();
        let r = respond(&e, post(CONFIDENTIAL, Some(token.secret()))).await;
        assert_eq!(r.status(), 201);
        assert_eq!(store.calls(), 4);
        let v = body(&r);
        assert!(v["client_secret"].as_str().unwrap().starts_with("pc_cs_"));
        assert_eq!(v["client_secret_expires_at"], 0);
        let stored = store
            .stored_client(v["client_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            stored.secret_hashes,
            vec![ClientSecret::new(v["client_secret"].as_str().unwrap()).hash()]
        );
        // RFC 6750 §3.1: used up, the token is refused.
        let r = respond(&e, post(CONFIDENTIAL, Some(token.secret()))).await;
        assert_eq!(r.status(), 401);
        assert_eq!(body(&r)["error"], "invalid_token");
    }

    /// `token` mode: nobody registers without a token; a malformed one costs no call.
    #[tokio::test]
    async fn token_mode_refuses_anonymous_registrations() {
        let store = MemoryStore::new();
        let e = endpoint(&store, "token", "100");
        let r = respond(&e, post(PUBLIC, None)).await;
        assert_eq!(r.status(), 401);
        assert_eq!(body(&r)["error"], "invalid_token");
        let r = respond(&e, post(PUBLIC, Some("pc_iat_short"))).await;
        assert_eq!(r.status(), 401);
        assert_eq!(store.calls(), 0);
    }

    /// `off`: the endpoint is not there (404), whatever the request.
    #[tokio::test]
    async fn with_registration_off_the_endpoint_is_not_found() {
        let store = MemoryStore::new();
        let r = respond(&endpoint(&store, "off", "100"), post(PUBLIC, None)).await;
        assert_eq!(r.status(), 404);
        assert_eq!(store.calls(), 0);
    }

    /// The per-hour cap: 429 with Retry-After to the hour's end, and nothing stored past it.
    #[tokio::test]
    async fn past_the_hourly_cap_registration_is_429_and_stores_nothing() {
        let store = MemoryStore::new();
        let e = endpoint(&store, "open", "2");
        for port in [3001, 3002] {
            let b = PUBLIC.replace("3030", &port.to_string());
            assert_eq!(respond(&e, post(&b, None)).await.status(), 201);
        }
        let r = respond(&e, post(&PUBLIC.replace("3030", "3003"), None)).await;
        assert_eq!(r.status(), 429);
        assert_eq!(body(&r)["error"], "temporarily_unavailable");
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(retry, 3600 - NOW % 3600);
        let id = RegistrationRequest::parse(
            PUBLIC.replace("3030", "3003").as_bytes(),
            &Default::default(),
        )
        .unwrap()
        .client_id();
        assert!(store.stored_client(&id).is_none());
    }

    /// Bad metadata is a 400 with the RFC 7591 code and nothing written; an oversized body 413;
    /// a storage fault 503, never a 500.
    #[tokio::test]
    async fn refused_metadata_writes_nothing_and_faults_are_503() {
        let store = MemoryStore::new();
        let e = endpoint(&store, "open", "100");
        let r = respond(
            &e,
            post(r#"{"redirect_uris":["javascript:alert(1)"]}"#, None),
        )
        .await;
        assert_eq!(r.status(), 400);
        assert_eq!(body(&r)["error"], "invalid_redirect_uri");
        let big = format!(
            r#"{{"redirect_uris":["https://a.example/cb"],"x":"{}"}}"#,
            "x".repeat(MAX_BODY)
        );
        let r = respond(&e, post(&big, None)).await;
        assert_eq!(r.status(), 413);
        assert_eq!(body(&r)["error"], "invalid_client_metadata");
        assert_eq!(store.calls(), 0);
        store.fail_next(Op::RegisterClient);
        let r = respond(&e, post(PUBLIC, None)).await;
        assert_eq!(r.status(), 503);
    }
}
