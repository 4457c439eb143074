//! The documents checked against the running code. `docs/openapi.yaml` against real responses: each JSON endpoint is called through the running
//! functions (successes and errors), and every response is validated against the schema the
//! document gives for its path, method and status. An undocumented status, a body the schema
//! refuses, or a documented path no case exercised fails the test.
//!
//! The validation runs in Python's `jsonschema` (Draft 2020-12, which OpenAPI 3.1 uses) from the
//! venv `scripts/bootstrap.sh` builds: it is pinned in `tools/requirements.txt` (cfn-lint needs
//! it anyway), so the check adds no Rust dependency to build.
//!
//! The README, too: its configuration table against `settings::ENV_VARS` and the template's
//! parameters, and its session-signing examples (Python, Node) against the server.
use crate::common::{app, authorize, register, session};
use oauth2::AuthType;
use portcullis_e2e::browser::{no_redirect_client, Browser};
use portcullis_e2e::Stack;
use serde_json::{json, Value};

/// Validates `cases` (`{path, method, status, content_type, body}`) against the document.
const VALIDATE: &str = r#"
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1]))
cases = json.load(open(sys.argv[2]))
jsonschema.Draft202012Validator.check_schema({"components": doc["components"]})
failures, seen = [], set()
for c in cases:
    where = f'{c["method"].upper()} {c["path"]} {c["status"]}'
    op = doc["paths"].get(c["path"], {}).get(c["method"])
    if op is None:
        failures.append(f"{where}: the path/method is not in the document"); continue
    seen.add((c["path"], c["method"]))
    resp = op["responses"].get(str(c["status"]))
    if resp is None:
        failures.append(f"{where}: the status is not documented"); continue
    content = resp.get("content")
    if c["body"] is None:
        if content:
            failures.append(f"{where}: documented with a body, the response had none")
        continue
    if not content or "application/json" not in content:
        failures.append(f"{where}: the response has a JSON body the document does not describe"); continue
    if not c["content_type"].startswith("application/json"):
        failures.append(f'{where}: content-type {c["content_type"]}')
    schema = dict(content["application/json"]["schema"]); schema["components"] = doc["components"]
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(c["body"]), key=str)
    for e in errors:
        failures.append(f"{where}: {e.message} at {list(e.absolute_path)}; body {json.dumps(c['body'])}")
for path, item in doc["paths"].items():
    for method in item:
        if (path, method) not in seen:
            failures.append(f"{method.upper()} {path}: no case exercised it")
print("\n".join(failures) if failures else f"{len(cases)} responses match docs/openapi.yaml")
sys.exit(1 if failures else 0)
"#;

/// One real response.
async fn case(path: &str, method: &str, r: reqwest::Response) -> Value {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path} {status}: not JSON ({e}): {text}"))
    };
    json!({"path": path, "method": method, "status": status, "content_type": content_type, "body": body})
}

/// The cases as written to disk: token values replaced (the schemas only need a non-empty string).
fn redacted(cases: &[Value]) -> Vec<Value> {
    let mut cases = cases.to_vec();
    for c in &mut cases {
        if let Some(body) = c["body"].as_object_mut() {
            for key in ["access_token", "refresh_token"] {
                if body.contains_key(key) {
                    body.insert(key.into(), json!("[redacted]"));
                }
            }
        }
    }
    cases
}

