//! Machines as clients (issue 17): the client credentials grant (RFC 6749 §4.4) through the real
//! token binary, with the `oauth2` crate's client-credentials request as the machine, and
//! Python's Authlib; what a machine token is at introspection, `/me`, the example product API
//! and revocation; the per-client token rate.
use crate::common::{now, Registered};
use crate::introspect::{introspect, resource_server};
use crate::revoke::{post_as, revoke_url};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use portcullis_e2e::browser::no_redirect_client;
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::Value;

/// `portcullis client create --grant-type client_credentials` plus `extra`.
pub fn register_machine(stack: &Stack, extra: &[&str]) -> Registered {
    let mut args = vec![
        "client",
        "create",
        "--name",
        "Billing job",
        "--grant-type",
        "client_credentials",
    ];
    args.extend_from_slice(extra);
    let v = stack.cli_json(&args);
    assert_eq!(v["redirect_uris"], serde_json::json!([]), "{v}");
    Registered {
        id: v["client_id"].as_str().unwrap().to_string(),
        secret: v["client_secret"].as_str().map(str::to_string),
    }
}

/// The `oauth2` crate's client-credentials request for `c`, with `scope` when given.
async fn machine_token(
    stack: &Stack,
    c: &Registered,
    auth: AuthType,
    scope: Option<&str>,
) -> Result<oauth2::basic::BasicTokenResponse, Option<BasicErrorResponseType>> {
    let client = BasicClient::new(ClientId::new(c.id.clone()))
        .set_client_secret(ClientSecret::new(c.secret.clone().unwrap()))
        .set_token_uri(TokenUrl::new(stack.token_url()).unwrap())
        .set_auth_type(auth);
    let mut req = client.exchange_client_credentials();
    if let Some(s) = scope {
        req = req.add_scope(Scope::new(s.into()));
    }
    req.request_async(&no_redirect_client())
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => Some(r.error().clone()),
            other => panic!("unexpected token error: {other:?}"),
        })
}

