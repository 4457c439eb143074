//! The authorization endpoint's rules (RFC 6749 §4.1.1–§4.1.2.1, RFC 7636, RFC 9207, RFC 9700),
//! free of HTTP: validate a request, then issue a code or an error for the client.
use crate::clock::{Clock, Entropy};
use crate::error::{EndpointError, ErrorCode, OAuthError};
use crate::ids::ClientId;
use crate::metadata_document::{is_metadata_url, ClientDocument, ClientIdUrl, DocumentSource};
use crate::model::{Client, CodeRecord};
use crate::params::Params;
use crate::pkce::CodeChallenge;
use crate::ports::{ClientLookup, CodeIssue, DocumentClientCache, ResourceLookup};
use crate::redirect::{choose_redirect_uri, redirect_with, ChosenRedirect, RedirectError};
use crate::scope::{join_scope, ScopeCatalog};
use crate::secret::AuthorizationCode;
use crate::session::Session;
use std::borrow::Cow;

/// The parameters of an authorization request, as sent (query string or consent form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// RFC 8707 §2: the resource the tokens are for.
    pub resource: Option<String>,
    /// Names of the parameters above that were sent more than once (RFC 6749 §3.1).
    pub repeated: Vec<&'static str>,
}

const PARAM_NAMES: [&str; 8] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    crate::resource::PARAM,
];

impl AuthorizeParams {
    /// Takes the parameters this endpoint knows from the request's [`Params`] (empty values
    /// already count as absent, RFC 6749 §3.1); others are ignored, repeated or not.
    pub fn from_params(params: &Params) -> Self {
        let get = |name: &str| params.get(name).map(str::to_string);
        Self {
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            response_type: get("response_type"),
            scope: get("scope"),
            state: get("state"),
            code_challenge: get("code_challenge"),
            code_challenge_method: get("code_challenge_method"),
            resource: get(crate::resource::PARAM),
            repeated: PARAM_NAMES
                .iter()
                .copied()
                .filter(|n| params.is_repeated(n))
                .collect(),
        }
    }

    /// The parameters as query pairs, to rebuild the request (login `return_to`, consent form).
    pub fn to_pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("response_type", &self.response_type),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            (crate::resource::PARAM, &self.resource),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// A request that passed every check: the client, where to send the user back, and what for.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: Client,
    pub redirect: ChosenRedirect,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    /// RFC 8707: the registered resource the tokens will be bound to.
    pub resource: Option<crate::resource::Resource>,
}

impl AuthorizationRequest {
    pub fn scope_string(&self) -> String {
        join_scope(&self.scopes)
    }
}

/// How an authorization request fails.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI is not known good: show an error page, never redirect
    /// (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2).
    Page {
        status: u16,
        message: Cow<'static, str>,
    },
    /// The client and redirect URI are good: send the error back to the client.
    Redirect(String),
    /// Storage or keys failed.
    Internal(EndpointError),
}

impl AuthorizeError {
    fn page(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Page {
            status: 400,
            message: message.into(),
        }
    }
}

impl<E: Into<EndpointError>> From<E> for AuthorizeError {
    fn from(e: E) -> Self {
        Self::Internal(e.into())
    }
}

/// RFC 6749 §4.1.2.1 error response, with `iss` (RFC 9207 §2) and the request's `state`.
pub fn error_location(
    redirect_uri: &str,
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_ref()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    redirect_with(redirect_uri, &params)
}

