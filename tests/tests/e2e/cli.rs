//! The operator CLI (`portcullis`) against the stack: the client lifecycle (rotate, disable,
//! enable, update, delete), grants by user and by client, redirect URI validation, `--stack`
//! through CloudFormation outputs, the target errors, JSON output and errors, and exit codes.
//! The app is the `oauth2` crate, the user a scripted browser, as in the endpoint modules.
use crate::common::{app, authorize, exchange, me, now, register, session, Registered, REDIRECT};
use crate::revoke::connected;
use oauth2::basic::BasicErrorResponseType;
use oauth2::{AuthType, TokenResponse};
use portcullis_core::secret::SecretHash;
use portcullis_e2e::browser::{no_redirect_client, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::Value;
use std::process::Command;

/// One run of the CLI: its exit code and both streams.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// The JSON error on stderr (`--json`): one line.
    fn error(&self) -> Value {
        let line = self.stderr.trim();
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(line).unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {line}"))
    }
}

fn port(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .port()
        .expect("a port")
        .to_string()
}

/// `portcullis ARGS` with only `vars` of the PORTCULLIS_* and AWS_* variables set (HOME an empty
/// directory, so no ~/.aws configuration is found, and no instance metadata lookups).
fn raw(vars: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(xtask::portcullis_bin());
    cmd.current_dir(portcullis_e2e::root());
    for (k, _) in std::env::vars_os() {
        if k.to_str()
            .is_some_and(|k| k.starts_with("PORTCULLIS_") || k.starts_with("AWS_"))
        {
            cmd.env_remove(k);
        }
    }
    let home = xtask::target_dir().join("e2e-cli-home");
    std::fs::create_dir_all(&home).unwrap();
    cmd.env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .envs(vars.iter().copied())
        .args(args)
        .stdin(std::process::Stdio::null());
    let out = cmd.output().expect("run portcullis");
    Run {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `portcullis --local ARGS` against this stack.
pub(crate) fn local(stack: &Stack, args: &[&str]) -> Run {
    let (p, a) = (port(&stack.base_url), port(&stack.aws_endpoint));
    let mut all = vec!["--local"];
    all.extend_from_slice(args);
    raw(
        &[("PORTCULLIS_PORT", &p), ("PORTCULLIS_AWS_PORT", &a)],
        &all,
    )
}

/// `local` that must succeed with `--json`: its output, parsed.
fn ok_json(stack: &Stack, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let r = local(stack, &all);
    assert_eq!(r.code, 0, "portcullis {args:?}: {}", r.stderr);
    r.json()
}

/// The token endpoint's answer to a fresh code exchanged with `secret`.
async fn exchange_with_secret(
    stack: &Stack,
    id: &str,
    secret: &str,
    user: &Browser,
) -> Result<(), Option<BasicErrorResponseType>> {
    let c = Registered {
        id: id.to_string(),
        secret: Some(secret.to_string()),
    };
    let app = app(stack, &c, AuthType::BasicAuth);
    let (code, _) = authorize(stack, &app, user, false).await;
    exchange(&app, &code, None).await.map(|_| ())
}

/// Waits until the clock is past `t` (epoch seconds): a wait for a deadline, not a timed
/// assertion.
async fn wait_past(t: u64) {
    while now() <= t {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `client rotate-secret --keep-old-for`: both secrets work during the overlap, so an
/// integration can switch without downtime; after it the old one is refused. The refusal after
/// the overlap is the server's check at use (`secret_retiring.until`).
#[tokio::test]
async fn rotate_secret_keeps_the_old_secret_working_until_the_overlap_ends() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let old = c.secret.clone().unwrap();
    let user = Browser::signed_in(&session(stack, "u-cli-rotate"));
    let r = ok_json(
        stack,
        &["client", "rotate-secret", &c.id, "--keep-old-for", "3s"],
    );
    let new = r["client_secret"].as_str().unwrap().to_string();
    let until = r["old_secret_until"].as_u64().unwrap();
    assert_ne!(new, old);
    assert!(until > now().saturating_sub(1) && until <= now() + 3, "{r}");

    assert_eq!(
        exchange_with_secret(stack, &c.id, &new, &user).await,
        Ok(())
    );
    assert_eq!(
        exchange_with_secret(stack, &c.id, &old, &user).await,
        Ok(())
    );

    wait_past(until).await;
    assert_eq!(
        exchange_with_secret(stack, &c.id, &old, &user).await,
        Err(Some(BasicErrorResponseType::InvalidClient)),
        "the old secret after the overlap"
    );
    assert_eq!(
        exchange_with_secret(stack, &c.id, &new, &user).await,
        Ok(())
    );
}

/// `--keep-old-for 0` (a leaked secret): the old one is refused at once.
#[tokio::test]
async fn rotate_secret_with_no_overlap_refuses_the_old_secret_at_once() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let user = Browser::signed_in(&session(stack, "u-cli-rotate-0"));
    let r = ok_json(
        stack,
        &["client", "rotate-secret", &c.id, "--keep-old-for", "0"],
    );
    assert_eq!(r["old_secret_until"], Value::Null);
    let new = r["client_secret"].as_str().unwrap();
    assert_eq!(
        exchange_with_secret(stack, &c.id, c.secret.as_ref().unwrap(), &user).await,
        Err(Some(BasicErrorResponseType::InvalidClient))
    );
    assert_eq!(exchange_with_secret(stack, &c.id, new, &user).await, Ok(()));
    let shown = ok_json(stack, &["client", "show", &c.id]);
    assert_eq!(
        shown["secrets"],
        serde_json::json!({"live": 1, "retiring_until": null})
    );
}

/// `client show` says how many secrets are live and until when, and never prints a secret or a
/// hash; a public client has none to rotate (exit 2).
#[tokio::test]
async fn show_counts_live_secrets_and_never_prints_them() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let old = c.secret.clone().unwrap();
    let r = ok_json(
        stack,
        &["client", "rotate-secret", &c.id, "--keep-old-for", "2h"],
    );
    let new = r["client_secret"].as_str().unwrap().to_string();
    let until = r["old_secret_until"].as_u64().unwrap();
    let shown = ok_json(stack, &["client", "show", &c.id]);
    assert_eq!(shown["secrets"]["live"], 2, "{shown}");
    assert_eq!(shown["secrets"]["retiring_until"], until);
    assert_eq!(shown["client_id"], c.id.as_str());
    let text = local(stack, &["client", "show", &c.id]).stdout;
    assert!(text.contains("the old one works until"), "{text}");
    for out in [shown.to_string(), text] {
        for s in [&old, &new] {
            assert!(!out.contains(s.as_str()), "a secret in {out}");
            assert!(!out.contains(SecretHash::of(s).as_str()), "a hash in {out}");
        }
    }
    let public = register(stack, &["--public"]);
    let r = local(stack, &["client", "rotate-secret", &public.id, "--json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.error()["error"], "invalid_argument");
    assert!(r.stdout.is_empty());
}

/// Writes a grant for `client_id` straight into the tokens table, as one started just before
/// `client disable` and missed by its sweep (the index lags on DynamoDB); its access token.
async fn token_missed_by_the_sweep(client_id: &str, sub: &str) -> String {
    let (_, access, _) = crate::common::stored_grant(client_id, sub, |_| {}).await;
    access.secret().to_string()
}

/// `client disable`: the client's live access token is refused at `/me` on the next request,
/// including one the revocation sweep did not find (checked at use); it cannot start a flow;
/// `client enable` makes new flows work again.
#[tokio::test]
async fn disable_stops_the_clients_tokens_at_once_and_enable_restores_new_flows() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-cli-disable").await;
    let access = t.access_token().secret();
    assert_eq!(me(stack, access).await.0, StatusCode::OK);

    let done = ok_json(stack, &["client", "disable", &c.id]);
    assert_eq!(done["grants_revoked"], 1, "{done}");
    assert_eq!(me(stack, access).await.0, StatusCode::UNAUTHORIZED);
    let shown = ok_json(stack, &["client", "show", &c.id]);
    assert_eq!(shown["disabled"], true);

    let missed = token_missed_by_the_sweep(&c.id, "u-cli-disable").await;
    let (status, challenge, _) = me(stack, &missed).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a disabled client's token, at use"
    );
    assert!(challenge.contains("invalid_token"), "{challenge}");

    // No new flow while disabled: an error page, no redirect (RFC 6749 §4.1.2.1).
    let user = Browser::signed_in(&session(stack, "u-cli-disable"));
    let (url, _) = crate::common::authorization_url(stack, &c, "READ_PROFILE");
    let page = user.get(url.as_str()).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.location.is_none());

    let shown = ok_json(stack, &["client", "enable", &c.id]);
    assert_eq!(shown["disabled"], false);
    let app = app(stack, &c, AuthType::BasicAuth);
    let (code, _) = authorize(stack, &app, &user, false).await;
    let fresh = exchange(&app, &code, None)
        .await
        .expect("tokens after enable");
    assert_eq!(
        me(stack, fresh.access_token().secret()).await.0,
        StatusCode::OK
    );
    // Revoked tokens stay revoked.
    assert_eq!(me(stack, access).await.0, StatusCode::UNAUTHORIZED);
}

