//! Issue 10, faults: the token endpoint over the real DynamoDB adapters, with an SDK interceptor
//! on the real client that makes DynamoDB fail the way it does in production:
//!
//! - [`Fault::Unreachable`]: the request never reaches the store (every attempt the SDK makes);
//! - [`Fault::Lost`]: the request lands, and its answer is replaced by a throttling error, so
//!   the SDK retries a write that has already been applied — or, when every attempt is lost,
//!   the function gives up with a 503 although the write landed.
//!
//! Each test checks the answer (503 `temporarily_unavailable` with `Retry-After`, or success),
//! then the state the store was left in, then that the client's retry succeeds: no code consumed
//! without tokens issued for good, no token without its grant, no refresh token retired without
//! its successor, and a write that landed after a 503 answered, on the client's retry within the
//! retry window, with the very tokens the lost answer carried (issue 16).
use crate::common::now;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use base64::Engine as _;
use portcullis_aws::{DynamoClients, DynamoCodes, DynamoTokens};
use portcullis_core::clock::OsEntropy;
use portcullis_core::codec::parse_refresh;
use portcullis_core::ids::{ClientId, RedirectUri};
use portcullis_core::model::{grant_id_for_code, CodeRecord};
use portcullis_core::ports::{ClientRegistry, CodeIssue, GrantLookup};
use portcullis_core::rings::StaticRing;
use portcullis_core::secret::{AccessToken, AuthorizationCode, ClientSecret, RefreshToken};
use portcullis_core::settings::{env, FromEnv, RefreshSettings, TokenSettings};
use portcullis_core::testkit;
use portcullis_e2e::{Stack, Stores};
use portcullis_lambda::endpoints::refresh::RefreshEndpoint;
use portcullis_lambda::endpoints::token::TokenEndpoint;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Unreachable,
    Lost,
}

