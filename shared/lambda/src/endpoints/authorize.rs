//! `GET|POST /auth/oauth2/authorize`: the consent flow (and, when enabled, the dev login of
//! [`super::dev_login`]).
use super::dev_login;
use crate::http::{cookie, form_params, html, query, see_other};
use crate::pages::{error_page, render, ConsentPage, ScopeLine};
use crate::respond::{Endpoint, PageError};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::fetch::{DocumentFetcher, FetchPolicy};
use portcullis_aws::secrets::SecretsManagerKeys;
use portcullis_aws::{DynamoClients, DynamoCodes};
use portcullis_core::authorize::{
    denied_location, issue_code, validate_request, AuthorizationRequest, AuthorizeParams,
    Documents, IssueContext,
};
use portcullis_core::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis_core::csrf::{issue_csrf, verify_csrf_with, CsrfBinding};
use portcullis_core::keyring::KeyRing;
use portcullis_core::keys::{KeyCache, KeySource, Keys};
use portcullis_core::metadata_document::DocumentSource;
use portcullis_core::params::Params;
use portcullis_core::ports::{
    ClientLookup, ClientLookupPort, CodeIssue, CodeIssuePort, DynamoAccess, Port,
};
use portcullis_core::redirect::redirect_with;
use portcullis_core::rings::Ring;
use portcullis_core::session::{verify_session_with, Session};
use portcullis_core::settings::{AuthorizeSettings, ConfigError, FromEnv};

/// The storage ports `authorize` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    ClientLookupPort::DYNAMODB,
    portcullis_core::ports::ResourceLookupPort::DYNAMODB,
    CodeIssuePort::DYNAMODB,
    portcullis_core::ports::ClientTouchPort::DYNAMODB,
    portcullis_core::ports::DocumentClientCachePort::DYNAMODB,
];

pub struct AuthorizeEndpoint<C, D, K: KeySource> {
    pub settings: AuthorizeSettings,
    /// The clients table (read).
    pub clients: C,
    /// The codes table (write).
    pub codes: D,
    pub keys: KeyCache<K>,
    /// Tags every code (`portcullis_core::codec`), so the token endpoint refuses one this
    /// server did not issue without a storage call.
    pub tag: Ring,
    pub clock: Box<dyn Clock>,
    pub entropy: Box<dyn Entropy>,
    /// Where Client ID Metadata Documents come from (`portcullis_aws::fetch::DocumentFetcher`),
    /// when `PORTCULLIS_CLIENT_METADATA_DOCUMENTS` is on.
    pub documents: Option<Box<dyn DocumentSource>>,
}

impl AuthorizeEndpoint<DynamoClients, DynamoCodes, SecretsManagerKeys> {
    /// Cold start: settings, AWS clients, and a first read of the keys. A settings error stops
    /// the function with a message; a Secrets Manager failure does not (requests answer 503 and
    /// retry the read).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = AuthorizeSettings::from_env()?;
        crate::pages::configure(settings.pages.clone());
        crate::http::configure_hsts(&settings.issuer);
        if settings.dev_login {
            tracing::warn!(
                "DEV_LOGIN is on: anyone can sign in as anyone. Local development only."
            );
        }
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        let keys = KeyCache::new(
            SecretsManagerKeys::new(&sdk, &settings.secret_id),
            settings.key_cache_ttl,
        );
        if let Err(e) = keys.get(SystemClock.now()).await {
            tracing::error!(error = %e, "could not read the keys at cold start; will retry per request");
        }
        let documents = if settings.metadata_documents {
            let policy = FetchPolicy::with_development(&settings.metadata_document_dev)
                .map_err(|e| ConfigError(format!("client metadata documents: {e}")))?;
            let fetcher = DocumentFetcher::new(policy)
                .map_err(|e| ConfigError(format!("client metadata documents: {e}")))?;
            Some(Box::new(fetcher) as Box<dyn DocumentSource>)
        } else {
            None
        };
        Ok(Self {
            documents,
            clients: DynamoClients::new(db.clone(), &settings.clients_table),
            codes: DynamoCodes::new(db, &settings.codes_table),
            tag: portcullis_aws::rings::ring(&sdk, &settings.tag_secret_id, settings.key_cache_ttl),
            settings,
            keys,
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
        })
    }
}

