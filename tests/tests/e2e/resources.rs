//! Resource indicators (RFC 8707) through the real binaries: `portcullis resource create`, an
//! authorization request naming the resource, the code exchange and refresh with the `oauth2`
//! crate's requests plus `resource`, and introspection's `aud`.
use crate::common::{register, session, REDIRECT};
use crate::introspect::{introspect, resource_server};
use portcullis_e2e::browser::{no_redirect_client, query_param, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::Value;

/// A resource registered by the CLI under a URI unique to the test.
fn registered_resource(stack: &Stack, tag: &str) -> String {
    let uri = format!("https://{tag}.api.example/mcp");
    let v = stack.cli_json(&[
        "resource",
        "create",
        "--uri",
        &uri,
        "--scopes",
        "READ_BOOKING",
        "--name",
        "Example MCP",
    ]);
    assert_eq!(v["uri"], uri.as_str());
    uri
}

fn authorize_url(stack: &Stack, client_id: &str, resource: Option<&str>) -> String {
    let mut u = url::Url::parse(&stack.authorize_url()).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "s1")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    if let Some(r) = resource {
        u.query_pairs_mut().append_pair("resource", r);
    }
    u.to_string()
}

/// A token request with `form`: status and JSON body.
pub async fn token(stack: &Stack, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = no_redirect_client()
        .post(stack.token_url())
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// RFC 8707 §2, §2.2: the consent names the resource, the tokens are bound to it (the code
/// exchange may repeat it, not change it), a refresh keeps it and cannot move it, and
/// introspection reports it as `aud`.
#[tokio::test]
async fn tokens_are_bound_to_the_registered_resource_the_request_names() {
    let stack = Stack::get();
    let resource = registered_resource(stack, "bound");
    let app = register(stack, &["--public"]);
    let user = Browser::signed_in(&session(stack, "dev|res-ada"));
    let page = user
        .get(&authorize_url(stack, &app.id, Some(&resource)))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Example MCP"),
        "the consent page names the resource"
    );
    let location = user
        .consent(&authorize_url(stack, &app.id, Some(&resource)), "allow")
        .await;
    let code = query_param(&location, "code").expect(&location);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", app.id.as_str()),
        ("code_verifier", verifier),
    ];
    let mut form = base.to_vec();
    form.push(("resource", &resource));
    let (status, t) = token(stack, &form).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        t["scope"], "READ_BOOKING",
        "narrowed to what the resource offers"
    );
    let access = t["access_token"].as_str().unwrap();
    let refresh = t["refresh_token"].as_str().unwrap();

    let rs = resource_server(stack).await;
    let (_, i) = introspect(&rs, access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["aud"], resource.as_str());

    let other = registered_resource(stack, "other");
    let (status, e) = token(
        stack,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &app.id),
            ("resource", &other),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_target", "{e}");
    let (status, t2) = token(
        stack,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &app.id),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t2}");
    let (_, i) = introspect(&rs, t2["access_token"].as_str().unwrap()).await;
    assert_eq!(i["aud"], resource.as_str());
}

/// RFC 8707 §2: a resource nobody registered, or two at once, is `invalid_target`, sent back to
/// the client's redirect URI with `state` and `iss`; nothing is issued.
#[tokio::test]
async fn an_unregistered_or_second_resource_is_invalid_target() {
    let stack = Stack::get();
    let resource = registered_resource(stack, "twice");
    let app = register(stack, &["--public"]);
    let user = Browser::signed_in(&session(stack, "dev|res-bob"));
    for url in [
        authorize_url(stack, &app.id, Some("https://nobody.api.example/mcp")),
        format!(
            "{}&resource={}",
            authorize_url(stack, &app.id, Some(&resource)),
            crate::common::urlencode("https://nobody.api.example/mcp")
        ),
    ] {
        let page = user.get(&url).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let location = page.location.clone().unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        assert_eq!(
            query_param(&location, "error").as_deref(),
            Some("invalid_target")
        );
        assert_eq!(query_param(&location, "state").as_deref(), Some("s1"));
        assert!(query_param(&location, "code").is_none());
    }
    // A code issued without a resource cannot be exchanged for one.
    let location = user
        .consent(&authorize_url(stack, &app.id, None), "allow")
        .await;
    let code = query_param(&location, "code").unwrap();
    let (status, e) = token(
        stack,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &app.id),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_target", "{e}");
}

