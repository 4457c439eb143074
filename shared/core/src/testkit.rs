//! Test kit (feature `testkit`, and every unit test of this crate): builders for the data model,
//! and a [`World`] that runs the rules over the in-memory store with a fixed clock. The in-memory
//! store itself, with fault injection, is [`crate::ports::MemoryStore`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::authorize::{issue_code, validate_request, AuthorizeParams, IssueContext};
use crate::client_auth::ClientCredentials;
use crate::clock::{FixedClock, OsEntropy};
use crate::codec::{CheckingKeys, IssuingKeys};
use crate::error::ErrorCode;
use crate::grants::{
    exchange_code, refresh_tokens, CodeGrant, RefreshGrant, TokenContext, TokenResponse,
};
use crate::ids::{ClientId, RedirectUri, Subject};
use crate::keyring::KeyRing;
use crate::model::{Client, UserInfo};
use crate::params::Params;
use crate::pkce::parse_verifier;
use crate::ports::MemoryStore;
use crate::scope::ScopeCatalog;
use crate::secret::{AuthorizationCode, ClientSecret, RefreshToken};
use crate::session::Session;
use crate::settings::Lifetimes;

/// The secret [`client`] registers a confidential client with.
pub const SECRET: &str = "pc_cs_the-secret";
/// The redirect URI [`client`] registers.
pub const REDIRECT_URI: &str = "https://app.example/cb";
/// RFC 7636 Appendix B's verifier.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The issuer the world uses.
pub const ISSUER: &str = "https://iss.example";

/// Builds a [`Client`]: by default confidential (secret [`SECRET`]), redirect URI
/// [`REDIRECT_URI`], scopes `READ_BOOKING` and `READ_PROFILE`, not trusted, enabled.
#[derive(Debug, Clone)]
pub struct ClientBuilder(Client);

pub fn client(client_id: &str) -> ClientBuilder {
    ClientBuilder(Client {
        client_id: ClientId::new(client_id),
        name: "App".into(),
        logo_uri: None,
        redirect_uris: vec![RedirectUri::new(REDIRECT_URI)],
        scopes: vec!["READ_BOOKING".into(), "READ_PROFILE".into()],
        public: false,
        trusted: false,
        // The kit's confidential clients are Cal.com-contract apps that send no PKCE; the rule
        // that PKCE is required by default is tested with `.pkce_required()`.
        pkce_optional: true,
        disabled: false,
        secret_hashes: vec![ClientSecret::new(SECRET).hash()],
        secret_retiring: None,
        refresh_rotation: true,
        resource_server: false,
        grant_types: crate::model::user_grant_types(),
        token_rate: None,
        jwks: None,
        jwks_retiring: None,
        disabled_at: None,
        created_at: 0,
        origin: crate::model::ClientOrigin::Operator,
        expires_at: None,
        software: None,
        document: None,
    })
}

impl ClientBuilder {
    pub fn name(mut self, name: &str) -> Self {
        self.0.name = name.into();
        self
    }
    /// A client registered without `--pkce-optional`: every authorization request needs PKCE.
    pub fn pkce_required(mut self) -> Self {
        self.0.pkce_optional = false;
        self
    }
    /// A public client: no secret (and PKCE always).
    pub fn public(mut self) -> Self {
        self.0.public = true;
        self.0.pkce_optional = false;
        self.0.secret_hashes.clear();
        self
    }
    /// Replaces the secrets with these.
    pub fn secrets(mut self, secrets: &[&str]) -> Self {
        self.0.secret_hashes = secrets
            .iter()
            .map(|s| ClientSecret::new(*s).hash())
            .collect();
        self
    }
    pub fn redirect_uris(mut self, uris: &[&str]) -> Self {
        self.0.redirect_uris = uris.iter().map(|u| RedirectUri::from(*u)).collect();
        self
    }
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.0.scopes = scopes.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn trusted(mut self) -> Self {
        self.0.trusted = true;
        self
    }
    /// Legacy refresh mode (`--no-refresh-rotation`).
    pub fn no_refresh_rotation(mut self) -> Self {
        self.0.refresh_rotation = false;
        self
    }
    pub fn disabled(mut self) -> Self {
        self.0.disabled = true;
        self
    }
    /// A resource server: introspection shows it every client's tokens (RFC 7662 §4).
    pub fn resource_server(mut self) -> Self {
        self.0.resource_server = true;
        self
    }
    /// A machine client: registered for client credentials only, no redirect URIs.
    pub fn machine(mut self) -> Self {
        self.0.grant_types = vec![crate::model::GrantType::ClientCredentials];
        self.0.redirect_uris.clear();
        self
    }

    /// A registered client (RFC 7591): its TTL in the clients table is `at`.
    pub fn expires_at(mut self, at: u64) -> Self {
        self.0.expires_at = Some(at);
        self
    }

    pub fn build(self) -> Client {
        self.0
    }
}