/// Injects a fault into the next `times` attempts of one DynamoDB operation (e.g.
/// `TransactWriteItems`), counting each attempt the SDK makes. Disarmed until [`Self::arm`].
#[derive(Debug, Default)]
struct Injector {
    /// The operation and the fault.
    what: Mutex<Option<(&'static str, Fault)>>,
    times: AtomicUsize,
    /// Whether the attempt in flight is one to fault (one call at a time per endpoint).
    hit: AtomicBool,
}

impl Injector {
    fn arm(&self, op: &'static str, fault: Fault, times: usize) {
        *self.what.lock().unwrap() = Some((op, fault));
        self.times.store(times, Ordering::SeqCst);
    }
    fn stop(&self) {
        self.times.store(0, Ordering::SeqCst);
    }
    fn fault(&self) -> Option<(&'static str, Fault)> {
        *self.what.lock().unwrap()
    }
    /// Whether every armed fault was injected.
    fn spent(&self) -> bool {
        self.times.load(Ordering::SeqCst) == 0
    }
}

#[derive(Debug, Clone)]
struct Hook(Arc<Injector>);

impl Intercept for Hook {
    fn name(&self) -> &'static str {
        "e2e-fault-injector"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let f = &self.0;
        let Some((op, fault)) = f.fault() else {
            return Ok(());
        };
        let target = ctx
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_string();
        let ours = target.ends_with(&format!(".{op}"))
            && f.times
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        f.hit.store(ours, Ordering::SeqCst);
        if ours && fault == Fault::Unreachable {
            // Nothing listens on port 1: the connection is refused, as for a store that is down.
            ctx.request_mut()
                .set_uri("http://127.0.0.1:1/")
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let lost = self.0.fault().is_some_and(|(_, f)| f == Fault::Lost);
        if self.0.hit.swap(false, Ordering::SeqCst) && lost {
            // The write was applied; its answer is lost and replaced by throttling.
            let resp = ctx.response_mut();
            *resp.status_mut() = 400u16.try_into().map_err(|e| format!("{e:?}"))?;
            resp.headers_mut().remove("x-amz-crc32");
            // The SDK reads the error's type from this header before the body.
            resp.headers_mut()
                .insert("x-amzn-errortype", "ProvisionedThroughputExceededException");
            resp.headers_mut().remove("content-length");
            *resp.body_mut() = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected"}"#.into();
        }
        Ok(())
    }
}

/// Tables of their own, adapters over a client with a fault injector, a registered confidential
/// client, and the token and refresh endpoints over them.
struct Rig {
    faults: Arc<Injector>,
    stores: Stores,
    token: TokenEndpoint<DynamoClients, DynamoCodes, DynamoTokens>,
    refresh: RefreshEndpoint<DynamoTokens>,
    client_id: String,
    secret: ClientSecret,
}

async fn rig(name: &str) -> Rig {
    let injector = Arc::new(Injector::default());
    let stack = Stack::get();
    let t = stack.private_tables(name);
    let sdk = stack.sdk().await;
    let db = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(Hook(injector.clone()))
            .build(),
    );
    let plain = Stores::on(aws_sdk_dynamodb::Client::new(&sdk), &t);
    let secret = ClientSecret::generate(&OsEntropy);
    let client_id = format!("faults-{name}");
    let mut client = testkit::client(&client_id)
        .secrets(&[secret.secret()])
        .build();
    client.created_at = now();
    plain.clients.create_client(&client).await.unwrap();
    let lookup = |k: &str| match k {
        env::CLIENTS_TABLE => Some(t.clients.clone()),
        env::CODES_TABLE => Some(t.codes.clone()),
        env::TOKENS_TABLE => Some(t.tokens.clone()),
        env::MINT_SECRET_ID | env::TAG_SECRET_ID | env::ACCESS_TAG_SECRET_ID => {
            Some("static".into())
        }
        // The retry window: a retry after a lost answer gets the same tokens.
        env::REFRESH_GRACE => Some("30".into()),
        env::ISSUER => Some("http://127.0.0.1".into()),
        _ => None,
    };
    let k = testkit::test_keys();
    let ring = |r: &portcullis_core::keyring::KeyRing| StaticRing::boxed(r.clone());
    let faulty = Stores::on(db, &t);
    Rig {
        faults: injector,
        token: TokenEndpoint {
            clients: faulty.clients.clone(),
            codes: faulty.codes.clone(),
            tokens: faulty.tokens.clone(),
            settings: TokenSettings::from_lookup(lookup).unwrap(),
            clock: Box::new(portcullis_core::clock::SystemClock),
            entropy: Box::new(OsEntropy),
            mint: ring(&k.mint),
            tag: ring(&k.tag),
            access_tag: ring(&k.access_tag),
        },
        refresh: RefreshEndpoint {
            client_auth: portcullis_aws::DynamoClientAuth {
                clients: plain.clients.clone(),
                codes: plain.codes.clone(),
            },
            tokens: faulty.tokens,
            settings: RefreshSettings::from_lookup(lookup).unwrap(),
            clock: Box::new(portcullis_core::clock::SystemClock),
            entropy: Box::new(OsEntropy),
            mint: ring(&k.mint),
            tag: ring(&k.tag),
            access_tag: ring(&k.access_tag),
        },
        stores: plain,
        client_id,
        secret,
    }
}

impl Rig {
    /// A live code for the rig's client, written directly.
    async fn code(&self) -> AuthorizationCode {
        let code = AuthorizationCode::generate_tagged(&OsEntropy, &testkit::test_keys().tag);
        let t = now();
        let record = CodeRecord {
            pk: code.hash(),
            client_id: ClientId::new(&self.client_id),
            client_public: false,
            client_secret_hashes: vec![self.secret.hash()],
            redirect_uri: RedirectUri::new(testkit::REDIRECT_URI),
            redirect_uri_explicit: true,
            scopes: vec!["READ_PROFILE".into()],
            resource: None,
            user: testkit::user("u-faults"),
            code_challenge: None,
            client_refresh_rotation: true,
            created_at: t,
            expires_at: t + 600,
            consumed_at: None,
        };
        self.stores.codes.put_code(&record).await.unwrap();
        code
    }