/// A metadata-document client, from its stored copy or its URL (draft §4.3, §4.4):
///
/// - a stored copy that is disabled, or still fresh (`DocumentCopy::fresh_until`), is used as
///   it is: no fetch;
/// - otherwise the document is fetched (hardened: `portcullis_aws::fetch`) and validated
///   ([`ClientDocument::validate`]); a failure of either is a page that says what is wrong
///   (draft §4.3: the server "SHOULD abort the authorization request"), and nothing is stored
///   (§4.4: never cache an error or an invalid document);
/// - the valid document is stored (one conditional PutItem, [`DocumentClientCache`]), fresh
///   for as long as its `Cache-Control` allows, bounded to 5 minutes..1 day; a write refused
///   because the operator disabled the client meanwhile is the disabled client's page.
async fn document_client(
    store: &(impl DocumentClientCache + ?Sized),
    catalog: &ScopeCatalog,
    url: &ClientIdUrl,
    found: Option<Client>,
    d: &Documents<'_>,
) -> Result<Option<Client>, AuthorizeError> {
    if let Some(c) = &found {
        if c.disabled
            || c.document
                .as_ref()
                .is_some_and(|doc| doc.fresh_until > d.now)
        {
            return Ok(found);
        }
    }
    let refused = |e: crate::metadata_document::DocumentError| {
        tracing::info!(client_id = url.as_str(), reason = %e, "client metadata document refused");
        AuthorizeError::page(format!(
            "The application's client metadata document is refused: {e}."
        ))
    };
    let fetched = d.source.fetch_document(url).await.map_err(refused)?;
    let document = ClientDocument::validate(url, &fetched.body).map_err(refused)?;
    let fresh_until =
        crate::metadata_document::cache_expires_at(fetched.cache_control.as_deref(), d.now);
    let client = document.into_client(catalog, found.as_ref(), fresh_until, d.now, d.idle);
    if store.store_document_client(&client).await? {
        Ok(Some(client))
    } else {
        Ok(None)
    }
}

/// Client ID Metadata Documents at the authorization endpoint (`PORTCULLIS_CLIENT_METADATA_DOCUMENTS`
/// on): where documents come from, which loopback hosts the development exception allows, the
/// time, and the idle TTL the stored copy gets.
pub struct Documents<'a> {
    pub source: &'a dyn DocumentSource,
    pub loopback_hosts: &'a [String],
    pub now: u64,
    pub idle: u64,
}