#[tokio::test]
async fn every_json_response_matches_its_schema_in_docs_openapi_yaml() {
    let stack = Stack::get();
    let http = no_redirect_client();
    let base = &stack.base_url;
    let url = |p: &str| format!("{base}{p}");
    const TOKEN: &str = "/api/auth/oauth/token";
    const REFRESH: &str = "/api/auth/oauth/refreshToken";
    const REVOKE: &str = "/api/auth/oauth/revoke";
    const INTROSPECT: &str = "/api/auth/oauth/introspect";
    const ME: &str = "/api/auth/oauth/me";
    const BOOKINGS: &str = "/api/bookings";
    const METADATA: &str = "/.well-known/oauth-authorization-server";

    let c = register(stack, &[]);
    let secret = c.secret.clone().unwrap();
    let the_app = app(stack, &c, AuthType::BasicAuth);
    let user = Browser::signed_in(&session(stack, "u-openapi"));
    let (code, _) = authorize(stack, &the_app, &user, false).await;
    let redirect = crate::common::REDIRECT;
    let mut cases = Vec::new();

    cases.push(
        case(
            METADATA,
            "get",
            http.get(url(METADATA)).send().await.unwrap(),
        )
        .await,
    );

    // The token endpoint: a code exchange, then its errors.
    let r = http
        .post(url(TOKEN))
        .basic_auth(&c.id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap();
    let tokens = case(TOKEN, "post", r).await;
    let access = tokens["body"]["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["body"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    cases.push(tokens);
    let bad_code = http
        .post(url(TOKEN))
        .basic_auth(&c.id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "pc_ac_nope"),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap();
    cases.push(case(TOKEN, "post", bad_code).await);
    let bad_client = http
        .post(url(TOKEN))
        .basic_auth(&c.id, Some("wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    cases.push(case(TOKEN, "post", bad_client).await);

    // Resource endpoints: with the token, and without.
    for path in [ME, BOOKINGS] {
        let ok = http
            .get(url(path))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        cases.push(case(path, "get", ok).await);
        let none = http.get(url(path)).send().await.unwrap();
        cases.push(case(path, "get", none).await);
        let bad = http
            .get(url(path))
            .bearer_auth("pc_at_not_a_token")
            .send()
            .await
            .unwrap();
        cases.push(case(path, "get", bad).await);
    }

    // The example MCP server and its metadata (RFC 9728): a tools/list with a token bound to
    // it, a mismatched header, an unknown tool; no token, a malformed one, an unbound one.
    const MCP: &str = "/mcp";
    const MCP_METADATA: &str = "/.well-known/oauth-protected-resource/mcp";
    cases.push(
        case(
            MCP_METADATA,
            "get",
            http.get(url(MCP_METADATA)).send().await.unwrap(),
        )
        .await,
    );
    let (_, bound, _) =
        crate::common::stored_grant(&c.id, "u-openapi", |g| g.resource = Some(url(MCP))).await;
    let modern = |method: &str, header: &str, name: Option<&str>| {
        let mut params =
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}});
        let mut r = http
            .post(url(MCP))
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", header);
        if let Some(n) = name {
            params["name"] = json!(n);
            r = r.header("mcp-name", n);
        }
        r.json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    };
    for req in [
        modern("tools/list", "tools/list", None).bearer_auth(bound.secret()),
        modern("tools/list", "tools/call", None).bearer_auth(bound.secret()),
        modern("tools/call", "tools/call", Some("no_such_tool")).bearer_auth(bound.secret()),
        modern("tools/list", "tools/list", None),
        modern("tools/list", "tools/list", None).bearer_auth("pc_at_not_a_token"),
        modern("tools/list", "tools/list", None).bearer_auth(&access),
    ] {
        cases.push(case(MCP, "post", req.send().await.unwrap()).await);
    }

    // Introspection: active, inactive, and without client authentication.
    for token in [access.as_str(), "pc_at_unknown"] {
        let r = http
            .post(url(INTROSPECT))
            .basic_auth(&c.id, Some(&secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        cases.push(case(INTROSPECT, "post", r).await);
    }
    let r = http
        .post(url(INTROSPECT))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    cases.push(case(INTROSPECT, "post", r).await);

    // Cal.com's refresh path: the refresh token as Bearer, the client in the body; then a
    // retired token.
    let r = http
        .post(url(REFRESH))
        .bearer_auth(&refresh)
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", c.id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let refreshed = case(REFRESH, "post", r).await;
    let new_refresh = refreshed["body"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    cases.push(refreshed);
    let r = http
        .post(url(REFRESH))
        .bearer_auth("pc_rt_unknown")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", c.id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    cases.push(case(REFRESH, "post", r).await);

    // Revocation: success (empty 200), and without client authentication.
    let r = http
        .post(url(REVOKE))
        .basic_auth(&c.id, Some(&secret))
        .form(&[("token", new_refresh.as_str())])
        .send()
        .await
        .unwrap();
    cases.push(case(REVOKE, "post", r).await);
    let r = http
        .post(url(REVOKE))
        .form(&[("token", new_refresh.as_str())])
        .send()
        .await
        .unwrap();
    cases.push(case(REVOKE, "post", r).await);

    // RFC 7591: a registration, and a refused one.
    const REGISTER: &str = "/api/auth/oauth/register";
    let r = http
        .post(url(REGISTER))
        .json(&json!({
            "redirect_uris": ["http://127.0.0.1:41077/callback"],
            "client_name": "OpenAPI agent",
            "token_endpoint_auth_method": "none",
            "application_type": "native"
        }))
        .send()
        .await
        .unwrap();
    cases.push(case(REGISTER, "post", r).await);
    let r = http
        .post(url(REGISTER))
        .json(&json!({"redirect_uris": ["javascript:alert(1)"]}))
        .send()
        .await
        .unwrap();
    cases.push(case(REGISTER, "post", r).await);

    let dir = xtask::target_dir().join("e2e-logs");
    std::fs::create_dir_all(&dir).unwrap();
    let cases_file = dir.join("openapi-cases.json");
    // For reading a failure; no token is written.
    std::fs::write(
        &cases_file,
        serde_json::to_vec_pretty(&redacted(&cases)).unwrap(),
    )
    .unwrap();
    let python = portcullis_e2e::root().join(".venv/bin/python");
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(VALIDATE)
        .arg(portcullis_e2e::root().join("docs/openapi.yaml"))
        .arg(&cases_file)
        .output()
        .unwrap_or_else(|e| panic!("{} ({e}): run scripts/bootstrap.sh", python.display()));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "docs/openapi.yaml does not match the running functions:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{report}");
}

/// The README's section that starts with `heading`, up to the next `## ` heading.
fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(portcullis_e2e::root().join("README.md")).unwrap();
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has no `{heading}`"));
    let rest = &readme[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].to_string()
}

/// The table row of the section whose first cell is `` `name` ``, without backticks.
fn row(section: &str, name: &str) -> Option<String> {
    let first = format!("| `{name}` |");
    section
        .lines()
        .find(|l| l.starts_with(&first))
        .map(|l| l.replace('`', ""))
}

/// `infra/template.yaml`'s parameters and their defaults (`None` when there is none), read as
/// text: the two-space-indented keys under the top-level `Parameters:`.
fn template_parameters() -> Vec<(String, Option<String>)> {
    let template =
        std::fs::read_to_string(portcullis_e2e::root().join("infra/template.yaml")).unwrap();
    let mut params: Vec<(String, Option<String>)> = Vec::new();
    let mut inside = false;
    for line in template.lines() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            inside = line.trim_end() == "Parameters:";
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(name) = line
            .strip_prefix("  ")
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
            .and_then(|l| l.strip_suffix(':'))
        {
            params.push((name.to_string(), None));
        } else if let Some(default) = line.trim_start().strip_prefix("Default:") {
            if let Some(last) = params.last_mut() {
                last.1 = Some(default.trim().trim_matches('"').to_string());
            }
        }
    }
    params
}

/// The environment variables `infra/template.yaml` gives the functions.
fn template_variables() -> Vec<String> {
    let template =
        std::fs::read_to_string(portcullis_e2e::root().join("infra/template.yaml")).unwrap();
    let mut names: Vec<String> = template
        .lines()
        .filter_map(|l| l.trim_start().split_once(':').map(|(k, _)| k.to_string()))
        .filter(|k| k.starts_with("PORTCULLIS_") || k == "DEV_LOGIN")
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn readme_configuration_lists_every_variable_and_template_parameter() {
    use portcullis_core::settings::ENV_VARS;
    let section = readme_section("## Configuration\n");
    let mut missing = Vec::new();
    for v in ENV_VARS {
        match row(&section, v.name) {
            None => missing.push(format!("no row for the variable {}", v.name)),
            Some(r) => match v.default {
                Some(d) if !r.contains(d) => missing.push(format!(
                    "{}: the row does not give the default `{d}`",
                    v.name
                )),
                None if !r.contains("required") => {
                    missing.push(format!("{}: the row does not say it is required", v.name))
                }
                _ => {}
            },
        }
    }
    for name in template_variables() {
        if !ENV_VARS.iter().any(|v| v.name == name) {
            missing.push(format!(
                "infra/template.yaml sets {name}, which settings::ENV_VARS does not list"
            ));
        }
    }
    let params = template_parameters();
    assert!(params.len() >= 10, "{params:?}");
    for (name, default) in params {
        match row(&section, &name) {
            None => missing.push(format!("no row for the template parameter {name}")),
            Some(r) => match default.as_deref() {
                None if !r.contains("required") => {
                    missing.push(format!("{name}: the row does not say it is required"))
                }
                Some("") if !r.contains("empty") => {
                    missing.push(format!("{name}: the row does not say the default is empty"))
                }
                Some(d) if !d.is_empty() && !r.contains(d) => {
                    missing.push(format!("{name}: the row does not give the default `{d}`"))
                }
                _ => {}
            },
        }
    }
    assert!(
        missing.is_empty(),
        "README.md's Configuration section is out of date:\n{}",
        missing.join("\n")
    );
}

/// The README's example after `<!-- marker -->`: the fenced code block's body.
fn readme_example(marker: &str) -> String {
    let readme = std::fs::read_to_string(portcullis_e2e::root().join("README.md")).unwrap();
    let start = readme
        .find(&format!("<!-- {marker} -->"))
        .unwrap_or_else(|| panic!("README.md has no `<!-- {marker} -->`"));
    let block = &readme[start..];
    let body = &block[block.find('\n').unwrap() + 1..];
    let body = &body[body.find('\n').unwrap() + 1..]; // the ``` line
    body[..body.find("\n```").unwrap()].to_string()
}

/// Runs `program args…` with the session key in the environment (never on the command line);
/// the token it prints.
fn sign_with(program: &std::path::Path, args: &[&str], key: &str) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .env("PORTCULLIS_TEST_SESSION_KEY", key)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn readme_session_examples_sign_a_cookie_the_server_accepts() {
    use portcullis_core::keys::KeySource;
    let stack = Stack::get();
    let secret_id = portcullis_core::settings::local_stack(0, 0)
        .into_iter()
        .find(|(k, _)| *k == portcullis_core::settings::env::SECRET_ID)
        .unwrap()
        .1;
    let keys = portcullis_aws::secrets::SecretsManagerKeys::new(&stack.sdk().await, secret_id)
        .fetch()
        .await
        .unwrap();
    let key = String::from_utf8(keys.session.bytes().to_vec()).unwrap();

    let python = readme_example("session-python")
        + "\nimport os\nprint(portcullis_session(os.environ['PORTCULLIS_TEST_SESSION_KEY'], 'u-readme', username='ada'))\n";
    let mut tokens = vec![(
        "python",
        sign_with(
            &portcullis_e2e::root().join(".venv/bin/python"),
            &["-c", &python],
            &key,
        ),
    )];
    let node = readme_example("session-node")
        + "\nconsole.log(portcullisSession(process.env.PORTCULLIS_TEST_SESSION_KEY, 'u-readme', 3600, { username: 'ada' }));\n";
    match std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("node"))
            .find(|p| p.is_file())
    }) {
        Some(bin) => tokens.push(("node", sign_with(&bin, &["-e", &node], &key))),
        None => eprintln!("SKIPPED the Node example: node is not installed"),
    }

    let c = register(stack, &[]);
    let (url, _) = crate::common::authorization_url(stack, &c, "READ_PROFILE");
    for (language, token) in tokens {
        let page = Browser::signed_in(&token).get(url.as_str()).await;
        assert_eq!(
            page.status,
            reqwest::StatusCode::OK,
            "the {language} example's session was refused: {:?}",
            page.location
        );
        assert!(
            page.body.contains("Signed in as <strong>ada</strong>"),
            "{language}"
        );
    }
    // The same code with another key: refused (sent to log in), so the check above can fail.
    let wrong = sign_with(
        &portcullis_e2e::root().join(".venv/bin/python"),
        &["-c", &python],
        "not-the-deployment-key-0123456789abcdef",
    );
    let page = Browser::signed_in(&wrong).get(url.as_str()).await;
    assert_eq!(page.status, reqwest::StatusCode::SEE_OTHER);
}