/// `client delete`: every grant and token of the client is revoked, then the client is gone.
#[tokio::test]
async fn delete_revokes_every_grant_and_removes_the_client() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-cli-delete").await;
    let done = ok_json(stack, &["client", "delete", &c.id]);
    assert_eq!(done["grants_revoked"], 1, "{done}");
    assert_eq!(
        me(stack, t.access_token().secret()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let r = no_redirect_client()
        .post(stack.token_url())
        .basic_auth(&c.id, c.secret.as_ref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t.refresh_token().unwrap().secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the client is gone");
    for args in [
        vec!["client", "show", c.id.as_str(), "--json"],
        vec!["client", "delete", c.id.as_str(), "--json"],
    ] {
        let r = local(stack, &args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert_eq!(r.error()["error"], "not_found");
        assert_eq!(
            r.error()["message"],
            format!("no client has the id {}", c.id)
        );
    }
    let listed = ok_json(stack, &["client", "list"]);
    assert!(!listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["client_id"] == c.id.as_str()));
}

/// A user connected to two apps: `grants list` by user and by client, then "disconnect app A
/// for this user" and "sign this user out of every app", each one command, effective at once.
#[tokio::test]
async fn grants_are_listed_and_revoked_by_user_and_by_client() {
    let stack = Stack::get();
    let sub = "u-cli-grants";
    let (a, ta) = connected(&[], sub).await;
    let b = register(stack, &[]);
    let user = Browser::signed_in(&session(stack, sub));
    let app_b = app(stack, &b, AuthType::BasicAuth);
    let (code, _) = authorize(stack, &app_b, &user, false).await;
    let tb = exchange(&app_b, &code, None).await.unwrap();

    let by_user = ok_json(stack, &["grants", "list", "--sub", sub]);
    let grants = by_user["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 2, "{by_user}");
    let mut clients: Vec<&str> = grants
        .iter()
        .map(|g| g["client_id"].as_str().unwrap())
        .collect();
    clients.sort_unstable();
    let mut expected = vec![a.id.as_str(), b.id.as_str()];
    expected.sort_unstable();
    assert_eq!(clients, expected);
    for g in grants {
        assert_eq!(g["sub"], sub);
        assert!(g["grant_id"].as_str().unwrap().starts_with("g_"));
        assert_eq!(
            g["scopes"],
            serde_json::json!(["READ_PROFILE", "READ_BOOKING"])
        );
        assert!(g["created_at"].as_u64().unwrap() <= g["expires_at"].as_u64().unwrap());
    }
    let by_client = ok_json(stack, &["grants", "list", "--client", &a.id]);
    assert_eq!(by_client["grants"].as_array().unwrap().len(), 1);
    assert_eq!(by_client["grants"][0]["sub"], sub);
    let text = local(stack, &["grants", "list", "--client", &a.id]).stdout;
    assert!(text.starts_with("GRANT_ID"), "{text}");

    // Disconnect app A for this user.
    let done = ok_json(
        stack,
        &["grants", "revoke", "--sub", sub, "--client", &a.id],
    );
    assert_eq!(done["revoked"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(
        me(stack, ta.access_token().secret()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me(stack, tb.access_token().secret()).await.0,
        StatusCode::OK
    );

    // Sign the user out of every app.
    let done = ok_json(stack, &["grants", "revoke", "--sub", sub]);
    assert_eq!(done["revoked"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(
        me(stack, tb.access_token().secret()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let after = ok_json(stack, &["grants", "list", "--sub", sub]);
    assert_eq!(after["grants"], serde_json::json!([]));
}

/// Review finding 7: "sign this user out of every app" (`grants revoke --sub`) says plainly that
/// the user's API keys still work and how to end them; `--api-keys` ends them too.
#[tokio::test]
async fn signing_a_user_out_names_their_api_keys_and_api_keys_revokes_them() {
    let stack = Stack::get();
    let sub = "u-cli-signout-keys";
    let (_, t) = connected(&[], sub).await;
    let key = stack.cli_json(&["apikey", "create", "--sub", sub, "--scopes", "READ_BOOKING"]);
    let key_id = key["id"].as_str().unwrap().to_string();

    let done = ok_json(stack, &["grants", "revoke", "--sub", sub]);
    assert_eq!(done["revoked"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(done["api_keys_still_live"], serde_json::json!([key_id]));
    assert_eq!(
        me(stack, t.access_token().secret()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let text = local(stack, &["grants", "revoke", "--sub", sub]).stdout;
    assert!(
        text.contains("API key(s) still work") && text.contains("--api-keys"),
        "{text}"
    );

    let done = ok_json(stack, &["grants", "revoke", "--sub", sub, "--api-keys"]);
    assert_eq!(done["api_keys_revoked"], serde_json::json!([key_id]));
    let keys = ok_json(stack, &["apikey", "list", "--sub", sub]);
    assert_eq!(keys["api_keys"], serde_json::json!([]), "{keys}");
}

/// `grants revoke --grant`: that grant only; an unknown id is exit 1, an API key's id exit 2.
#[tokio::test]
async fn one_grant_is_revoked_by_its_id() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-cli-grant-id").await;
    let listed = ok_json(stack, &["grants", "list", "--client", &c.id]);
    let id = listed["grants"][0]["grant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = ok_json(stack, &["grants", "revoke", "--grant", &id]);
    assert_eq!(done["revoked"], serde_json::json!([id]));
    assert_eq!(
        me(stack, t.access_token().secret()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let again = local(stack, &["grants", "revoke", "--grant", &id, "--json"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert_eq!(again.error()["error"], "not_found");
    let key = local(stack, &["grants", "revoke", "--grant", "ak_AAAA", "--json"]);
    assert_eq!(key.code, 2, "{}", key.stderr);
}

/// Each kind of bad redirect URI is refused before anything is stored: exit 2, a JSON error
/// naming the URI on stderr, nothing on stdout.
#[tokio::test]
async fn every_kind_of_bad_redirect_uri_is_refused() {
    let stack = Stack::get();
    let eleven: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
    let mut cases: Vec<(Vec<String>, &str)> = [
        ("/callback", "not an absolute URI"),
        ("https://app.example/cb#top", "fragment"),
        ("https://user@app.example/cb", "user information"),
        ("http://app.example/cb", "not loopback"),
        ("javascript:alert(1)", "private-use scheme"),
        ("myapp:/cb", "private-use scheme"),
        ("https://app.example/cb?code=x", "`code`"),
        ("https://app.example/cb?state=x", "`state`"),
        ("https://app.example/cb?iss=x", "`iss`"),
        ("https://app.example/cb?error=x", "`error`"),
    ]
    .into_iter()
    .map(|(u, why)| (vec![u.to_string()], why))
    .collect();
    cases.push((eleven, "1 to 10"));
    for (uris, why) in cases {
        let mut args = vec!["client", "create", "--name", "Bad", "--json"];
        for u in &uris {
            args.extend(["--redirect-uri", u.as_str()]);
        }
        let r = local(stack, &args);
        assert_eq!(r.code, 2, "{uris:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{uris:?}: {}", r.stdout);
        let e = r.error();
        assert_eq!(e["error"], "invalid_argument", "{e}");
        let message = e["message"].as_str().unwrap();
        assert!(message.starts_with("--redirect-uri"), "{message}");
        assert!(message.contains(why), "{uris:?}: {message}");
    }
    for good in [
        "http://127.0.0.1:8765/cb",
        "http://[::1]/cb",
        "http://localhost/cb",
        "com.example.app:/cb",
        "https://app.example/cb?tenant=1",
    ] {
        let r = ok_json(
            stack,
            &["client", "create", "--name", "Good", "--redirect-uri", good],
        );
        assert_eq!(r["redirect_uris"], serde_json::json!([good]));
    }
    let r = local(
        stack,
        &[
            "client",
            "create",
            "--name",
            "P",
            "--redirect-uri",
            REDIRECT,
            "--public",
            "--trusted",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: --trusted"), "{}", r.stderr);
}

/// `client update`: one write changes what it names and keeps the rest; the same validation as
/// `create`; an unknown client is exit 1; trusting a public client is refused.
#[tokio::test]
async fn update_changes_what_it_names_and_refuses_what_create_refuses() {
    let stack = Stack::get();
    let c = register(stack, &["--scopes", "READ_PROFILE"]);
    let r = ok_json(
        stack,
        &[
            "client",
            "update",
            &c.id,
            "--name",
            "Zap 2",
            "--redirect-uri",
            REDIRECT,
            "--redirect-uri",
            "https://zap.example/cb",
            "--logo",
            "https://zap.example/l.png",
        ],
    );
    assert_eq!(r["name"], "Zap 2");
    assert_eq!(
        r["redirect_uris"],
        serde_json::json!([REDIRECT, "https://zap.example/cb"])
    );
    assert_eq!(r["logo_uri"], "https://zap.example/l.png");
    assert_eq!(r["scopes"], serde_json::json!(["READ_PROFILE"]));
    let shown = ok_json(stack, &["client", "show", &c.id]);
    assert_eq!(shown["name"], "Zap 2");
    assert_eq!(shown["secrets"]["live"], 1);
    let r = ok_json(
        stack,
        &["client", "update", &c.id, "--no-logo", "--trusted", "true"],
    );
    assert_eq!(
        (r["logo_uri"].clone(), r["trusted"].clone()),
        (Value::Null, Value::Bool(true))
    );

    let r = local(
        stack,
        &[
            "client",
            "update",
            &c.id,
            "--redirect-uri",
            "http://evil.example/cb",
            "--json",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = local(
        stack,
        &[
            "client",
            "update",
            "no-such-client",
            "--name",
            "x",
            "--json",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.error()["error"], "not_found");
    let public = register(stack, &["--public"]);
    let r = local(
        stack,
        &[
            "client",
            "update",
            &public.id,
            "--trusted",
            "true",
            "--json",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.error()["message"].as_str().unwrap().contains("public"));
    assert_eq!(
        ok_json(stack, &["client", "show", &public.id])["trusted"],
        false
    );
}

/// `client list`: JSON parsed, every client there with no secret; text is an aligned table.
#[tokio::test]
async fn list_shows_every_client_without_secrets() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let listed = ok_json(stack, &["client", "list"]);
    let found = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["client_id"] == c.id.as_str())
        .cloned()
        .expect("the new client is listed");
    assert_eq!(found["name"], "Zap App");
    assert_eq!(found["secrets"]["live"], 1);
    let all = listed.to_string();
    assert!(!all.contains(c.secret.as_ref().unwrap()));
    assert!(!all.contains("secret_hashes"));
    let text = local(stack, &["client", "list"]).stdout;
    assert!(text.starts_with("CLIENT_ID"), "{text}");
    assert!(text.contains(&c.id));
}

/// Creates a CloudFormation stack in moto whose outputs name the local stack's tables, with
/// the venv's boto3 (the test crate has no CloudFormation client).
fn create_cfn_stack(stack: &Stack, name: &str) {
    let t = stack.tables();
    let script = r#"
import json, sys, boto3
endpoint, name, clients, codes, tokens = sys.argv[1:6]
cf = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
outputs = {"ClientsTableName": clients, "CodesTableName": codes, "TokensTableName": tokens,
           "KeysSecretArn": "portcullis-keys", "Issuer": "https://auth.example"}
cf.create_stack(StackName=name, TemplateBody=json.dumps({
    "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    "Outputs": {k: {"Value": v} for k, v in outputs.items()}}))
"#;
    let status = Command::new(xtask::venv_bin().join("python"))
        .args([
            "-c",
            script,
            &stack.aws_endpoint,
            name,
            &t.clients,
            &t.codes,
            &t.tokens,
        ])
        .env("NO_PROXY", "127.0.0.1")
        .status()
        .expect("run the venv's python");
    assert!(status.success(), "creating stack {name} in moto");
}

fn moto_env(stack: &Stack) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", stack.aws_endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

/// `--stack NAME`: the table names come from the stack's outputs (DescribeStacks); a stack
/// that does not exist is named in the error, with the region.
#[tokio::test]
async fn stack_outputs_name_the_tables_and_a_missing_stack_is_reported() {
    let stack = Stack::get();
    create_cfn_stack(stack, "portcullis-e2e-cli");
    let c = register(stack, &[]);
    let vars = moto_env(stack);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = raw(
        &vars,
        &[
            "--stack",
            "portcullis-e2e-cli",
            "client",
            "show",
            &c.id,
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["client_id"], c.id.as_str());

    let r = raw(
        &vars,
        &["--stack", "no-such-stack", "client", "list", "--json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = r.error();
    assert_eq!(e["error"], "target");
    assert_eq!(
        e["message"],
        "no CloudFormation stack named no-such-stack in region us-east-1"
    );
    // `init` is for the local stack only, whatever the stack's outputs say.
    let r = raw(&vars, &["--stack", "portcullis-e2e-cli", "init", "--json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.error()["message"]
        .as_str()
        .unwrap()
        .contains("init creates the local stack"));
}

/// A table that does not exist is named, with the target and region.
#[tokio::test]
async fn a_missing_table_is_named_in_the_error() {
    let stack = Stack::get();
    let (p, a) = (port(&stack.base_url), port(&stack.aws_endpoint));
    let r = raw(
        &[
            ("PORTCULLIS_PORT", &p),
            ("PORTCULLIS_AWS_PORT", &a),
            ("PORTCULLIS_CLIENTS_TABLE", "no-such-table"),
        ],
        &["--local", "client", "list", "--json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = r.error();
    assert_eq!(e["error"], "target", "{e}");
    assert_eq!(
        e["message"],
        "listing the clients: table no-such-table not found (the local stack in region us-east-1)"
    );
    let text = raw(
        &[
            ("PORTCULLIS_PORT", &p),
            ("PORTCULLIS_AWS_PORT", &a),
            ("PORTCULLIS_CLIENTS_TABLE", "no-such-table"),
        ],
        &["--local", "client", "list"],
    );
    assert!(text
        .stderr
        .starts_with("error: listing the clients: table no-such-table not found"));
    assert!(text.stderr.contains("(hint: "), "{}", text.stderr);
}

/// A deployed stage without a region, or without credentials, is reported as such before any
/// request, saying where they were looked for.
#[test]
fn a_missing_region_or_missing_credentials_are_reported_before_any_call() {
    let tables = [
        ("PORTCULLIS_CLIENTS_TABLE", "c"),
        ("PORTCULLIS_CODES_TABLE", "k"),
        ("PORTCULLIS_TOKENS_TABLE", "t"),
    ];
    let r = raw(&tables, &["client", "list", "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = r.error();
    assert_eq!(e["error"], "target");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("no AWS region (looked in AWS_REGION"),
        "{e}"
    );

    let mut vars = tables.to_vec();
    vars.push(("AWS_REGION", "eu-west-1"));
    let r = raw(&vars, &["client", "list", "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = r.error();
    assert_eq!(e["error"], "target");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("no AWS credentials"),
        "{e}"
    );
    assert!(e["hint"].as_str().unwrap().contains("AWS_PROFILE"), "{e}");
}

/// `session` forges a user's session: against a deployed stage it needs `--allow-production`;
/// refused before any AWS call.
#[test]
fn session_against_a_deployed_stage_needs_allow_production() {
    let r = raw(
        &[("AWS_REGION", "eu-west-1")],
        &["session", "--sub", "u1", "--json"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.error()["message"]
        .as_str()
        .unwrap()
        .contains("--allow-production"));
    let r = raw(&[], &["init"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("init creates the local stack"),
        "{}",
        r.stderr
    );
}

/// Exit codes: 0 done (help too), 2 usage (clap's, as JSON with `--json`), 1 failed.
#[test]
fn exit_codes_are_0_done_1_failed_2_usage() {
    let help = raw(&[], &["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Examples:"), "{}", help.stdout);
    for sub in [
        &["client", "rotate-secret", "--help"][..],
        &["grants", "revoke", "--help"],
    ] {
        let r = raw(&[], sub);
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains("Example"), "{sub:?}: {}", r.stdout);
    }
    let r = raw(&[], &["client", "show"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error:"), "{}", r.stderr);
    let r = raw(&[], &["client", "show", "--json"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.error()["error"], "usage");
    let r = raw(
        &[],
        &[
            "client",
            "rotate-secret",
            "c",
            "--keep-old-for",
            "soon",
            "--json",
        ],
    );
    assert_eq!(r.code, 2);
    assert!(r.error()["message"].as_str().unwrap().contains("soon"));
}