/// Validates an authorization request (RFC 6749 §4.1.1, §4.1.2.1).
///
/// Client and redirect URI first: until both are known good every failure is a page. After
/// that, failures go back to the client: repeated parameters, `response_type`, `scope`, PKCE.
///
/// A `client_id` that is an https URL is a Client ID Metadata Document
/// (draft-ietf-oauth-client-id-metadata-document; MCP 2026-07-28 client registration), when
/// `documents` is given ([`document_client`]); otherwise it is refused with a page that says so.
pub async fn validate_request(
    clients: &(impl ClientLookup + ResourceLookup + DocumentClientCache + ?Sized),
    catalog: &ScopeCatalog,
    issuer: &str,
    documents: Option<&Documents<'_>>,
    p: &AuthorizeParams,
) -> Result<AuthorizationRequest, AuthorizeError> {
    if p.repeated.contains(&"client_id") {
        return Err(AuthorizeError::page(
            "The request names more than one client_id.",
        ));
    }
    let Some(client_id) = p.client_id.as_deref() else {
        return Err(AuthorizeError::page("The request has no client_id."));
    };
    // A metadata document's URL is checked before anything is read or fetched (draft §3), and
    // stored under its fixed-length internal id.
    let document_url = match (is_metadata_url(client_id), documents) {
        (false, _) => None,
        (true, None) => {
            return Err(AuthorizeError::page(
                "This server does not accept client metadata documents (a client_id that is a URL): the application must be registered with it.",
            ))
        }
        (true, Some(d)) => Some(
            ClientIdUrl::parse_allowing(client_id, d.loopback_hosts)
                .map_err(|e| AuthorizeError::page(format!("The application's client_id is refused: {e}.")))?,
        ),
    };
    // Issue 10: an id that cannot be a client's (too long for a DynamoDB key, odd characters)
    // is refused without a storage call.
    let client_id = match &document_url {
        Some(url) => url.internal_id(),
        None => ClientId::from(client_id),
    };
    // RFC 8707: a well-formed single `resource` is read with the client, in the same request;
    // anything else about it is refused below, once errors can go back to the client.
    let indicator = match (&p.resource, p.repeated.contains(&crate::resource::PARAM)) {
        (Some(r), false) => crate::resource::check_indicator(r).ok(),
        _ => None,
    };
    let (found, resource) = match (client_id.is_well_formed(), indicator) {
        (false, _) => (None, None),
        (true, None) => (clients.client(&client_id).await?, None),
        (true, Some(r)) => clients.client_and_resource(&client_id, r).await?,
    };
    let found = match (&document_url, documents) {
        (Some(url), Some(d)) => document_client(clients, catalog, url, found, d).await?,
        _ => found,
    };
    let client = match found {
        Some(c) if !c.disabled => c,
        _ => {
            return Err(AuthorizeError::page(
                "The application that sent you here is not registered, or has been disabled.",
            ))
        }
    };
    // RFC 6749 §5.2 `unauthorized_client`, as a page: a client registered for
    // client_credentials only has no redirect URI to send an error to.
    if !client.may_use(crate::model::GrantType::AuthorizationCode) {
        return Err(AuthorizeError::page(
            "This application is not registered to ask users for access: it only acts on its own behalf.",
        ));
    }
    if p.repeated.contains(&"redirect_uri") {
        return Err(AuthorizeError::page(
            "The request names more than one redirect_uri.",
        ));
    }
    let redirect = choose_redirect_uri(&client.redirect_uris, p.redirect_uri.as_deref()).map_err(
        |e| match e {
            RedirectError::Ambiguous => AuthorizeError::page(
                "The request has no redirect_uri and the application has registered more than one.",
            ),
            RedirectError::NotRegistered => {
                AuthorizeError::page("The redirect_uri is not one the application has registered.")
            }
        },
    )?;

    let state = if p.repeated.contains(&"state") {
        None
    } else {
        p.state.clone()
    };
    let back = |e: OAuthError| {
        AuthorizeError::Redirect(error_location(&redirect.uri, &e, state.as_deref(), issuer))
    };
    if p.repeated.contains(&crate::resource::PARAM) {
        return Err(back(OAuthError::new(
            ErrorCode::InvalidTarget,
            "one resource per request: this server binds each token to a single audience",
        )));
    }
    if let Some(name) = p.repeated.first() {
        return Err(back(OAuthError::invalid_request(format!(
            "parameter `{name}` was sent more than once"
        ))));
    }
    match p.response_type.as_deref() {
        None | Some("code") => {}
        Some(_) => {
            return Err(back(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )))
        }
    }
    let scopes = catalog
        .resolve(p.scope.as_deref(), &client.scopes)
        .map_err(back)?;
    let (scopes, resource) = match p.resource.as_deref() {
        None => (scopes, None),
        Some(asked) => {
            crate::resource::check_indicator(asked).map_err(back)?;
            let (_, scopes) =
                crate::resource::scopes_for(asked, resource.as_ref(), p.scope.is_some(), scopes)
                    .map_err(back)?;
            (scopes, resource)
        }
    };
    let code_challenge = CodeChallenge::from_request(
        p.code_challenge.as_deref(),
        p.code_challenge_method.as_deref(),
    )
    .map_err(back)?;
    // OAuth 2.1 §4.1.1, RFC 9700 §2.1.1: every client uses PKCE, a confidential one too unless
    // it was registered with PKCE optional (a public client never is).
    if code_challenge.is_none() && (client.public || !client.pkce_optional) {
        return Err(back(OAuthError::invalid_request(if client.public {
            "public clients must send code_challenge with code_challenge_method=S256"
        } else {
            "this client must send code_challenge with code_challenge_method=S256 (PKCE, RFC 7636); \
             an operator can register it with PKCE optional"
        })));
    }
    Ok(AuthorizationRequest {
        client,
        redirect,
        scopes,
        state,
        code_challenge,
        resource,
    })
}