impl<C, D, K> Endpoint for AuthorizeEndpoint<C, D, K>
where
    C: ClientLookup
        + portcullis_core::ports::ResourceLookup
        + portcullis_core::ports::ClientTouch
        + portcullis_core::ports::DocumentClientCache,
    D: CodeIssue,
    K: KeySource<Keys = Keys>,
{
    type Error = PageError;

    async fn handle(&self, req: Request) -> Result<Response<Body>, PageError> {
        if self.settings.dev_login && dev_login::is_login_path(&self.settings, req.uri().path()) {
            return dev_login::handle(&self.settings, &self.keys, self.clock.as_ref(), &req).await;
        }
        match *req.method() {
            // GET only: HEAD must have no side effects, and a trusted client's GET issues a code.
            // A query or form that cannot be decoded: an error page (the redirect URI in it
            // cannot be trusted), 413 for a body over the limit.
            Method::GET => match query(&req) {
                Ok(q) => self.show(&req, AuthorizeParams::from_params(&q)).await,
                Err(e) => Ok(error_page(e.http_status(), &e.public().description)),
            },
            Method::POST => match form_params(&req) {
                Ok(form) => self.decide(&req, &form).await,
                Err(e) => Ok(error_page(e.http_status(), &e.public().description)),
            },
            _ => {
                let mut r = error_page(405, "Use GET or POST.");
                r.headers_mut().insert(
                    "allow",
                    lambda_http::http::HeaderValue::from_static("GET, POST"),
                );
                Ok(r)
            }
        }
    }
}