/// `resource list` shows what `resource create` registered, `client list` never shows a
/// resource, and `resource delete` removes it (new requests naming it: `invalid_target`).
#[tokio::test]
async fn the_operator_lists_and_deletes_resources_apart_from_clients() {
    let stack = Stack::get();
    let resource = registered_resource(stack, "listed");
    let list = stack.cli_json(&["resource", "list"]);
    assert!(list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["uri"] == resource.as_str() && r["scopes"][0] == "READ_BOOKING"));
    let clients = stack.cli_json(&["client", "list"]).to_string();
    assert!(!clients.contains(&resource), "{clients}");
    let again = crate::cli::local(
        stack,
        &[
            "resource",
            "create",
            "--uri",
            &resource,
            "--scopes",
            "READ_BOOKING",
        ],
    );
    assert_ne!(again.code, 0, "a second registration of one URI is refused");
    assert!(
        again.stderr.contains("already registered"),
        "{}",
        again.stderr
    );
    stack.cli_json(&["resource", "delete", &resource]);
    let app = register(stack, &["--public"]);
    let user = Browser::signed_in(&session(stack, "dev|res-cy"));
    let page = user
        .get(&authorize_url(stack, &app.id, Some(&resource)))
        .await;
    let location = page.location.clone().unwrap();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_target")
    );
}

/// RFC 8707 §2 with the client credentials grant (MCP's client-credentials extension sends
/// `resource`): a machine's token for a registered resource carries only the scopes the
/// resource offers and is bound to it (introspection's `aud`); a resource nobody registered,
/// or two, is `invalid_target` and issues nothing.
#[tokio::test]
async fn a_client_credentials_token_is_bound_to_the_resource_it_names() {
    let stack = Stack::get();
    let resource = registered_resource(stack, "machines");
    let m = crate::machines::register_machine(stack, &["--scopes", "READ_BOOKING,READ_PROFILE"]);
    let secret = m.secret.clone().unwrap();
    let creds = [
        ("grant_type", "client_credentials"),
        ("client_id", m.id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let with = |extra: &[(&'static str, &str)]| {
        let mut f: Vec<(&str, String)> = creds.iter().map(|(k, v)| (*k, v.to_string())).collect();
        f.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        f
    };
    let form = with(&[("resource", &resource)]);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, t) = token(stack, &pairs).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["scope"], "READ_BOOKING", "narrowed to the resource's");
    let access = t["access_token"].as_str().unwrap();
    let (_, own) = introspect(&m, access).await;
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["aud"], resource.as_str(), "{own}");
    let (_, seen) = introspect(&resource_server(stack).await, access).await;
    assert_eq!(seen["aud"], resource.as_str(), "{seen}");

    for bad in [
        with(&[("resource", "https://nobody.api.example/mcp")]),
        with(&[
            ("resource", &resource),
            ("resource", "https://nobody.api.example/mcp"),
        ]),
    ] {
        let pairs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, e) = token(stack, &pairs).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["error"], "invalid_target", "{e}");
        assert!(e.get("access_token").is_none());
    }
}

/// RFC 8707 §2, RFC 9700 §2.5: `/me` and the example product API name no resource of their own,
/// so a token bound to one (here the example MCP server's) is `401 invalid_token` there, while a
/// token issued with no resource (what Cal.com-style apps get) keeps working.
#[tokio::test]
async fn a_token_bound_to_the_mcp_server_is_refused_at_me_and_list_bookings() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let scopes = |g: &mut portcullis_core::model::Grant| {
        g.scopes = vec!["READ_PROFILE".into(), "READ_BOOKING".into()];
    };
    let mcp = format!("{}/mcp", stack.base_url);
    let (_, bound, _) = crate::common::stored_grant(&c.id, "u-res-bound", |g| {
        scopes(g);
        g.resource = Some(mcp.clone());
    })
    .await;
    let (_, unbound, _) = crate::common::stored_grant(&c.id, "u-res-unbound", scopes).await;
    let bookings = |t: String| async move {
        let r = no_redirect_client()
            .get(format!("{}/api/bookings", stack.base_url))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status(), challenge)
    };

    let (status, challenge, body) = crate::common::me(stack, bound.secret()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        body.to_string().contains("another resource"),
        "says why: {body}"
    );
    let (status, challenge) = bookings(bound.secret().to_string()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    let (status, _, body) = crate::common::me(stack, unbound.secret()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = bookings(unbound.secret().to_string()).await;
    assert_eq!(status, StatusCode::OK);
}