/// What issuing a code needs besides the request.
pub struct IssueContext<'a> {
    pub clock: &'a dyn Clock,
    pub entropy: &'a dyn Entropy,
    pub code_ttl: u64,
    pub issuer: &'a str,
    /// Tags the code ([`crate::codec`]): the token endpoint refuses a code without it for free.
    pub tag: &'a crate::keyring::KeyRing,
}

/// RFC 6749 §4.1.2: issues a single-use code bound to the client, redirect URI, scopes, user
/// and PKCE challenge, stores only its hash, and returns where to send the user.
pub async fn issue_code(
    codes: &(impl CodeIssue + ?Sized),
    req: &AuthorizationRequest,
    user: &Session,
    ctx: &IssueContext<'_>,
) -> Result<String, EndpointError> {
    let now = ctx.clock.now();
    let code = AuthorizationCode::generate_tagged(ctx.entropy, ctx.tag);
    let record = CodeRecord {
        pk: code.hash(),
        client_id: req.client.client_id.clone(),
        client_public: req.client.public,
        // A secret in a rotation's overlap that ends before the code does is left out: the
        // consuming write checks the presented secret against this snapshot alone, so it must
        // not outlive the overlap. Presented within the overlap, such a secret is checked
        // against the client's current registration instead (one read, that path only).
        client_secret_hashes: req
            .client
            .secret_hashes
            .iter()
            .filter(|h| {
                !req.client
                    .secret_retiring
                    .as_ref()
                    .is_some_and(|r| r.hash == **h && r.until < now + ctx.code_ttl)
            })
            .cloned()
            .collect(),
        redirect_uri: req.redirect.uri.clone(),
        redirect_uri_explicit: req.redirect.explicit,
        scopes: req.scopes.clone(),
        resource: req.resource.as_ref().map(|r| r.uri.clone()),
        user: user.user.clone(),
        code_challenge: req.code_challenge.clone(),
        client_refresh_rotation: req.client.refresh_rotation,
        created_at: now,
        expires_at: now + ctx.code_ttl,
        consumed_at: None,
    };
    codes.put_code(&record).await?;
    let mut params = vec![("code", code.secret())];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", ctx.issuer));
    Ok(redirect_with(&req.redirect.uri, &params))
}