    fn post(&self, path: &str, form: &str) -> lambda_http::Request {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.client_id,
            self.secret.secret()
        ));
        lambda_http::http::Request::builder()
            .method("POST")
            .uri(format!("http://127.0.0.1:1{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {basic}"))
            .body(lambda_http::Body::Text(form.to_string()))
            .unwrap()
    }

    /// `POST /token` for `code`: the status, `Retry-After` and the JSON body.
    async fn exchange(&self, code: &AuthorizationCode) -> (u16, Option<String>, Value) {
        let form = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}",
            code.secret(),
            crate::common::urlencode(testkit::REDIRECT_URI)
        );
        answer(
            portcullis_lambda::respond(&self.token, self.post("/api/auth/oauth/token", &form))
                .await,
        )
    }

    async fn refresh(&self, refresh_token: &str) -> (u16, Option<String>, Value) {
        let form = format!("grant_type=refresh_token&refresh_token={refresh_token}");
        answer(
            portcullis_lambda::respond(
                &self.refresh,
                self.post("/api/auth/oauth/refreshToken", &form),
            )
            .await,
        )
    }

    /// Whether an access token is accepted, or a refresh token is its grant's current one.
    async fn live(&self, token: &str) -> bool {
        let keys = testkit::test_keys();
        if token.starts_with(AccessToken::PREFIX) {
            return portcullis_core::bearer::authenticate(
                &self.stores.tokens,
                &keys.access_tag,
                portcullis_core::bearer::Presented::AccessToken(AccessToken::new(token)),
                now(),
            )
            .await
            .is_ok();
        }
        let rt = RefreshToken::new(token);
        let Some(p) = parse_refresh(&rt, &keys.tag) else {
            return false;
        };
        self.stores
            .tokens
            .grant(&p.grant_id)
            .await
            .unwrap()
            .is_some_and(|g| g.is_live(now()) && g.refresh_is_current(&rt.hash(), now()))
    }

    async fn grant_exists(&self, code: &AuthorizationCode) -> bool {
        self.stores
            .tokens
            .grant(&grant_id_for_code(&code.hash()))
            .await
            .unwrap()
            .is_some()
    }
}

fn answer(r: lambda_http::Response<lambda_http::Body>) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body = match r.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, retry_after, body)
}

fn assert_503(a: &(u16, Option<String>, Value)) {
    assert_eq!(a.0, 503, "{a:?}");
    assert!(a.1.is_some(), "Retry-After on a 503");
    assert_eq!(a.2["error"], "temporarily_unavailable");
}

/// DynamoDB down while issuing: 503 with `Retry-After`; the code stays consumed with no grant
/// and no token; after recovery the client's retry of the same code gets tokens.
#[tokio::test]
async fn issuance_against_a_store_that_is_down_is_503_and_the_retry_succeeds() {
    let rig = rig("down-issue").await;
    let code = rig.code().await;
    rig.faults.arm("PutItem", Fault::Unreachable, usize::MAX);
    assert_503(&rig.exchange(&code).await);
    assert!(
        !rig.grant_exists(&code).await,
        "no grant without its tokens"
    );
    rig.faults.stop();
    let (status, _, body) = rig.exchange(&code).await;
    assert_eq!(status, 200, "{body}");
    assert!(rig.live(body["access_token"].as_str().unwrap()).await);
    assert!(rig.grant_exists(&code).await);
}

/// The consuming write lands and its answer is lost on every attempt: the function gives up
/// (503). The code is consumed with nothing issued, so the client's retry still succeeds.
#[tokio::test]
async fn a_consume_that_landed_after_the_503_does_not_lose_the_code() {
    let rig = rig("lost-consume").await;
    let code = rig.code().await;
    rig.faults.arm("UpdateItem", Fault::Lost, usize::MAX);
    assert_503(&rig.exchange(&code).await);
    assert!(!rig.grant_exists(&code).await);
    rig.faults.stop();
    let (status, _, body) = rig.exchange(&code).await;
    assert_eq!(status, 200, "{body}");
    assert!(rig.live(body["access_token"].as_str().unwrap()).await);
}