/// A grant item as an exchange at `now` writes it (generation 0, no token hashes yet: mint
/// them with [`crate::codec`] and set them as a test needs).
pub fn grant(grant_id: &str, client_id: &str, sub: &str, now: u64) -> crate::model::Grant {
    let grant_id = crate::ids::GrantId::new(grant_id);
    crate::model::Grant {
        pk: crate::model::Grant::key(&grant_id),
        kind: crate::model::ItemKind::Grant,
        grant_id,
        client_id: ClientId::new(client_id),
        user_sub: Subject::new(sub),
        profile: crate::model::Profile::from(&user(sub)),
        scopes: vec!["READ_PROFILE".into(), "READ_BOOKING".into()],
        resource: None,
        created_at: now,
        expires_at: now + 86_400,
        ends_at: None,
        keep_until: now + 1_200,
        client_public: false,
        code_challenge: None,
        generation: 0,
        rotated_at: now,
        refresh_hash: None,
        refresh_expires_at: now + 86_400,
        access_hash: None,
        access_expires_at: now + 1_800,
        access_scopes: None,
        previous_access_hash: None,
        previous_access_expires_at: 0,
        previous_access_scopes: None,
        refreshed_at: None,
        revoked_at: None,
    }
}

/// A fresh grant of `client_id` for `sub` (its id derived from a new code) with its
/// generation-0 access and refresh tokens minted with `keys`, as a code exchange writes it.
pub fn minted_grant(
    keys: &TestKeys,
    client_id: &str,
    sub: &str,
    now: u64,
) -> (
    crate::model::Grant,
    crate::secret::AccessToken,
    RefreshToken,
) {
    use crate::codec::{mint_access, mint_refresh};
    let code = AuthorizationCode::generate_tagged(&OsEntropy, &keys.tag);
    let grant_id = crate::model::grant_id_for_code(&code.hash());
    let access = mint_access(keys.issuing(), &ClientId::new(client_id), &grant_id, 0);
    let refresh = mint_refresh(keys.issuing(), &grant_id, 0);
    let mut g = grant(grant_id.as_str(), client_id, sub, now);
    g.access_hash = Some(access.hash());
    g.refresh_hash = Some(refresh.hash());
    (g, access, refresh)
}

/// A user as a host session describes them: username `ada`.
pub fn user(sub: &str) -> UserInfo {
    UserInfo {
        sub: Subject::new(sub),
        username: Some("ada".into()),
        email: None,
        name: None,
    }
}

/// Parses a query string as the authorization endpoint does.
pub fn authorize_params(query: &str) -> AuthorizeParams {
    AuthorizeParams::from_params(&Params::from_urlencoded(query.as_bytes()))
}

/// The in-memory store with clients, a fixed clock and the default scopes: the rules run as the
/// functions run them, without AWS or HTTP.
pub struct World {
    pub store: MemoryStore,
    pub clock: FixedClock,
    pub scopes: ScopeCatalog,
    pub lifetimes: Lifetimes,
    pub keys: TestKeys,
}

/// Fixed mint, tag and access-tag keys ([`crate::codec`]).
#[derive(Debug, Clone)]
pub struct TestKeys {
    pub mint: KeyRing,
    pub tag: KeyRing,
    pub access_tag: KeyRing,
}

impl TestKeys {
    pub fn issuing(&self) -> IssuingKeys<'_> {
        IssuingKeys {
            mint: &self.mint,
            tag: &self.tag,
            access_tag: &self.access_tag,
        }
    }
    pub fn checking(&self) -> CheckingKeys<'_> {
        CheckingKeys {
            tag: &self.tag,
            access_tag: &self.access_tag,
        }
    }
}