/// RFC 6749 §4.1.2.1: the user said no.
pub fn denied_location(req: &AuthorizationRequest, issuer: &str) -> String {
    error_location(
        &req.redirect.uri,
        &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
        req.state.as_deref(),
        issuer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{FixedClock, OsEntropy};
    use crate::model::UserInfo;
    use crate::ports::MemoryStore;
    use crate::testkit;

    const ISS: &str = "https://auth.example";

    fn client(public: bool) -> Client {
        let c = testkit::client("c1")
            .redirect_uris(&["https://app.example/cb", "https://app.example/cb?x=1"]);
        if public {
            c.public().build()
        } else {
            c.build()
        }
    }

    fn store(c: Client) -> MemoryStore {
        let s = MemoryStore::new();
        s.upsert_client(c);
        s
    }

    fn params(q: &str) -> AuthorizeParams {
        testkit::authorize_params(q)
    }

    async fn validate(s: &MemoryStore, q: &str) -> Result<AuthorizationRequest, AuthorizeError> {
        validate_request(s, &ScopeCatalog::default(), ISS, None, &params(q)).await
    }

    fn redirect_of(r: Result<AuthorizationRequest, AuthorizeError>) -> String {
        match r {
            Err(AuthorizeError::Redirect(l)) => l,
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    /// RFC 6749 §4.1.2.1: unknown client → inform the user, do not redirect.
    #[tokio::test]
    async fn unknown_or_disabled_client_gets_a_page_not_a_redirect() {
        let s = store(client(false));
        let r = validate(
            &s,
            "client_id=nope&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
        )
        .await;
        assert!(matches!(r, Err(AuthorizeError::Page { status: 400, .. })));
        let mut c = client(false);
        c.disabled = true;
        let s = store(c);
        let r = validate(
            &s,
            "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
        )
        .await;
        assert!(matches!(r, Err(AuthorizeError::Page { .. })));
    }

    /// RFC 6749 §5.2: a client registered for client_credentials only cannot start a user
    /// authorization; it has no redirect URI, so the user gets a page that says so.
    #[tokio::test]
    async fn a_client_credentials_only_client_cannot_start_an_authorization() {
        let mut c = client(false);
        c.grant_types = vec![crate::model::GrantType::ClientCredentials];
        let s = store(c);
        let r = validate(
            &s,
            "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
        )
        .await;
        match r {
            Err(AuthorizeError::Page { message, .. }) => {
                assert!(message.contains("own behalf"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// RFC 9700 §4.11.2: never redirect to an unregistered URI (open redirector).
    #[tokio::test]
    async fn unregistered_redirect_uri_gets_a_page_not_a_redirect() {
        let s = store(client(false));
        let r = validate(
            &s,
            "client_id=c1&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=token",
        )
        .await;
        assert!(matches!(r, Err(AuthorizeError::Page { .. })));
        let r = validate(&s, "client_id=c1").await;
        assert!(
            matches!(r, Err(AuthorizeError::Page { .. })),
            "ambiguous redirect"
        );
    }

    #[tokio::test]
    async fn response_type_other_than_code_is_unsupported_response_type() {
        let s = store(client(false));
        let l = redirect_of(validate(&s, "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=token&state=s1").await);
        assert!(
            l.starts_with("https://app.example/cb?error=unsupported_response_type&"),
            "{l}"
        );
        assert!(
            l.contains("&state=s1&iss=https%3A%2F%2Fauth.example"),
            "{l}"
        );
    }

    /// Cal.com never read response_type; an absent one means `code`.
    #[tokio::test]
    async fn absent_response_type_means_code() {
        let s = store(client(false));
        assert!(validate(
            &s,
            "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
        )
        .await
        .is_ok());
    }

    #[tokio::test]
    async fn invalid_scope_is_redirected_with_state_and_iss() {
        let s = store(client(false));
        let l = redirect_of(
            validate(
                &s,
                "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=ADMIN&state=xyz",
            )
            .await,
        );
        assert!(
            l.contains("error=invalid_scope") && l.contains("state=xyz") && l.contains("iss="),
            "{l}"
        );
    }

    /// OAuth 2.1 §4.1.1: public clients must use PKCE.
    #[tokio::test]
    async fn public_client_without_pkce_is_invalid_request() {
        let s = store(client(true));
        let l = redirect_of(
            validate(
                &s,
                "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
            )
            .await,
        );
        assert!(l.contains("error=invalid_request"), "{l}");
    }

    /// RFC 9700 §2.1.1: a confidential client needs PKCE too unless it was registered with PKCE
    /// optional; with a challenge it is accepted either way. A client item written before the
    /// setting existed requires PKCE.
    #[tokio::test]
    async fn a_confidential_client_needs_pkce_unless_registered_with_pkce_optional() {
        let q = "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
        let strict = store(testkit::client("c1").pkce_required().build());
        let l = redirect_of(validate(&strict, q).await);
        assert!(l.contains("error=invalid_request"), "{l}");
        let challenge = CodeChallenge::s256(testkit::VERIFIER);
        let with_pkce = format!(
            "{q}&code_challenge={}&code_challenge_method=S256",
            challenge.as_str()
        );
        assert!(validate(&strict, &with_pkce).await.is_ok());
        let lax = store(client(false));
        assert!(validate(&lax, q).await.is_ok());
        let legacy: crate::model::Client = serde_json::from_value(serde_json::json!({
            "client_id": "c1", "name": "App", "redirect_uris": ["https://app.example/cb"],
            "scopes": ["READ_PROFILE"], "created_at": 0
        }))
        .unwrap();
        assert!(!legacy.pkce_optional, "absent means PKCE required");
    }

    /// RFC 6749 §3.1: parameters must not be repeated.
    #[tokio::test]
    async fn repeated_parameters_are_invalid_request() {
        let s = store(client(false));
        let l = redirect_of(validate(&s, "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=READ_PROFILE&scope=READ_BOOKING").await);
        assert!(l.contains("error=invalid_request"), "{l}");
        let r = validate(
            &s,
            "client_id=c1&client_id=c2&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
        )
        .await;
        assert!(matches!(r, Err(AuthorizeError::Page { .. })));
    }

    /// RFC 6749 §4.1.2, RFC 9207 §2: code, state and iss; the registered query is kept.
    #[tokio::test]
    async fn issued_code_redirect_carries_code_state_and_iss_and_keeps_the_registered_query() {
        let s = store(client(false));
        let req = validate(&s, "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&state=a%20b&scope=READ_PROFILE")
            .await
            .unwrap();
        let user = Session {
            user: UserInfo {
                sub: "u1".into(),
                username: None,
                email: None,
                name: None,
            },
            exp: 0,
        };
        let clock = FixedClock::at(1000);
        let ctx = IssueContext {
            clock: &clock,
            entropy: &OsEntropy,
            code_ttl: 600,
            issuer: ISS,
            tag: &crate::testkit::test_keys().tag,
        };
        let l = issue_code(&s, &req, &user, &ctx).await.unwrap();
        let url = url::Url::parse(&l).unwrap();
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(q[0], ("x".into(), "1".into()));
        assert_eq!(q[1].0, "code");
        assert!(q[1].1.starts_with("pc_ac_"));
        assert_eq!(q[2], ("state".into(), "a b".into()));
        assert_eq!(q[3], ("iss".into(), ISS.into()));
        assert_eq!(s.counts().0, 1);
    }

    /// RFC 8252 §7.3: a registered loopback redirect URI accepts any port, and the code (or
    /// error) goes to the URI requested, port included; another loopback host is refused with a
    /// page.
    #[tokio::test]
    async fn loopback_redirect_uri_with_any_port_gets_the_response_at_that_port() {
        let s = store(
            testkit::client("c1")
                .redirect_uris(&["http://127.0.0.1/cb"])
                .build(),
        );
        let req = validate(
            &s,
            "client_id=c1&redirect_uri=http%3A%2F%2F127.0.0.1%3A8976%2Fcb&state=st",
        )
        .await
        .unwrap();
        assert_eq!(req.redirect.uri, "http://127.0.0.1:8976/cb");
        assert!(req.redirect.explicit);
        let l = denied_location(&req, ISS);
        assert!(
            l.starts_with("http://127.0.0.1:8976/cb?error=access_denied"),
            "{l}"
        );
        let l = redirect_of(
            validate(
                &s,
                "client_id=c1&redirect_uri=http%3A%2F%2F127.0.0.1%3A8976%2Fcb&response_type=token",
            )
            .await,
        );
        assert!(
            l.starts_with("http://127.0.0.1:8976/cb?error=unsupported_response_type"),
            "{l}"
        );
        let r = validate(
            &s,
            "client_id=c1&redirect_uri=http%3A%2F%2Flocalhost%3A8976%2Fcb",
        )
        .await;
        assert!(matches!(r, Err(AuthorizeError::Page { .. })));
    }

    #[tokio::test]
    async fn deny_redirects_with_access_denied_and_state() {
        let s = store(client(false));
        let req = validate(
            &s,
            "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=st",
        )
        .await
        .unwrap();
        let l = denied_location(&req, ISS);
        assert!(
            l.starts_with("https://app.example/cb?error=access_denied&error_description="),
            "{l}"
        );
        assert!(
            l.ends_with("&state=st&iss=https%3A%2F%2Fauth.example"),
            "{l}"
        );
    }

    /// Issue 10: a `client_id` longer than a DynamoDB key may be, or with odd characters, gets
    /// the unknown-client page without a storage call.
    #[tokio::test]
    async fn a_malformed_client_id_is_refused_without_a_storage_call() {
        let s = store(client(false));
        s.reset_calls();
        let long = "c".repeat(3000);
        for id in [long.as_str(), "c1%00", "c.1"] {
            let q = format!("client_id={id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb");
            assert!(validate(&s, &q).await.is_err(), "{id}");
        }
        assert_eq!(s.calls(), 0);
    }

    /// Client ID Metadata Documents at the authorization endpoint (draft §4.3, §4.4).
    mod documents {
        use super::*;
        use crate::metadata_document::{DocumentError, FetchedDocument};
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;

        const URL: &str = "https://agent.example/oauth/client.json";
        const CB: &str = "http%3A%2F%2F127.0.0.1%3A33418%2Fcallback";

        /// A document server: answers `body` (or `fails`) and counts fetches.
        struct Source {
            body: Mutex<String>,
            cache_control: Option<&'static str>,
            fails: bool,
            fetches: AtomicUsize,
        }

        impl Source {
            fn new(doc: serde_json::Value) -> Self {
                Self {
                    body: Mutex::new(doc.to_string()),
                    cache_control: Some("max-age=600"),
                    fails: false,
                    fetches: AtomicUsize::new(0),
                }
            }
            fn fetches(&self) -> usize {
                self.fetches.load(Ordering::SeqCst)
            }
        }

        #[async_trait::async_trait]
        impl DocumentSource for Source {
            async fn fetch_document(
                &self,
                _url: &ClientIdUrl,
            ) -> Result<FetchedDocument, DocumentError> {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                if self.fails {
                    return Err(DocumentError::Fetch(
                        "it answered with HTTP status 404, not 200".into(),
                    ));
                }
                Ok(FetchedDocument {
                    status: 200,
                    body: self.body.lock().unwrap().clone().into_bytes(),
                    cache_control: self.cache_control.map(str::to_string),
                })
            }
        }

        fn doc() -> serde_json::Value {
            serde_json::json!({
                "client_id": URL,
                "client_name": "Agent",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "scope": "READ_BOOKING",
            })
        }

        fn query() -> String {
            format!(
                "client_id={}&redirect_uri={CB}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
                urlencoding(URL)
            )
        }

        fn urlencoding(v: &str) -> String {
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
        }

        async fn at(
            store: &MemoryStore,
            source: &Source,
            now: u64,
            q: &str,
        ) -> Result<AuthorizationRequest, AuthorizeError> {
            let d = Documents {
                source,
                loopback_hosts: &[],
                now,
                idle: 30 * 86_400,
            };
            validate_request(store, &ScopeCatalog::default(), ISS, Some(&d), &params(q)).await
        }

        fn page_of(r: Result<AuthorizationRequest, AuthorizeError>) -> String {
            match r {
                Err(AuthorizeError::Page { message, .. }) => message.into_owned(),
                other => panic!("expected a page, got {other:?}"),
            }
        }

        fn internal() -> String {
            ClientIdUrl::parse(URL).unwrap().internal_id().to_string()
        }

        /// With `PORTCULLIS_CLIENT_METADATA_DOCUMENTS` off a URL client id is refused with a
        /// page that says why, and nothing is read.
        #[tokio::test]
        async fn a_url_client_id_is_refused_when_metadata_documents_are_off() {
            let s = MemoryStore::new();
            let m = page_of(validate(&s, &query()).await);
            assert!(
                m.contains("does not accept client metadata documents"),
                "{m}"
            );
            assert_eq!(s.calls(), 0);
        }

        /// Draft §3: the URL is checked before anything is fetched or read.
        #[tokio::test]
        async fn an_invalid_client_id_url_is_refused_before_any_fetch() {
            let (s, src) = (MemoryStore::new(), Source::new(doc()));
            let q = query().replace("client.json", "client.json%3Fx%3D1");
            let m = page_of(at(&s, &src, 1_000, &q).await);
            assert!(m.contains("must not contain a query"), "{m}");
            assert_eq!((src.fetches(), s.calls()), (0, 0));
        }

        /// Draft §4.4: the first request fetches and stores the document (one read, one
        /// conditional write); later ones within its freshness read the stored copy only.
        #[tokio::test]
        async fn a_document_is_fetched_once_then_served_from_the_store_while_fresh() {
            let (s, src) = (MemoryStore::new(), Source::new(doc()));
            let r = at(&s, &src, 1_000, &query()).await.unwrap();
            assert_eq!((src.fetches(), s.calls()), (1, 2));
            assert_eq!(r.client.client_id.as_str(), internal());
            assert_eq!(r.client.public_id().as_str(), URL);
            assert_eq!(r.scopes, ["READ_BOOKING"]);
            let stored = s.stored_client(&internal()).unwrap();
            assert_eq!(stored.document.unwrap().fresh_until, 1_600);
            s.reset_calls();
            at(&s, &src, 1_599, &query()).await.unwrap();
            assert_eq!((src.fetches(), s.calls()), (1, 1));
        }

        /// Draft §4.4: past its freshness the document is fetched again, and the new one
        /// replaces the stored copy (its `created_at` kept).
        #[tokio::test]
        async fn a_stale_copy_is_fetched_again_and_replaced() {
            let (s, src) = (MemoryStore::new(), Source::new(doc()));
            at(&s, &src, 1_000, &query()).await.unwrap();
            let mut changed = doc();
            changed["client_name"] = "Agent v2".into();
            *src.body.lock().unwrap() = changed.to_string();
            let r = at(&s, &src, 1_600, &query()).await.unwrap();
            assert_eq!(src.fetches(), 2);
            assert_eq!(r.client.name, "Agent v2");
            assert_eq!(s.stored_client(&internal()).unwrap().created_at, 1_000);
        }

        /// The operator's `client disable` holds: a disabled copy is refused without a fetch,
        /// fresh or stale, and a write never re-enables it.
        #[tokio::test]
        async fn a_disabled_document_client_stays_refused_without_a_fetch() {
            let (s, src) = (MemoryStore::new(), Source::new(doc()));
            at(&s, &src, 1_000, &query()).await.unwrap();
            let mut c = s.stored_client(&internal()).unwrap();
            c.disabled = true;
            s.upsert_client(c.clone());
            for now in [1_001, 90_000] {
                let m = page_of(at(&s, &src, now, &query()).await);
                assert!(m.contains("disabled"), "{m}");
            }
            assert_eq!(src.fetches(), 1);
            c.disabled = false;
            c.origin = crate::model::ClientOrigin::Operator;
            s.upsert_client(c.clone());
            assert!(
                !s.store_document_client(&c).await.unwrap(),
                "only a document client is replaced"
            );
        }

        /// Draft §4.3, §4.4: a fetch that fails or a document that is invalid is a page naming
        /// the problem; nothing is stored.
        #[tokio::test]
        async fn a_failed_fetch_or_an_invalid_document_is_a_page_and_nothing_is_stored() {
            let s = MemoryStore::new();
            let mut src = Source::new(doc());
            src.fails = true;
            let m = page_of(at(&s, &src, 1_000, &query()).await);
            assert!(
                m.contains("could not be fetched") && m.contains("404"),
                "{m}"
            );
            let mut other = doc();
            other["client_id"] = "https://evil.example/client.json".into();
            let src = Source::new(other);
            let m = page_of(at(&s, &src, 1_000, &query()).await);
            assert!(m.contains("is not the URL it was fetched from"), "{m}");
            assert!(s.stored_client(&internal()).is_none());
        }

        /// Draft §4.5: only the document's redirect URIs (a loopback one with any port,
        /// RFC 8252 §7.3) are accepted.
        #[tokio::test]
        async fn only_the_documents_redirect_uris_are_accepted() {
            let (s, src) = (MemoryStore::new(), Source::new(doc()));
            let q = query().replace(CB, "https%3A%2F%2Fevil.example%2Fcb");
            let m = page_of(at(&s, &src, 1_000, &q).await);
            assert!(m.contains("not one the application has registered"), "{m}");
            at(&s, &src, 1_000, &query()).await.unwrap();
        }
    }
}
