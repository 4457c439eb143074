//! `GET|POST /auth/oauth2/authorize`: the consent flow, and the local dev login.
use crate::authorize::{
    denied_location, issue_code, validate_request, AuthorizationRequest, AuthorizeError,
    AuthorizeParams, IssueContext,
};
use crate::clock::{Clock, Entropy, OsEntropy, SystemClock};
use crate::config::{Config, ConfigError};
use crate::csrf::{issue_csrf, verify_csrf, CsrfBinding};
use crate::error::EndpointError;
use crate::http::{
    cookie, form_pairs, html, page_failure, query_pairs, see_other, see_other_with_cookie,
};
use crate::keys::{KeyCache, KeySource, Keys, SecretsManagerKeys};
use crate::model::UserInfo;
use crate::pages::{error_page, render, ConsentPage, LoginPage};
use crate::redirect::redirect_with;
use crate::session::{sign_session, verify_session, Session};
use crate::store::{ClientLookup, CodeIssue, DynamoStore};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// How long a dev-login session lasts.
const DEV_SESSION_TTL: u64 = 8 * 3600;

pub struct AuthorizeEndpoint<S, K> {
    pub config: Config,
    pub store: S,
    pub keys: KeyCache<K>,
    pub clock: Box<dyn Clock>,
    pub entropy: Box<dyn Entropy>,
}

impl AuthorizeEndpoint<DynamoStore, SecretsManagerKeys> {
    /// Cold start: configuration, AWS clients, and a first read of the keys. A configuration
    /// error stops the function with a message; a Secrets Manager failure does not (requests
    /// answer 503 and retry the read).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let secret_id = config.secret_id.clone().ok_or_else(|| {
            ConfigError("PORTCULLIS_SECRET_ID is required by the authorize function".into())
        })?;
        if config.login_url.is_none() {
            return Err(ConfigError(
                "PORTCULLIS_LOGIN_URL is required by the authorize function".into(),
            ));
        }
        if config.dev_login {
            tracing::warn!(
                "DEV_LOGIN is on: anyone can sign in as anyone. Local development only."
            );
        }
        let sdk = crate::aws::load_sdk_config().await;
        let store = super::dynamo_store(&config, &sdk);
        let source = SecretsManagerKeys {
            client: aws_sdk_secretsmanager::Client::new(&sdk),
            secret_id,
        };
        let keys = KeyCache::new(source, config.key_cache_ttl);
        if let Err(e) = keys.get(SystemClock.now()).await {
            tracing::error!(error = %e, "could not read the keys at cold start; will retry per request");
        }
        Ok(Self {
            config,
            store,
            keys,
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
        })
    }
}

