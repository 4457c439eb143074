//! `GET|POST /auth/oauth2/authorize`: the consent page, its form, the refusals, and the dev
//! login the local stack turns on.
use crate::common::{
    app, authorization_url, authorize, exchange, register, register_strict, session, urlencode,
    REDIRECT,
};
use portcullis_e2e::browser::{hidden_fields, no_redirect_client, query_param, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;

#[tokio::test]
async fn missing_session_redirects_to_login_and_dev_login_returns_to_the_request() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let (url, _) = authorization_url(stack, &c, "READ_PROFILE");
    let mut browser = Browser::new();
    let first = browser.get(url.as_str()).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let login = first.location.unwrap();
    assert!(
        login.starts_with(&format!("{}/auth/dev-login?", stack.base_url)),
        "{login}"
    );
    assert_eq!(
        query_param(&login, "return_to").as_deref(),
        Some(url.as_str())
    );

    // The dev login form, then its POST: a session cookie and a way back.
    let form = browser.get(&login).await;
    assert_eq!(form.status, StatusCode::OK);
    let mut fields = hidden_fields(&form.body);
    fields.push(("username".into(), "grace".into()));
    let signed = browser.post_form(&login, &fields).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location.as_deref(), Some(url.as_str()));
    let set_cookie = signed.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    browser.set_cookie(set_cookie.split(';').next().unwrap().to_string());
    let location = browser.consent(url.as_str(), "allow").await;
    assert!(query_param(&location, "code").is_some(), "{location}");
}

/// RFC 6749 §10.12: the consent POST needs the CSRF token issued with the page.
#[tokio::test]
async fn tampered_csrf_token_is_refused_with_a_page_and_no_code() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let (url, _) = authorization_url(stack, &c, "READ_PROFILE");
    let user = Browser::signed_in(&session(stack, "u-csrf"));
    let page = user.get(url.as_str()).await;
    let mut fields = hidden_fields(&page.body);
    for (k, v) in fields.iter_mut() {
        if k == "csrf_token" {
            let last = v.pop().unwrap();
            v.push(if last == 'A' { 'B' } else { 'A' });
        }
    }
    fields.push(("decision".into(), "allow".into()));
    let r = user.post_form(&stack.authorize_url(), &fields).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.location.is_none());
    assert!(
        r.body.contains("expired or was not sent from this site"),
        "{}",
        r.body
    );

    // The same form from another user's session is refused too.
    let other = Browser::signed_in(&session(stack, "u-other"));
    let mut fields = hidden_fields(&page.body);
    fields.push(("decision".into(), "allow".into()));
    assert_eq!(
        other
            .post_form(&stack.authorize_url(), &fields)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

/// RFC 6749 §4.1.2.1, RFC 9700 §4.11: never redirect for an unknown client or URI.
#[tokio::test]
async fn unknown_client_and_unregistered_redirect_uri_get_a_page_not_a_redirect() {
    let stack = Stack::get();
    let user = Browser::signed_in(&session(stack, "u-unknown"));
    let r = user
        .get(&format!(
            "{}?client_id=nope&redirect_uri=https%3A%2F%2Fevil.example%2F&state=s",
            stack.authorize_url()
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.location.is_none());
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert!(r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
    assert_eq!(r.headers["cache-control"], "no-store");

    let c = register(stack, &[]);
    let r = user
        .get(&format!(
            "{}?client_id={}&redirect_uri=https%3A%2F%2Fevil.example%2F",
            stack.authorize_url(),
            c.id
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.location.is_none());
}

/// RFC 9700 §2.1.1: a client registered with the CLI's defaults must use PKCE, confidential
/// or not: an authorization request without `code_challenge` is sent back with
/// `invalid_request` and no code; with PKCE the whole flow works.
#[tokio::test]
async fn a_confidential_client_registered_by_default_must_use_pkce() {
    let stack = Stack::get();
    let c = register_strict(stack, &[]);
    let (url, _) = authorization_url(stack, &c, "READ_PROFILE");
    let user = Browser::signed_in(&session(stack, "u-pkce-default"));
    let page = user.get(url.as_str()).await;
    let location = page.location.expect("sent back to the client");
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert!(query_param(&location, "code").is_none());
    let app = app(stack, &c, oauth2::AuthType::BasicAuth);
    let (code, verifier) = authorize(stack, &app, &user, true).await;
    assert!(exchange(&app, &code, verifier).await.is_ok());
}

#[tokio::test]
async fn deny_redirects_with_access_denied_state_and_iss() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let (url, state) = authorization_url(stack, &c, "READ_PROFILE");
    let user = Browser::signed_in(&session(stack, "u-deny"));
    let location = user.consent(url.as_str(), "deny").await;
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(stack.base_url.as_str())
    );
    assert!(query_param(&location, "code").is_none());
}

#[tokio::test]
async fn consent_page_names_the_client_and_each_requested_scope_in_plain_words() {
    let stack = Stack::get();
    let c = register(stack, &["--logo", "https://cdn.example/logo.png"]);
    let (url, _) = authorization_url(stack, &c, "READ_BOOKING");
    let page = Browser::signed_in(&session(stack, "u-page"))
        .get(url.as_str())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Zap App"));
    assert!(page.body.contains("https://cdn.example/logo.png"));
    assert!(page.body.contains("See your bookings"));
    assert!(
        !page.body.contains("See your profile"),
        "only the requested scopes are listed"
    );
    assert!(page
        .body
        .contains(r#"<button type="submit" name="decision" value="allow""#));
    assert!(page
        .body
        .contains(r#"<button type="submit" name="decision" value="deny""#));
}

/// Cal.com split scopes on commas; both separators are accepted.
#[tokio::test]
async fn comma_separated_scopes_and_absent_response_type_are_accepted() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let url = format!(
        "{}?client_id={}&redirect_uri={}&scope=READ_BOOKING,READ_PROFILE&state=abc",
        stack.authorize_url(),
        c.id,
        urlencode(REDIRECT)
    );
    let user = Browser::signed_in(&session(stack, "u-comma"));
    let page = user.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("See your bookings") && page.body.contains("See your profile"));
}

#[tokio::test]
async fn trusted_client_skips_the_consent_page() {
    let stack = Stack::get();
    let c = register(stack, &["--trusted"]);
    let (url, _) = authorization_url(stack, &c, "READ_PROFILE");
    let r = Browser::signed_in(&session(stack, "u-trusted"))
        .get(url.as_str())
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(query_param(r.location.as_deref().unwrap(), "code").is_some());
}

/// Hostile input gets a clear 4xx, never a 5xx (the authorization endpoint's part; see also
/// `token::` and `me::malformed_requests_get_clear_errors_not_server_errors`).
#[tokio::test]
async fn malformed_requests_get_clear_errors_not_server_errors() {
    let stack = Stack::get();
    let http = no_redirect_client();
    for q in [
        "",
        "?client_id=%FF",
        "?client_id=a&client_id=b",
        &format!("?{}", "x=y&".repeat(500)),
    ] {
        let r = http
            .get(format!("{}{q}", stack.authorize_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
}