async fn bookings(stack: &Stack, token: &str) -> (StatusCode, Value) {
    let r = no_redirect_client()
        .get(format!("{}/api/bookings", stack.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// RFC 6749 §4.4.2–4.4.3: the `oauth2` crate gets a token with HTTP Basic and with the secret in
/// the body; no refresh token; the client's registered scopes when none is asked, a subset when
/// asked. RFC 7662 / RFC 9068 §2.2: introspection shows the client as `sub` and no `username`.
#[tokio::test]
async fn a_machine_gets_a_token_with_the_oauth2_crate_and_it_names_the_client() {
    let stack = Stack::get();
    let c = register_machine(stack, &["--scopes", "READ_BOOKING,READ_PROFILE"]);
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let t = machine_token(stack, &c, auth, None).await.expect("token");
        assert!(t.refresh_token().is_none());
        assert_eq!(t.expires_in().unwrap().as_secs(), 1800);
        let scopes: Vec<String> = t.scopes().unwrap().iter().map(|s| s.to_string()).collect();
        assert_eq!(scopes, ["READ_BOOKING", "READ_PROFILE"]);
    }
    let t = machine_token(stack, &c, AuthType::BasicAuth, Some("READ_BOOKING"))
        .await
        .expect("token");
    let token = t.access_token().secret();
    // Its own client sees it.
    let (status, own) = introspect(&c, token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["sub"], c.id.as_str());
    assert_eq!(own["client_id"], c.id.as_str());
    assert_eq!(own["scope"], "READ_BOOKING");
    assert!(own.get("username").is_none(), "{own}");
    let rs = resource_server(stack).await;
    let (_, seen) = introspect(&rs, token).await;
    assert_eq!(seen, own);
}

/// A machine token has no user: `/me` (RFC 6750 §3.1 `invalid_token`, saying why) and the
/// example bookings API (`Principal::require_user`) refuse it.
#[tokio::test]
async fn a_machine_token_is_refused_where_a_user_is_needed() {
    let stack = Stack::get();
    let c = register_machine(stack, &[]);
    let t = machine_token(stack, &c, AuthType::BasicAuth, None)
        .await
        .unwrap();
    let token = t.access_token().secret();
    let (status, challenge, body) = crate::common::me(stack, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no user"),
        "{body}"
    );
    let (status, body) = bookings(stack, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token");
}

/// Revoking a machine token (RFC 7009), disabling or deleting its client ends it at once.
#[tokio::test]
async fn revoking_a_machine_token_or_disabling_its_client_ends_it_at_once() {
    let stack = Stack::get();
    let c = register_machine(stack, &[]);
    let rs = resource_server(stack).await;
    let token = |t: oauth2::basic::BasicTokenResponse| t.access_token().secret().to_string();
    let revoked = token(
        machine_token(stack, &c, AuthType::BasicAuth, None)
            .await
            .unwrap(),
    );
    let kept = token(
        machine_token(stack, &c, AuthType::BasicAuth, None)
            .await
            .unwrap(),
    );
    let r = post_as(&revoke_url(stack), &c, &[("token", &revoked)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(&rs, &revoked).await.1["active"], false);
    assert_eq!(introspect(&rs, &kept).await.1["active"], true);
    stack.cli_json(&["client", "disable", &c.id]);
    assert_eq!(introspect(&rs, &kept).await.1["active"], false);
    // And it can get no new one.
    assert_eq!(
        machine_token(stack, &c, AuthType::BasicAuth, None)
            .await
            .unwrap_err(),
        Some(BasicErrorResponseType::InvalidClient)
    );
    // Enabled again, it gets new tokens; the ones it held before stay ended.
    stack.cli_json(&["client", "enable", &c.id]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let fresh = token(
        machine_token(stack, &c, AuthType::BasicAuth, None)
            .await
            .unwrap(),
    );
    assert_eq!(introspect(&rs, &fresh).await.1["active"], true);
    assert_eq!(introspect(&rs, &kept).await.1["active"], false);
    let d = register_machine(stack, &[]);
    let t = token(
        machine_token(stack, &d, AuthType::BasicAuth, None)
            .await
            .unwrap(),
    );
    stack.cli_json(&["client", "delete", &d.id]);
    assert_eq!(introspect(&rs, &t).await.1["active"], false);
}

/// RFC 6749 §5.2: a client not registered for the grant is `unauthorized_client`; an unknown
/// or unallowed scope is `invalid_scope`; a wrong secret is `invalid_client`.
#[tokio::test]
async fn client_credentials_errors_say_what_is_wrong() {
    let stack = Stack::get();
    let web = crate::common::register(stack, &[]);
    assert_eq!(
        machine_token(stack, &web, AuthType::BasicAuth, None)
            .await
            .unwrap_err(),
        Some(BasicErrorResponseType::UnauthorizedClient)
    );
    let c = register_machine(stack, &["--scopes", "READ_BOOKING"]);
    for scope in ["READ_PROFILE", "NOPE"] {
        assert_eq!(
            machine_token(stack, &c, AuthType::BasicAuth, Some(scope))
                .await
                .unwrap_err(),
            Some(BasicErrorResponseType::InvalidScope)
        );
    }
    let wrong = Registered {
        id: c.id.clone(),
        secret: Some("pc_cs_wrong".into()),
    };
    assert_eq!(
        machine_token(stack, &wrong, AuthType::BasicAuth, None)
            .await
            .unwrap_err(),
        Some(BasicErrorResponseType::InvalidClient)
    );
    // A public client has no credentials to prove who it is.
    let public = crate::common::register(stack, &["--public"]);
    let r = no_redirect_client()
        .post(stack.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &public.id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client", "{body}");
}

/// `--token-rate N`: the N+1st token request of a minute is 429 with `Retry-After` and an RFC
/// error body; `client update --token-rate none` lifts the limit.
#[tokio::test]
async fn a_machine_past_its_token_rate_gets_429_with_retry_after() {
    let stack = Stack::get();
    let c = register_machine(stack, &["--token-rate", "2"]);
    // Two fit in one minute unless the minute turns between them: then the window restarts.
    let start = now();
    let mut refused = None;
    for _ in 0..4 {
        let r = post_as(
            &stack.token_url(),
            &c,
            &[("grant_type", "client_credentials")],
        )
        .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = refused.expect("a 429 within four requests");
    assert!(now() / 60 == start / 60 || now() - start < 60);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("2 per minute"));
    stack.cli_json(&["client", "update", &c.id, "--token-rate", "none"]);
    let r = post_as(
        &stack.token_url(),
        &c,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Runs `tests/interop/python_machines.py` with `args`; its JSON lines by case.
async fn python(args: &[&str]) -> std::collections::BTreeMap<String, Value> {
    let root = portcullis_e2e::root();
    let out = tokio::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/interop/python_machines.py"))
        .args(args)
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["case"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

/// RFC 7523 §2.2 (private_key_jwt) and RFC 6749 §2.3.1 with Python's Authlib: client
/// credentials with a secret (Basic and body) and with an assertion Authlib signs (RS256,
/// PS256, ES256, EdDSA), introspection and revocation with assertions too. Hostile assertions
/// (expired, wrong `aud`, a reused `jti`, `alg: none`, another key's signature, HS256 with the
/// public key, an unknown `kid`, 60 KB, Authlib's hour-long default) are each `401
/// invalid_client`, never a 5xx; a 64 KB one makes the body too large (413).
#[tokio::test]
async fn authlib_gets_machine_tokens_with_a_secret_and_with_private_key_jwt() {
    let stack = Stack::get();
    let dir = tempdir("pkjwt");
    python(&["keys", &dir]).await;
    let jwks = format!("{dir}/jwks.json");
    let with_secret = register_machine(stack, &[]);
    let with_keys = register_machine(stack, &["--jwks-file", &jwks]);
    assert!(
        with_keys.secret.is_none(),
        "a client with keys gets no secret"
    );
    let cases = python(&[
        "run",
        &stack.base_url,
        &with_secret.id,
        with_secret.secret.as_deref().unwrap(),
        &with_keys.id,
        &dir,
    ])
    .await;
    for good in [
        "authlib client_secret_basic",
        "authlib client_secret_post",
        "authlib private_key_jwt RS256",
        "authlib private_key_jwt PS256",
        "authlib private_key_jwt ES256",
        "authlib private_key_jwt EdDSA",
    ] {
        let c = &cases[good];
        assert_eq!(c["status"], 200, "{c}");
        assert_eq!(c["has_refresh_token"], false, "{c}");
    }
    for good in [
        "authlib introspect private_key_jwt",
        "authlib revoke private_key_jwt",
        "good assertion",
        "no client_id (sub names the client)",
    ] {
        assert_eq!(cases[good]["status"], 200, "{}", cases[good]);
    }
    assert_eq!(cases["authlib introspect after revoke"]["active"], false);
    for hostile in [
        "reused jti",
        "expired",
        "wrong aud",
        "exp an hour ahead (Authlib's default)",
        "no jti",
        "iss is another client",
        "alg none",
        "signed by another key",
        "unknown kid",
        "HS256 with the public key as secret",
        "RS256 header on an EC key",
        "60 KB assertion",
        "not a JWT",
    ] {
        let c = &cases[hostile];
        assert_eq!(c["status"], 401, "{hostile}: {c}");
        assert_eq!(c["error"], "invalid_client", "{hostile}: {c}");
        assert!(
            c["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{c}"
        );
    }
    assert!(cases["reused jti"]["description"]
        .as_str()
        .unwrap()
        .contains("used before"));
    assert!(
        cases["exp an hour ahead (Authlib's default)"]["description"]
            .as_str()
            .unwrap()
            .contains("300")
    );
    assert_eq!(cases["authlib default assertion"]["status"], 401);
    // A body past the 64 KB limit is refused before it is read: 413 `invalid_request`.
    let c = &cases["64 KB assertion"];
    assert_eq!(
        (c["status"].as_u64(), c["error"].as_str()),
        (Some(413), Some("invalid_request")),
        "{c}"
    );
}

/// `client update --jwks-file`: the new keys verify at once; the replaced ones keep verifying
/// during `--keep-old-keys-for`, and not at all with `0`.
#[tokio::test]
async fn replaced_client_keys_verify_during_their_overlap_only() {
    let stack = Stack::get();
    let dir = tempdir("rotation");
    python(&["keys", &dir]).await;
    let c = register_machine(stack, &["--jwks-file", &format!("{dir}/jwks.json")]);
    let status = |cases: std::collections::BTreeMap<String, Value>, name: &str| {
        cases[&format!("rotated {name}")]["status"].clone()
    };
    let try_key = |name: &'static str| {
        let (base, id, dir) = (stack.base_url.clone(), c.id.clone(), dir.clone());
        async move { python(&["rotated", &base, &id, &dir, name]).await }
    };
    assert_eq!(status(try_key("ec").await, "ec"), 200);
    assert_eq!(status(try_key("next").await, "next"), 401);
    let next = format!("{dir}/next-jwks.json");
    let v = stack.cli_json(&["client", "update", &c.id, "--jwks-file", &next]);
    assert!(v["old_keys_until"].as_u64().unwrap() > now(), "{v}");
    assert_eq!(status(try_key("next").await, "next"), 200);
    assert_eq!(
        status(try_key("ec").await, "ec"),
        200,
        "the old key, in its overlap"
    );
    stack.cli_json(&[
        "client",
        "update",
        &c.id,
        "--jwks-file",
        &next,
        "--keep-old-keys-for",
        "0",
    ]);
    assert_eq!(
        status(try_key("ec").await, "ec"),
        401,
        "the old key, after it"
    );
    assert_eq!(status(try_key("next").await, "next"), 200);
}

/// A fresh directory under the target dir for one test's key files.
fn tempdir(name: &str) -> String {
    let d = portcullis_e2e::root().join(format!(
        "target/tmp/{name}-{}-{}",
        std::process::id(),
        now()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d.to_string_lossy().into_owned()
}

/// A fresh ES256 client assertion by key `name` of `dir` for `client_id`, aimed at `aud`.
async fn assertion(dir: &str, name: &str, client_id: &str, aud: &str) -> String {
    let root = portcullis_e2e::root();
    let out = tokio::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/interop/python_machines.py"))
        .args(["sign", dir, name, client_id, aud])
        .output()
        .await
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// POSTs `form` plus a client assertion (RFC 7523 §2.2) to `url`; the status and body.
async fn post_asserted(url: &str, form: &[(&str, &str)], assertion: &str) -> (StatusCode, Value) {
    let mut form = form.to_vec();
    form.push((
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    ));
    form.push(("client_assertion", assertion));
    let r = no_redirect_client()
        .post(url)
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// RFC 7523 §2.2 at every grant: a web app that moves from its secret to keys (`client update
/// --jwks-file`, then `--no-secret`) exchanges a code and refreshes with client assertions (the
/// token endpoint and Cal.com's `/refreshToken`); during the migration both work, after it only
/// the assertion.
#[tokio::test]
async fn a_web_app_moves_from_its_secret_to_private_key_jwt_for_code_and_refresh() {
    use crate::common::{app, authorize, session};
    use portcullis_e2e::browser::Browser;
    let stack = Stack::get();
    let dir = tempdir("webapp");
    python(&["keys", &dir]).await;
    let c = crate::common::register(stack, &[]);
    stack.cli_json(&[
        "client",
        "update",
        &c.id,
        "--jwks-file",
        &format!("{dir}/jwks.json"),
    ]);
    let token_url = stack.token_url();
    let user = Browser::signed_in(&session(stack, "pkjwt-user"));
    let web = app(stack, &c, AuthType::BasicAuth);
    // Both during the migration: the secret...
    let (code, _) = authorize(stack, &web, &user, false).await;
    let t = crate::common::exchange(&web, &code, None)
        .await
        .expect("with the secret");
    assert!(t.refresh_token().is_some());
    // ...and an assertion (no client_id: its `sub` names the client).
    let (code, _) = authorize(stack, &web, &user, false).await;
    let a = assertion(&dir, "ec", &c.id, &token_url).await;
    let (status, body) = post_asserted(
        &token_url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", crate::common::REDIRECT),
        ],
        &a,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    // The same assertion again is a replay, whatever the request.
    let (status, body) = post_asserted(
        &token_url,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        &a,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    stack.cli_json(&["client", "update", &c.id, "--no-secret"]);
    let v = stack.cli_json(&["client", "show", &c.id]);
    assert_eq!(v["secrets"]["live"], 0, "{v}");
    // Cal.com's refresh path, aud = its own URL.
    let refresh_url = stack.refresh_url();
    let a = assertion(&dir, "ec", &c.id, &refresh_url).await;
    let (status, body) = post_asserted(
        &refresh_url,
        &[("client_id", &c.id), ("refresh_token", &refresh)],
        &a,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let (status, _, me) = crate::common::me(stack, &access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], "pkjwt-user");
    // The secret no longer authenticates.
    let (code, _) = authorize(stack, &web, &user, false).await;
    assert_eq!(
        crate::common::exchange(&web, &code, None)
            .await
            .unwrap_err(),
        Some(BasicErrorResponseType::InvalidClient)
    );
}