impl<C, D, K> AuthorizeEndpoint<C, D, K>
where
    C: ClientLookup
        + portcullis_core::ports::ResourceLookup
        + portcullis_core::ports::ClientTouch
        + portcullis_core::ports::DocumentClientCache,
    D: CodeIssue,
    K: KeySource<Keys = Keys>,
{
    fn issue_context<'a>(&'a self, tag: &'a KeyRing) -> IssueContext<'a> {
        IssueContext {
            clock: self.clock.as_ref(),
            entropy: self.entropy.as_ref(),
            code_ttl: self.settings.code_ttl,
            issuer: &self.settings.issuer,
            tag,
        }
    }

    /// The signed-in user, if the session cookie holds a valid session: signed with the current
    /// or the previous session key, within the clock-skew leeway. Two cookies of the session's
    /// name count as none ([`cookie`]).
    fn session(&self, req: &Request, keys: &Keys) -> Option<(Session, String)> {
        let raw = cookie(req, &self.settings.session_cookie)?;
        match verify_session_with(
            &raw,
            keys.session_keys(),
            self.clock.now(),
            self.settings.clock_skew_leeway,
        ) {
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
        let return_to = format!("{}?{}", self.settings.authorize_url(), query);
        see_other(&redirect_with(
            &self.settings.login_url,
            &[("return_to", &return_to)],
        ))
    }

    /// The request validated (client and redirect URI first, RFC 6749 §4.1.2.1) and the keys,
    /// for GET and POST alike: the POST validates again, so a client disabled while the consent
    /// page was open is refused.
    async fn validated(
        &self,
        p: &AuthorizeParams,
    ) -> Result<(AuthorizationRequest, std::sync::Arc<Keys>), PageError> {
        let documents = self.documents.as_deref().map(|source| Documents {
            source,
            loopback_hosts: &self.settings.metadata_document_dev.loopback_hosts,
            now: self.clock.now(),
            idle: self.settings.registration_idle,
        });
        let request = validate_request(
            &self.clients,
            &self.settings.scopes,
            &self.settings.issuer,
            documents.as_ref(),
            p,
        )
        .await?;
        let keys = self.keys.get(self.clock.now()).await?;
        Ok((request, keys))
    }

    /// GET: validate, then the consent page (or, for a trusted client, the code at once).
    async fn show(&self, req: &Request, p: AuthorizeParams) -> Result<Response<Body>, PageError> {
        let (request, keys) = self.validated(&p).await?;
        let Some((user, raw_session)) = self.session(req, &keys) else {
            return Ok(self.to_login(req.uri().query().unwrap_or("")));
        };
        if request.client.trusted {
            let tag = self.tag.ring(self.clock.now()).await?;
            let location =
                issue_code(&self.codes, &request, &user, &self.issue_context(&tag)).await?;
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
            .map(|s| ScopeLine::new(s, self.settings.scopes.get(s)))
            .collect();
        let redirect_host = url::Url::parse(&request.redirect.uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| request.redirect.uri.to_string());
        let user = &user.user;
        let user_display = user
            .name
            .as_deref()
            .or(user.username.as_deref())
            .or(user.email.as_deref())
            .unwrap_or(&user.sub);
        let action = self.settings.authorize_url();
        // "Not you?": the login page, then back to this same request.
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(p.to_pairs())
            .finish();
        let switch_account_url = redirect_with(
            &self.settings.login_url,
            &[("return_to", &format!("{action}?{query}"))],
        );
        html(
            200,
            render(&ConsentPage {
                product: &self.settings.pages,
                client_name: &request.client.name,
                logo_uri: ConsentPage::client_logo(&request.client),
                client_initial: ConsentPage::initial(&request.client.name),
                user_display,
                switch_account_url: &switch_account_url,
                scopes,
                resource: request
                    .resource
                    .as_ref()
                    .map(|r| (r.display_name(), r.uri.as_str())),
                redirect_host: &redirect_host,
                action: &action,
                hidden,
                unverified: ConsentPage::unverified(&request.client),
            }),
        )
    }

    /// POST: the user's decision. Client and redirect URI are validated again, the CSRF token
    /// must match this session and this exact request.
    async fn decide(&self, req: &Request, form: &Params) -> Result<Response<Body>, PageError> {
        let p = AuthorizeParams::from_params(form);
        let (request, keys) = self.validated(&p).await?;
        let Some((user, raw_session)) = self.session(req, &keys) else {
            // The session ended while the consent page was open: log in, then see it again.
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(p.to_pairs())
                .finish();
            return Ok(self.to_login(&query));
        };
        let field = |name: &str| form.get(name);
        let scope = request.scope_string();
        let csrf_ok = field("csrf_token").is_some_and(|t| {
            verify_csrf_with(
                keys.csrf_keys(),
                &binding(&raw_session, &request, &scope),
                t,
                self.clock.now(),
                self.settings.consent_ttl,
            )
        });
        if !csrf_ok {
            return Err(PageError::Page {
                status: 400,
                message: "This consent form has expired or was not sent from this site. Go back to the application and start again."
                    .into(),
            });
        }
        match field("decision") {
            Some("allow") => {
                let tag = self.tag.ring(self.clock.now()).await?;
                let location =
                    issue_code(&self.codes, &request, &user, &self.issue_context(&tag)).await?;
                // A registered client in use lives on (one write per half idle period at most;
                // a failure is logged, never the user's).
                portcullis_core::ports::touch_if_due(
                    &self.clients,
                    &request.client,
                    self.clock.now(),
                    self.settings.registration_idle,
                )
                .await;
                Ok(see_other(&location))
            }
            Some("deny") => Ok(see_other(&denied_location(&request, &self.settings.issuer))),
            _ => Err(PageError::Page {
                status: 400,
                message: "The form did not say whether to allow or deny.".into(),
            }),
        }
    }
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
