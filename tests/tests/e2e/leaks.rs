//! Issue 10, "secrets never leak": every flow runs against the real functions with debug logging
//! (the test stack's default `RUST_LOG`, see `xtask::stack::TEST_LOG`), then the captured logs
//! and a dump of every table are searched for each plaintext credential the flows handled:
//! client secrets, codes, access and refresh tokens, the host session token, an API key and the
//! key material in Secrets Manager. None may appear: secrets are stored as hashes only and no
//! log line carries one (RFC 6749 §10.3, §10.5; RFC 9700 §4.14).
use crate::common::{app, authorize, exchange, me, register, session};
use crate::revoke::{post_as, revoke_url};
use oauth2::basic::BasicTokenResponse;
use oauth2::{AuthType, RefreshToken, TokenResponse};
use portcullis_core::settings::env;
use portcullis_e2e::browser::{no_redirect_client, Browser};
use portcullis_e2e::Stack;
use serde_json::Value;
use std::time::Duration;

/// Everything a table holds, as text.
async fn dump_table(db: &aws_sdk_dynamodb::Client, table: &str) -> String {
    let mut out = String::new();
    let mut start = None;
    loop {
        let page = db
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
        for item in page.items() {
            out.push_str(&format!("{item:?}\n"));
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    out
}

/// The key material as it sits in Secrets Manager, for each of the four secrets (the session and
/// CSRF keys, the mint, tag and access-tag key rings): the secret string and every string value
/// in it.
async fn key_material(stack: &Stack) -> Vec<String> {
    let sdk = stack.sdk().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let mut values: Vec<String> = Vec::new();
    for var in [
        env::SECRET_ID,
        env::MINT_SECRET_ID,
        env::TAG_SECRET_ID,
        env::ACCESS_TAG_SECRET_ID,
    ] {
        let secret = sm
            .get_secret_value()
            .secret_id(stack.env_var(var))
            .send()
            .await
            .unwrap_or_else(|e| panic!("the secret of {var}: {e}"));
        let raw = secret.secret_string().expect("a string secret").to_string();
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&raw) {
            values.extend(m.values().filter_map(|v| v.as_str().map(str::to_string)));
        }
        values.push(raw);
    }
    values
}

/// Every flow, through the real endpoints; the plaintext credentials it handled, by name.
async fn run_every_flow(stack: &Stack) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let c = register(stack, &[]);
    seen.push(("client secret".into(), c.secret.clone().unwrap()));
    let public = register(stack, &["--public"]);

    let host_session = session(stack, "u-leaks");
    seen.push(("session token".into(), host_session.clone()));
    let browser = Browser::signed_in(&host_session);

    // Authorization code (confidential), refresh, /me, introspection, revocation.
    let confidential = app(stack, &c, AuthType::BasicAuth);
    let (code, verifier) = authorize(stack, &confidential, &browser, true).await;
    seen.push(("authorization code".into(), code.clone()));
    let tokens: BasicTokenResponse = exchange(&confidential, &code, verifier).await.unwrap();
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    seen.push(("access token".into(), access.clone()));
    seen.push(("refresh token".into(), refresh.clone()));
    let (status, _, _) = me(stack, &access).await;
    assert_eq!(status, 200);
    let refreshed = confidential
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .request_async(&no_redirect_client())
        .await
        .expect("refresh");
    let access2 = refreshed.access_token().secret().clone();
    let refresh2 = refreshed.refresh_token().unwrap().secret().clone();
    seen.push(("refreshed access token".into(), access2.clone()));
    seen.push(("refreshed refresh token".into(), refresh2.clone()));
    let introspected = post_as(
        &format!("{}/api/auth/oauth/introspect", stack.base_url),
        &c,
        &[("token", &access2)],
    )
    .await;
    assert_eq!(introspected.status(), 200);
    let revoked = post_as(&revoke_url(stack), &c, &[("token", &refresh2)]).await;
    assert_eq!(revoked.status(), 200);

    // A public client with PKCE.
    let public_app = app(stack, &public, AuthType::RequestBody);
    let (code, verifier) = authorize(stack, &public_app, &browser, true).await;
    seen.push(("public client's code".into(), code.clone()));
    let public_tokens = exchange(&public_app, &code, verifier).await.unwrap();
    seen.push((
        "public client's access token".into(),
        public_tokens.access_token().secret().clone(),
    ));
    // The code again: a replay, refused and logged as a security event.
    let replay = exchange(&public_app, &code, None).await;
    assert!(replay.is_err());

    // An API key, used at the example product API.
    let key = stack.cli_json(&[
        "apikey",
        "create",
        "--sub",
        "u-leaks",
        "--scopes",
        "READ_BOOKING",
    ]);
    let key = key["api_key"].as_str().expect("api_key").to_string();
    seen.push(("API key".into(), key.clone()));
    let r = no_redirect_client()
        .get(format!("{}/api/bookings", stack.base_url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A wrong secret (a failure path that logs).
    let wrong = post_as(
        &revoke_url(stack),
        &crate::common::Registered {
            id: c.id.clone(),
            secret: Some("pc_cs_wrongwrongwrongwrongwrongwrongwrongwrongwro".into()),
        },
        &[("token", &access)],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    seen
}

#[tokio::test]
async fn no_plaintext_secret_reaches_the_logs_or_the_tables() {
    let stack = Stack::get();
    let mut secrets = run_every_flow(stack).await;
    for k in key_material(stack).await {
        secrets.push(("key material".into(), k));
    }
    // The functions' output reaches watch.log through cargo lambda watch; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs = stack.logs();
    assert!(
        logs.contains("authorization code exchanged"),
        "the captured logs hold the functions' output (debug level)"
    );
    let sdk = stack.sdk().await;
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let t = stack.tables();
    let mut tables = String::new();
    for name in [
        Some(&t.clients),
        Some(&t.codes),
        Some(&t.tokens),
        t.bookings.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        tables.push_str(&dump_table(&db, name).await);
    }
    // The dump holds this test's items, by their hashes (the confidential grant was revoked).
    let access = &secrets
        .iter()
        .find(|(w, _)| w == "public client's access token")
        .unwrap()
        .1;
    assert!(
        tables.contains(portcullis_core::secret::SecretHash::of(access).as_str()),
        "the dump holds the access token's item, keyed by its hash"
    );
    // A token's derived secret part (`<secret>` before its tag, `portcullis_core::codec`) is the
    // credential: it must not appear on its own either.
    let parts: Vec<(String, String)> = secrets
        .iter()
        .filter(|(_, v)| v.starts_with("pc_at_") || v.starts_with("pc_rt_"))
        .filter_map(|(w, v)| {
            let body = v.rsplit_once('.')?.0;
            Some((
                format!("{w} (its secret part)"),
                body.rsplit_once('.')?.1.to_string(),
            ))
        })
        .collect();
    secrets.extend(parts);
    for (what, secret) in &secrets {
        assert!(secret.len() >= 16, "{what} is too short to search for");
        assert!(
            !logs.contains(secret.as_str()),
            "a {what} appears in the logs"
        );
        assert!(
            !tables.contains(secret.as_str()),
            "a {what} appears in a table"
        );
    }
}