impl<S, K> AuthorizeEndpoint<S, K>
where
    S: ClientLookup + CodeIssue,
    K: KeySource,
{
    async fn respond(&self, req: Request) -> Response<Body> {
        if self.config.dev_login && self.is_login_path(req.uri().path()) {
            return self.dev_login(&req).await;
        }
        let result = match *req.method() {
            // GET only: HEAD must have no side effects, and a trusted client's GET issues a code.
            Method::GET => {
                let pairs = query_pairs(&req);
                self.show(&req, params(&pairs)).await
            }
            Method::POST => match form_pairs(&req) {
                Ok(pairs) => self.decide(&req, &pairs).await,
                Err(e) => Ok(error_page(400, &e.description)),
            },
            _ => {
                let mut r = error_page(405, "Use GET or POST.");
                r.headers_mut().insert(
                    "allow",
                    lambda_http::http::HeaderValue::from_static("GET, POST"),
                );
                Ok(r)
            }
        };
        match result {
            Ok(r) => r,
            Err(AuthorizeError::Page { status, message }) => error_page(status, &message),
            Err(AuthorizeError::Redirect(location)) => see_other(&location),
            Err(AuthorizeError::Internal(e)) => {
                let (status, message) = page_failure(&e);
                error_page(status, message)
            }
        }
    }

    fn issue_context(&self) -> IssueContext<'_> {
        IssueContext {
            clock: self.clock.as_ref(),
            entropy: self.entropy.as_ref(),
            code_ttl: self.config.code_ttl,
            issuer: &self.config.issuer,
        }
    }

    /// The signed-in user, if the session cookie holds a valid session.
    fn session(&self, req: &Request, keys: &Keys) -> Option<(Session, String)> {
        let raw = cookie(req, &self.config.session_cookie)?;
        match verify_session(&raw, &keys.session, self.clock.now()) {
            Ok(s) => Some((s, raw)),
            Err(e) => {
                tracing::info!(reason = %e, "session cookie refused");
                None
            }
        }
    }

    /// No session: send the user to log in, then back to this same request (`query` is the
    /// authorization request's query string, as sent).
    fn to_login(&self, query: &str) -> Response<Body> {
        let return_to = format!("{}?{}", self.config.authorize_url(), query);
        let login = self.config.login_url.as_deref().unwrap_or("/");
        see_other(&redirect_with(login, &[("return_to", &return_to)]))
    }

    /// GET: validate, then the consent page (or, for a trusted client, the code at once).
    async fn show(
        &self,
        req: &Request,
        p: AuthorizeParams,
    ) -> Result<Response<Body>, AuthorizeError> {
        let request =
            validate_request(&self.store, &self.config.scopes, &self.config.issuer, &p).await?;
        let keys = self.keys.get(self.clock.now()).await?;
        let Some((user, raw_session)) = self.session(req, &keys) else {
            return Ok(self.to_login(req.uri().query().unwrap_or("")));
        };
        if request.client.trusted {
            let location = issue_code(&self.store, &request, &user, &self.issue_context()).await?;
            return Ok(see_other(&location));
        }
        Ok(self.consent_page(&p, &request, &user, &raw_session, &keys))
    }

    fn consent_page(
        &self,
        p: &AuthorizeParams,
        request: &AuthorizationRequest,
        user: &Session,
        raw_session: &str,
        keys: &Keys,
    ) -> Response<Body> {
        let scope = request.scope_string();
        let csrf = issue_csrf(
            &keys.csrf,
            &binding(raw_session, request, &scope),
            self.clock.now(),
        );
        let mut hidden = p.to_pairs();
        hidden.push(("csrf_token", &csrf));
        let scopes = request
            .scopes
            .iter()
            .filter_map(|s| self.config.scopes.get(s))
            .collect();
        let redirect_host = url::Url::parse(&request.redirect.uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| request.redirect.uri.clone());
        let user = &user.user;
        let user_display = user
            .name
            .as_deref()
            .or(user.username.as_deref())
            .or(user.email.as_deref())
            .unwrap_or(&user.sub);
        let action = self.config.authorize_url();
        html(
            200,
            render(&ConsentPage {
                client_name: &request.client.name,
                logo_uri: request.client.logo_uri.as_deref(),
                user_display,
                scopes,
                redirect_host: &redirect_host,
                action: &action,
                hidden,
            }),
        )
    }

    /// POST: the user's decision. Client and redirect URI are validated again, the CSRF token
    /// must match this session and this exact request.
    async fn decide(
        &self,
        req: &Request,
        pairs: &[(String, String)],
    ) -> Result<Response<Body>, AuthorizeError> {
        let p = params(pairs);
        let request =
            validate_request(&self.store, &self.config.scopes, &self.config.issuer, &p).await?;
        let keys = self.keys.get(self.clock.now()).await?;
        let Some((user, raw_session)) = self.session(req, &keys) else {
            // The session ended while the consent page was open: log in, then see it again.
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(p.to_pairs())
                .finish();
            return Ok(self.to_login(&query));
        };
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let scope = request.scope_string();
        let csrf_ok = field("csrf_token").is_some_and(|t| {
            verify_csrf(
                &keys.csrf,
                &binding(&raw_session, &request, &scope),
                t,
                self.clock.now(),
                self.config.consent_ttl,
            )
        });
        if !csrf_ok {
            return Err(AuthorizeError::Page {
                status: 400,
                message: "This consent form has expired or was not sent from this site. Go back to the application and start again."
                    .into(),
            });
        }
        match field("decision") {
            Some("allow") => {
                let location =
                    issue_code(&self.store, &request, &user, &self.issue_context()).await?;
                Ok(see_other(&location))
            }
            Some("deny") => Ok(see_other(&denied_location(&request, &self.config.issuer))),
            _ => Err(AuthorizeError::Page {
                status: 400,
                message: "The form did not say whether to allow or deny.".into(),
            }),
        }
    }

    fn is_login_path(&self, path: &str) -> bool {
        self.config
            .login_url
            .as_deref()
            .and_then(|l| url::Url::parse(l).ok())
            .is_some_and(|u| u.path() == path)
    }

    /// Local development only (`DEV_LOGIN=true`): a form that signs in whoever is typed, by
    /// setting the session cookie the host application would set.
    async fn dev_login(&self, req: &Request) -> Response<Body> {
        let action = self.config.login_url.clone().unwrap_or_default();
        match *req.method() {
            Method::GET => {
                let pairs = query_pairs(req);
                let return_to = pairs
                    .iter()
                    .find(|(k, _)| k == "return_to")
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                html(
                    200,
                    render(&LoginPage {
                        action: &action,
                        return_to,
                    }),
                )
            }
            Method::POST => {
                let pairs = form_pairs(req).unwrap_or_default();
                let field = |name: &str| {
                    pairs
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.trim().to_string())
                };
                let Some(username) = field("username").filter(|u| !u.is_empty() && u.len() <= 64)
                else {
                    return error_page(400, "Type a username of at most 64 characters.");
                };
                let keys = match self.keys.get(self.clock.now()).await {
                    Ok(k) => k,
                    Err(e) => {
                        let (status, message) = page_failure(&EndpointError::from(e));
                        return error_page(status, message);
                    }
                };
                let session = Session {
                    user: UserInfo {
                        sub: format!("dev|{username}"),
                        username: Some(username.clone()),
                        email: Some(format!("{username}@example.test")),
                        name: Some(username),
                    },
                    exp: self.clock.now() + DEV_SESSION_TTL,
                };
                let token = sign_session(&session, &keys.session);
                let secure = if self.config.issuer.starts_with("https://") {
                    "; Secure"
                } else {
                    ""
                };
                let cookie = format!(
                    "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={DEV_SESSION_TTL}{secure}",
                    self.config.session_cookie,
                    token.secret()
                );
                // Only back into this server: never an open redirect.
                let return_to = field("return_to")
                    .filter(|r| r.starts_with(&format!("{}/", self.config.issuer)))
                    .unwrap_or_else(|| self.config.issuer.clone() + "/");
                see_other_with_cookie(&return_to, &cookie)
            }
            _ => error_page(405, "Use GET or POST."),
        }
    }
}

fn params(pairs: &[(String, String)]) -> AuthorizeParams {
    AuthorizeParams::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn binding<'a>(session: &'a str, r: &'a AuthorizationRequest, scope: &'a str) -> CsrfBinding<'a> {
    CsrfBinding {
        session,
        client_id: &r.client.client_id,
        redirect_uri: &r.redirect.uri,
        scope,
        state: r.state.as_deref().unwrap_or(""),
        code_challenge: r.code_challenge.as_ref().map(|c| c.as_str()).unwrap_or(""),
    }
}

impl<S: ClientLookup + CodeIssue, K: KeySource> super::Endpoint for AuthorizeEndpoint<S, K> {
    async fn handle(&self, req: Request) -> Response<Body> {
        self.respond(req).await
    }
}