/// The keys every test world uses.
pub fn test_keys() -> TestKeys {
    let ring = |b: u8| KeyRing::new(crate::secret::Key::new(vec![b; 32]), None);
    TestKeys {
        mint: ring(b'm'),
        tag: ring(b't'),
        access_tag: ring(b'a'),
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// An empty store, the clock at 10 000 s.
    pub fn new() -> Self {
        Self {
            store: MemoryStore::new(),
            clock: FixedClock::at(10_000),
            scopes: ScopeCatalog::default(),
            lifetimes: Lifetimes {
                refresh_ttl: 86_400,
                // No retry window unless a test sets one: a second use is reuse.
                refresh_grace: 0,
                ..Lifetimes::default()
            },
            keys: test_keys(),
        }
    }

    /// Registers a client.
    pub fn with(self, client: ClientBuilder) -> Self {
        self.store.upsert_client(client.build());
        self
    }

    /// Runs the authorization step for user `u1` (validation, then Allow) and returns the code.
    pub async fn code(&self, query: &str) -> AuthorizationCode {
        let req = validate_request(
            &self.store,
            &self.scopes,
            ISSUER,
            None,
            &authorize_params(query),
        )
        .await
        .unwrap();
        let session = Session {
            user: user("u1"),
            exp: 0,
        };
        let ctx = IssueContext {
            clock: &self.clock,
            entropy: &OsEntropy,
            code_ttl: 600,
            issuer: ISSUER,
            tag: &self.keys.tag,
        };
        let location = issue_code(&self.store, &req, &session, &ctx).await.unwrap();
        let url = url::Url::parse(&location).unwrap();
        let code = url.query_pairs().find(|(k, _)| k == "code").unwrap().1;
        AuthorizationCode::new(code.into_owned())
    }

    /// Whether an access token is accepted at a resource endpoint just after the world's clock.
    pub async fn is_live(&self, token: &crate::secret::AccessToken) -> bool {
        self.access(token).await.is_some()
    }

    /// What an access token may do at a resource endpoint just after the world's clock.
    pub async fn access(
        &self,
        token: &crate::secret::AccessToken,
    ) -> Option<crate::bearer::Principal> {
        use crate::clock::Clock;
        crate::bearer::authenticate(
            &self.store,
            &self.keys.access_tag,
            crate::bearer::Presented::AccessToken(token.clone()),
            self.clock.now() + 1,
        )
        .await
        .ok()
    }

    /// Whether a refresh token is its grant's current one, and the grant live.
    pub fn refresh_is_current(&self, token: &RefreshToken) -> bool {
        use crate::clock::Clock;
        let now = self.clock.now() + 1;
        crate::codec::parse_refresh(token, &self.keys.tag)
            .and_then(|p| self.store.stored_grant(&p.grant_id))
            .is_some_and(|g| g.is_live(now) && g.refresh_is_current(&token.hash(), now))
    }

    /// The grant a token response's access token names.
    pub fn grant_of(&self, token: &crate::secret::AccessToken) -> Option<crate::model::Grant> {
        crate::codec::parse_access(token, &self.keys.access_tag)
            .and_then(|p| self.store.stored_grant(&p.grant_id))
    }

    pub fn token_context(&self) -> TokenContext<'_> {
        TokenContext {
            clock: &self.clock,
            entropy: &OsEntropy,
            lifetimes: &self.lifetimes,
            scopes: &self.scopes,
            keys: self.keys.issuing(),
        }
    }

    /// Exchanges a code as client `creds.0` with secret `creds.1`; the error as its code.
    pub async fn exchange(
        &self,
        creds: (&str, Option<&str>),
        code: &AuthorizationCode,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, ErrorCode> {
        self.exchange_for(creds, code, redirect_uri, verifier, None)
            .await
    }

    /// [`World::exchange`] naming a `resource` (RFC 8707).
    pub async fn exchange_for(
        &self,
        creds: (&str, Option<&str>),
        code: &AuthorizationCode,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        resource: Option<&str>,
    ) -> Result<TokenResponse, ErrorCode> {
        let creds = ClientCredentials {
            client_id: Some(ClientId::new(creds.0)),
            secret: creds.1.map(ClientSecret::new),
            ..Default::default()
        };
        let grant = CodeGrant {
            code: code.clone(),
            redirect_uri: redirect_uri.map(RedirectUri::from),
            code_verifier: verifier
                .map(parse_verifier)
                .transpose()
                .map_err(|e| e.code)?,
            resource: resource.map(str::to_string),
        };
        exchange_code(
            &self.store,
            &self.store,
            &self.store,
            &creds,
            &grant,
            &self.token_context(),
        )
        .await
        .map_err(|e| e.public().code)
    }

    /// Refreshes as client `creds.0` with secret `creds.1`, optionally asking for `scope`.
    pub async fn refresh(
        &self,
        creds: (&str, Option<&str>),
        refresh_token: &RefreshToken,
        scope: Option<&str>,
    ) -> Result<TokenResponse, ErrorCode> {
        self.refresh_for(creds, refresh_token, scope, None).await
    }

    /// [`World::refresh`] naming a `resource` (RFC 8707).
    pub async fn refresh_for(
        &self,
        creds: (&str, Option<&str>),
        refresh_token: &RefreshToken,
        scope: Option<&str>,
        resource: Option<&str>,
    ) -> Result<TokenResponse, ErrorCode> {
        let creds = ClientCredentials {
            client_id: Some(ClientId::new(creds.0)),
            secret: creds.1.map(ClientSecret::new),
            ..Default::default()
        };
        let grant = RefreshGrant {
            refresh_token: refresh_token.clone(),
            scope: scope.map(crate::scope::parse_scope),
            resource: resource.map(str::to_string),
        };
        refresh_tokens(&self.store, &creds, &grant, &self.token_context())
            .await
            .map_err(|e| e.public().code)
    }

    /// Issues a client-credentials token to `client` (as authenticated already), which is stored
    /// (upserted) first so the token can be checked.
    pub async fn issue_client_token(
        &self,
        client: &Client,
        grant: &crate::grants::client_credentials::ClientCredentialsGrant,
    ) -> Result<TokenResponse, crate::error::EndpointError> {
        let calls = self.store.calls();
        self.store.upsert_client(client.clone());
        debug_assert_eq!(calls, self.store.calls());
        let found = match grant.resource.as_deref() {
            Some(uri) => {
                use crate::ports::ResourceLookup;
                self.store.resource(uri).await?
            }
            None => None,
        };
        crate::grants::client_credentials::issue_client_token(
            &self.store,
            &self.store,
            client,
            found.as_ref(),
            grant,
            &self.token_context(),
        )
        .await
    }
}