/// Issue 16, "a retry after a lost answer gets the same answer": the grant's write lands and
/// every answer is lost, so the function answers 503; the client's retry of the same code
/// within the retry window gets the very tokens that write stored (they are derived from the
/// grant with the mint key), nothing is revoked, and a second retry gets them again.
#[tokio::test]
async fn an_exchange_whose_write_landed_after_a_503_answers_the_retry_with_the_same_tokens() {
    let rig = rig("lost-issue").await;
    let code = rig.code().await;
    rig.faults.arm("PutItem", Fault::Lost, usize::MAX);
    assert_503(&rig.exchange(&code).await);
    assert!(rig.grant_exists(&code).await, "the write landed");
    rig.faults.stop();
    let (status, _, first) = rig.exchange(&code).await;
    assert_eq!(status, 200, "{first}");
    let (status, _, again) = rig.exchange(&code).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(first["access_token"], again["access_token"]);
    assert_eq!(first["refresh_token"], again["refresh_token"]);
    assert!(rig.live(first["access_token"].as_str().unwrap()).await);
    assert!(rig.live(first["refresh_token"].as_str().unwrap()).await);
}

/// The SDK retries writes whose answer was lost. A retried consume finds its own mark and a
/// retried issuance finds its own grant: both are recognised, and the one request succeeds.
#[tokio::test]
async fn writes_the_sdk_retried_after_they_landed_are_recognised() {
    let rig = rig("lost-once").await;
    for op in ["UpdateItem", "PutItem"] {
        let code = rig.code().await;
        rig.faults.arm(op, Fault::Lost, 1);
        let (status, _, body) = rig.exchange(&code).await;
        assert_eq!(status, 200, "{op}: {body}");
        assert!(rig.faults.spent(), "{op}: the fault was injected");
        let access = body["access_token"].as_str().unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();
        assert!(rig.live(access).await && rig.live(refresh).await, "{op}");
    }
}

/// A refresh against a store that is down: 503, the refresh token stays current, and the retry
/// after recovery rotates it. A rotation whose answer the SDK lost is recognised as its own.
#[tokio::test]
async fn a_refresh_during_a_fault_keeps_the_token_usable() {
    let rig = rig("refresh").await;
    let code = rig.code().await;
    let (status, _, body) = rig.exchange(&code).await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_string();

    rig.faults.arm("UpdateItem", Fault::Unreachable, usize::MAX);
    assert_503(&rig.refresh(&refresh).await);
    assert!(
        rig.live(&refresh).await,
        "not retired without its successor"
    );
    rig.faults.stop();
    let (status, _, body) = rig.refresh(&refresh).await;
    assert_eq!(status, 200, "{body}");
    let next = body["refresh_token"].as_str().unwrap().to_string();
    assert!(rig.live(&next).await && !rig.live(&refresh).await);

    rig.faults.arm("UpdateItem", Fault::Lost, 1);
    let (status, _, body) = rig.refresh(&next).await;
    assert_eq!(status, 200, "{body}");
    assert!(rig.faults.spent(), "the fault was injected");
    assert!(rig.live(body["access_token"].as_str().unwrap()).await);
    assert!(rig.live(body["refresh_token"].as_str().unwrap()).await);
}

/// Issue 16: the refresh's write lands and every answer is lost (the function answers 503). The
/// client's retry with the same refresh token, within the retry window, is not reuse: it gets
/// the tokens the lost answer carried, the grant stays, and no second branch exists.
#[tokio::test]
async fn a_refresh_whose_write_landed_after_a_503_answers_the_retry_with_the_same_tokens() {
    let rig = rig("lost-refresh").await;
    let code = rig.code().await;
    let (status, _, body) = rig.exchange(&code).await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    rig.faults.arm("UpdateItem", Fault::Lost, usize::MAX);
    assert_503(&rig.refresh(&refresh).await);
    rig.faults.stop();
    assert!(
        !rig.live(&refresh).await,
        "the write landed: the token was replaced"
    );
    let (status, _, first) = rig.refresh(&refresh).await;
    assert_eq!(status, 200, "{first}");
    let (status, _, again) = rig.refresh(&refresh).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(first["access_token"], again["access_token"]);
    assert_eq!(first["refresh_token"], again["refresh_token"]);
    let next = first["refresh_token"].as_str().unwrap();
    assert!(rig.live(next).await, "the grant was not revoked");
    let (status, _, _) = rig.refresh(next).await;
    assert_eq!(status, 200, "the client carries on");
}
