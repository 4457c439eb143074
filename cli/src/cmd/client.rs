//! `client ...`: registered apps, their whole lifecycle. Secrets are printed once, by `create`
//! and `rotate-secret`, and never again: `list` and `show` print neither secrets nor hashes.
use super::Context;
use crate::error::CliError;
use crate::output::{Fields, Render, Table};
use crate::validate::{self, utc};
use portcullis_aws::{DynamoClients, DynamoTokens};
use portcullis_core::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis_core::ids::{ClientId, RedirectUri};
use portcullis_core::model::{Client, ClientOrigin, GrantType, RetiringSecret};
use portcullis_core::ports::{
    ClientChange, ClientChanges, ClientDirectory, ClientGrants, ClientLookup, ClientRegistry,
    ClientRemoval, ClientUpdate, GrantRevocation, SecretRotation,
};
use portcullis_core::scope::ScopeCatalog;
use portcullis_core::secret::ClientSecret;
use serde::{Serialize, Serializer};

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Register an app; prints its client id and (once, never again) its secret.
    #[command(
        after_help = "Example:\n  portcullis client create --name \"Zap App\" \\\n    --redirect-uri https://zap.example/oauth/callback --scopes READ_PROFILE,READ_BOOKING \\\n    --logo https://zap.example/logo.png"
    )]
    Create(CreateArgs),
    /// Every registered app: id, name, kind, origin, status (a Scan of the small clients table).
    #[command(
        after_help = "Example:\n  portcullis client list --json | jq -r '.clients[] | select(.disabled) | .client_id'\n  portcullis client list --origin registration"
    )]
    List(ListArgs),
    /// One app as registered; how many secrets are live and until when (never the secrets).
    #[command(after_help = "Example:\n  portcullis client show 0f3c9a2e41d84b7a9c1e5d6f7a8b9c0d")]
    Show(IdArgs),
    /// Change an app's name, logo, redirect URIs, scopes, trust or refresh mode (one write).
    #[command(
        after_help = "Example:\n  portcullis client update 0f3c9a2e41d84b7a9c1e5d6f7a8b9c0d \\\n    --redirect-uri https://zap.example/oauth/callback --redirect-uri https://zap.example/v2/callback"
    )]
    Update(UpdateArgs),
    /// Issue a new secret (printed once); the old one keeps working for --keep-old-for.
    #[command(
        after_help = "Example:\n  portcullis client rotate-secret 0f3c9a2e41d84b7a9c1e5d6f7a8b9c0d --keep-old-for 24h\n  portcullis client rotate-secret 0f3c9a2e41d84b7a9c1e5d6f7a8b9c0d --keep-old-for 0   # leaked: end the old one now"
    )]
    RotateSecret(RotateArgs),
    /// Switch an app off: it can start no flow, and every token it holds stops working.
    #[command(
        after_help = "Example:\n  portcullis client disable 0f3c9a2e41d84b7a9c1e5d6f7a8b9c0d"
    )]
    Disable(DisableArgs),
    /// Switch an app back on: new authorizations work again (revoked tokens stay revoked).
    #[command(
        after_help = "Example:\n  portcullis client enable 0f3c9a2e41d84b7a9c1e5d6f7a8b9c0d"
    )]
    Enable(IdArgs),
    /// Remove an app: revokes all its grants and tokens, then deletes it.
    #[command(
        after_help = "Example:\n  portcullis client delete 0f3c9a2e41d84b7a9c1e5d6f7a8b9c0d"
    )]
    Delete(IdArgs),
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// The client id.
    pub client_id: String,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only the clients that came to be this way: operator (`client create`), registration
    /// (RFC 7591 dynamic registration) or metadata-document (a Client ID Metadata Document).
    #[arg(long, value_parser = origin, value_name = "ORIGIN")]
    pub origin: Option<ClientOrigin>,
}

fn origin(s: &str) -> Result<ClientOrigin, String> {
    ClientOrigin::parse(s).ok_or_else(|| {
        format!("unknown origin `{s}`: use operator, registration or metadata-document")
    })
}

/// Operator client ids never start with a prefix reserved for clients nobody vetted (`dcr_`,
/// `cimd_`): a registration's derived id can then never name an operator's client.
pub fn operator_client_id(id: &ClientId) -> Result<(), CliError> {
    if ClientOrigin::is_reserved_id(id.as_str()) {
        return Err(CliError::Invalid(format!(
            "client id {id} starts with a prefix reserved for registered clients (dcr_, cimd_)"
        )));
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct DisableArgs {
    /// The client id.
    pub client_id: String,
}

/// A client id as typed: trimmed, not empty. A metadata-document client may be named by its
/// URL (its `client_id` on the wire) as well as by its stored `cimd_` id.
fn client_id(id: &str) -> Result<ClientId, CliError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(CliError::Invalid("the client id must not be empty".into()));
    }
    Ok(portcullis_core::metadata_document::wire_client_id(id))
}

fn not_found(id: &ClientId) -> CliError {
    CliError::NotFound(format!("no client has the id {id}"))
}

fn clients(ctx: &Context) -> DynamoClients {
    DynamoClients::new(ctx.db(), &ctx.config.tables.clients)
}

fn tokens(ctx: &Context) -> DynamoTokens {
    DynamoTokens::new(ctx.db(), &ctx.config.tables.tokens)
}

/// What `client disable` did.
#[derive(Debug, Serialize)]
pub struct ClientDisabled {
    pub client_id: ClientId,
    pub grants_revoked: usize,
}

impl Render for ClientDisabled {
    fn text(&self) -> String {
        format!(
            "disabled client {}; revoked {} grant(s)",
            self.client_id, self.grants_revoked
        )
    }
}

/// `client disable`: an UpdateItem on the client, then (twice) a Query of `by_client` and the
/// revocation of each grant (`portcullis_core::admin::disable_client`). Tokens the sweep misses
/// (issued within the index's lag) are refused at use: the server checks the client there.
pub async fn disable(ctx: &Context, args: DisableArgs) -> Result<ClientDisabled, CliError> {
    let client_id = client_id(&args.client_id)?;
    let done = portcullis_core::admin::disable_client(
        &clients(ctx),
        &tokens(ctx),
        &client_id,
        SystemClock.now(),
    )
    .await
    .map_err(|e| ctx.storage("disabling the client", &ctx.config.tables.clients, e))?
    .ok_or_else(|| not_found(&client_id))?;
    Ok(ClientDisabled {
        client_id,
        grants_revoked: done.grants_revoked,
    })
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The app's name, shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeat for more). Matched exactly, but any port on a loopback one. Required unless the client is
    /// registered for client_credentials only.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A grant type it may use (repeat for more): authorization_code, refresh_token,
    /// client_credentials. Default: authorization_code and refresh_token. A client for
    /// client_credentials only is a machine client: confidential, no redirect URIs, never on a
    /// consent page.
    #[arg(long = "grant-type", value_parser = grant_type, value_name = "GRANT_TYPE")]
    pub grant_types: Vec<GrantType>,
    /// A JWKS file (RFC 7517) with the client's public keys, for private_key_jwt (RFC 7523):
    /// the client then signs an assertion instead of sending a secret, and gets no secret.
    /// ES256 (P-256), EdDSA (Ed25519), PS256/RS256 (RSA of 2048 bits or more).
    #[arg(long = "jwks-file", value_name = "PATH")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// Most token requests per minute (answered 429 with Retry-After past it). Default: no
    /// limit, and nothing is counted.
    #[arg(long = "token-rate", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub token_rate: Option<u32>,
    /// An https URL of the app's logo, shown on the consent page.
    #[arg(long)]
    pub logo: Option<String>,
    /// A public client (no secret; must use PKCE): SPAs, mobile and CLI apps.
    #[arg(long)]
    pub public: bool,
    /// A first-party app that skips the consent page.
    #[arg(long)]
    pub trusted: bool,
    /// Let this confidential client authorize without PKCE (apps written for Cal.com's
    /// contract send no `code_challenge`). By default every client must use PKCE
    /// (RFC 9700 §2.1.1); public clients always must.
    #[arg(long = "pkce-optional")]
    pub pkce_optional: bool,
    /// Legacy refresh mode, for integrations written against Cal.com's first version that keep
    /// one refresh token forever: a refresh returns the same refresh token (its expiry still
    /// slides). Confidential clients only; public clients always rotate (RFC 9700 §4.14.2).
    #[arg(long = "no-refresh-rotation")]
    pub no_refresh_rotation: bool,
    /// A resource server (an API that checks tokens): introspection shows it every client's
    /// tokens, not only its own (RFC 7662 §4). Confidential clients only.
    #[arg(long = "resource-server")]
    pub resource_server: bool,
    /// The scopes it may request, comma-separated (default: all configured scopes).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
}

/// `--grant-type`.
fn grant_type(s: &str) -> Result<GrantType, String> {
    GrantType::parse(s.trim()).ok_or_else(|| {
        format!(
            "unknown grant type `{s}`: use authorization_code, refresh_token or client_credentials"
        )
    })
}

/// A registered client, with its secret (shown this once).
#[derive(Debug, Serialize)]
pub struct ClientCreated {
    pub client_id: ClientId,
    /// `null` for a public client.
    #[serde(serialize_with = "reveal")]
    pub client_secret: Option<ClientSecret>,
    pub name: String,
    pub redirect_uris: Vec<RedirectUri>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub trusted: bool,
    /// `true` for a client registered with `--pkce-optional`.
    pub pkce_optional: bool,
    /// `false` for a legacy client (`--no-refresh-rotation`).
    pub refresh_rotation: bool,
    pub grant_types: Vec<GrantType>,
    /// Most token requests per minute; `null`: no limit.
    pub token_rate: Option<u32>,
}

/// The secret itself: this output is the one place it is handed to its owner.
fn reveal<S: Serializer>(secret: &Option<ClientSecret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_some(secret.secret()),
        None => s.serialize_none(),
    }
}

impl Render for ClientCreated {
    fn text(&self) -> String {
        let secret = match &self.client_secret {
            Some(s) => s.secret(),
            None if self.public => "(none: public client, use PKCE)",
            None => "(none: it signs client assertions with its registered keys, private_key_jwt)",
        };
        let uris: Vec<&str> = self.redirect_uris.iter().map(|u| u.as_str()).collect();
        let mut text = Fields::new()
            .field("client_id", self.client_id.as_str())
            .field("client_secret", secret)
            .field("redirect_uris", uris.join(" "))
            .field("scopes", self.scopes.join(" "))
            .render();
        if self.grant_types != portcullis_core::model::user_grant_types() {
            text.push_str(&format!(
                "\ngrant_types:   {}",
                grant_types_text(&self.grant_types)
            ));
        }
        if self.client_secret.is_some() {
            text.push_str(
                "\nThe secret is shown only now: it is stored as a hash and cannot be shown again.",
            );
        }
        text
    }
}

fn keys_text(kids: &[Option<String>], old_until: Option<u64>) -> String {
    if kids.is_empty() {
        return "none".into();
    }
    let names: Vec<&str> = kids
        .iter()
        .map(|k| k.as_deref().unwrap_or("(no kid)"))
        .collect();
    let mut t = format!("{} ({})", kids.len(), names.join(", "));
    if let Some(until) = old_until {
        t.push_str(&format!("; the replaced keys verify until {}", utc(until)));
    }
    t
}

fn grant_types_text(g: &[GrantType]) -> String {
    g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" ")
}

/// A registration whose flags have been checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    pub redirect_uris: Vec<RedirectUri>,
    pub logo_uri: Option<String>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub trusted: bool,
    pub pkce_optional: bool,
    pub refresh_rotation: bool,
    pub resource_server: bool,
    pub grant_types: Vec<GrantType>,
    pub token_rate: Option<u32>,
    pub jwks: Option<portcullis_core::assertion::ClientKeys>,
}

/// `--jwks-file`: read and checked (public keys only, of the accepted types).
pub fn jwks_file(
    path: &std::path::Path,
) -> Result<portcullis_core::assertion::ClientKeys, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Invalid(format!("--jwks-file {}: {e}", path.display())))?;
    portcullis_core::assertion::ClientKeys::from_jwks_json(&text)
        .map_err(|e| CliError::Invalid(format!("--jwks-file {}: {e}", path.display())))
}

/// `--grant-type`s: repeats dropped, order kept; none means the user grants. A code exchange
/// always issues a refresh token, so `authorization_code` brings `refresh_token` with it (the
/// registration says what the client will get).
fn grant_types(given: &[GrantType]) -> Vec<GrantType> {
    if given.is_empty() {
        return portcullis_core::model::user_grant_types();
    }
    let mut out: Vec<GrantType> = Vec::new();
    for g in given {
        if !out.contains(g) {
            out.push(*g);
        }
        if *g == GrantType::AuthorizationCode && !out.contains(&GrantType::RefreshToken) {
            out.push(GrantType::RefreshToken);
        }
    }
    out
}

/// Checks `client create`'s flags against the configured scopes.
pub fn check(args: CreateArgs, catalog: &ScopeCatalog) -> Result<Registration, CliError> {
    if args.public && args.trusted {
        return Err(CliError::Invalid(
            "--trusted is for confidential clients only: anyone can present a public client's id, so it must always get the user's consent (RFC 8252 §8.6)".into(),
        ));
    }
    if args.public && args.resource_server {
        return Err(CliError::Invalid(
            "--resource-server is for confidential clients only: introspection needs client authentication (RFC 7662 §2.1)".into(),
        ));
    }
    if args.public && args.pkce_optional {
        return Err(CliError::Invalid(
            "--pkce-optional is for confidential clients only: a public client must always use PKCE (RFC 9700 §2.1.1, OAuth 2.1 §4.1.1)".into(),
        ));
    }
    if args.public && args.no_refresh_rotation {
        return Err(CliError::Invalid(
            "--no-refresh-rotation is for confidential clients only: a public client's refresh tokens always rotate (RFC 9700 §4.14.2)".into(),
        ));
    }
    let grant_types = grant_types(&args.grant_types);
    let machine = grant_types == [GrantType::ClientCredentials];
    if args.public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(CliError::Invalid(
            "--grant-type client_credentials is for confidential clients only: a public client has no credentials to prove who it is (RFC 6749 §4.4)".into(),
        ));
    }
    if grant_types.contains(&GrantType::RefreshToken)
        && !grant_types.contains(&GrantType::AuthorizationCode)
    {
        return Err(CliError::Invalid(
            "--grant-type refresh_token needs authorization_code too: refresh tokens come only from a code exchange (client_credentials issues none, RFC 6749 §4.4.3)".into(),
        ));
    }
    if machine && (args.trusted || args.pkce_optional || args.no_refresh_rotation) {
        return Err(CliError::Invalid(
            "--trusted, --pkce-optional and --no-refresh-rotation are about user authorizations: a client for client_credentials only has none".into(),
        ));
    }
    if machine && !args.redirect_uris.is_empty() {
        return Err(CliError::Invalid(
            "a client for client_credentials only has no redirect URIs: drop --redirect-uri, or add --grant-type authorization_code".into(),
        ));
    }
    if !machine && args.redirect_uris.is_empty() {
        return Err(CliError::Invalid(
            "--redirect-uri is required (at least one) for a client that uses authorization_code"
                .into(),
        ));
    }
    if args.public && args.jwks_file.is_some() {
        return Err(CliError::Invalid(
            "--jwks-file is for confidential clients only: a public client authenticates with nothing (RFC 6749 §2.1)".into(),
        ));
    }
    let jwks = args.jwks_file.as_deref().map(jwks_file).transpose()?;
    let name = validate::name(&args.name)?;
    let redirect_uris = if machine {
        Vec::new()
    } else {
        validate::redirect_uris(&args.redirect_uris)?
    };
    let logo_uri = args.logo.as_deref().map(validate::logo).transpose()?;
    let scopes = scopes(&args.scopes, catalog)?;
    Ok(Registration {
        name,
        redirect_uris,
        logo_uri,
        scopes,
        public: args.public,
        trusted: args.trusted,
        pkce_optional: args.pkce_optional,
        refresh_rotation: !args.no_refresh_rotation,
        resource_server: args.resource_server,
        grant_types,
        token_rate: args.token_rate,
        jwks,
    })
}

/// `--scopes`: each one configured; repeats dropped, order kept; none given means all.
pub fn scopes(given: &[String], catalog: &ScopeCatalog) -> Result<Vec<String>, CliError> {
    if given.iter().all(|s| s.trim().is_empty()) {
        return Ok(catalog.names().map(str::to_string).collect());
    }
    let mut s: Vec<String> = Vec::new();
    for scope in given.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if !catalog.contains(scope) {
            let known: Vec<&str> = catalog.names().collect();
            return Err(CliError::Invalid(format!(
                "--scopes: unknown scope `{scope}` (configured: {})",
                known.join(", ")
            )));
        }
        if !s.iter().any(|x| x == scope) {
            s.push(scope.to_string());
        }
    }
    Ok(s)
}

/// The client to store (a fresh id; for a confidential client, the hash of a fresh secret) and
/// the secret itself.
pub fn new_client(
    reg: Registration,
    entropy: &dyn Entropy,
    now: u64,
) -> (Client, Option<ClientSecret>) {
    let mut id_bytes = [0u8; 16];
    entropy.fill(&mut id_bytes);
    let client_id = ClientId::new(
        id_bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    );
    // A client that registered keys signs assertions (private_key_jwt): no secret.
    let secret = (!reg.public && reg.jwks.is_none()).then(|| ClientSecret::generate(entropy));
    let client = Client {
        client_id,
        name: reg.name,
        logo_uri: reg.logo_uri,
        redirect_uris: reg.redirect_uris,
        scopes: reg.scopes,
        public: reg.public,
        trusted: reg.trusted,
        pkce_optional: reg.pkce_optional,
        disabled: false,
        secret_hashes: secret.iter().map(ClientSecret::hash).collect(),
        secret_retiring: None,
        refresh_rotation: reg.refresh_rotation,
        resource_server: reg.resource_server,
        grant_types: reg.grant_types,
        token_rate: reg.token_rate,
        jwks: reg.jwks,
        jwks_retiring: None,
        disabled_at: None,
        created_at: now,
        origin: portcullis_core::model::ClientOrigin::Operator,
        expires_at: None,
        software: None,
        document: None,
    };
    (client, secret)
}

/// `client create`.
pub async fn create(ctx: &Context, args: CreateArgs) -> Result<ClientCreated, CliError> {
    let reg = check(args, &ctx.config.scopes)?;
    let (client, secret) = new_client(reg, &OsEntropy, SystemClock.now());
    operator_client_id(&client.client_id)?;
    clients(ctx)
        .create_client(&client)
        .await
        .map_err(|e| ctx.storage("registering the client", &ctx.config.tables.clients, e))?;
    Ok(ClientCreated {
        client_id: client.client_id,
        client_secret: secret,
        name: client.name,
        redirect_uris: client.redirect_uris,
        scopes: client.scopes,
        public: client.public,
        trusted: client.trusted,
        pkce_optional: client.pkce_optional,
        refresh_rotation: client.refresh_rotation,
        grant_types: client.grant_types,
        token_rate: client.token_rate,
    })
}

/// How many of a client's secrets work at `now`, and until when the retiring one does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretStatus {
    pub live: usize,
    /// The old secret of a rotation still in its overlap: it stops working then.
    pub retiring_until: Option<u64>,
}

impl SecretStatus {
    /// A retiring secret whose `until` has passed is listed but dead (the server checks it at
    /// use), so it is not counted.
    pub fn of(client: &Client, now: u64) -> Self {
        let retiring = client
            .secret_retiring
            .as_ref()
            .filter(|r| client.secret_hashes.contains(&r.hash));
        let dead = retiring.is_some_and(|r| r.until <= now);
        Self {
            live: client.secret_hashes.len() - usize::from(dead),
            retiring_until: retiring.filter(|_| !dead).map(|r| r.until),
        }
    }

    fn text(&self, public: bool) -> String {
        match (public, self.retiring_until) {
            (true, _) => "none (public client, uses PKCE)".into(),
            (false, None) => self.live.to_string(),
            (false, Some(until)) => {
                format!("{} (the old one works until {})", self.live, utc(until))
            }
        }
    }
}

/// A client as `show`, `list` and `update` print it: never a secret or a hash.
#[derive(Debug, Serialize)]
pub struct ClientView {
    pub client_id: ClientId,
    pub name: String,
    pub logo_uri: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub trusted: bool,
    pub pkce_optional: bool,
    pub disabled: bool,
    pub refresh_rotation: bool,
    pub resource_server: bool,
    pub grant_types: Vec<GrantType>,
    /// Most token requests per minute; `null`: no limit.
    pub token_rate: Option<u32>,
    /// private_key_jwt: the kids of its registered keys (`null` for a key without one).
    pub keys: Vec<Option<String>>,
    /// When the keys a `--jwks-file` update replaced stop verifying.
    pub old_keys_until: Option<u64>,
    pub created_at: u64,
    pub secrets: SecretStatus,
    /// How it came to be: operator, registration or metadata_document.
    pub origin: ClientOrigin,
    /// A registered client's end unless it is used again (the clients table's TTL).
    pub expires_at: Option<u64>,
    /// A metadata-document client: its document's URL (the `client_id` it sends).
    pub document_url: Option<String>,
}

impl ClientView {
    pub fn of(c: Client, now: u64) -> Self {
        let secrets = SecretStatus::of(&c, now);
        Self {
            client_id: c.client_id,
            name: c.name,
            logo_uri: c.logo_uri,
            redirect_uris: c.redirect_uris,
            scopes: c.scopes,
            public: c.public,
            trusted: c.trusted,
            pkce_optional: c.pkce_optional,
            disabled: c.disabled,
            refresh_rotation: c.refresh_rotation,
            resource_server: c.resource_server,
            grant_types: c.grant_types,
            token_rate: c.token_rate,
            keys: c.jwks.as_ref().map(|k| k.kids()).unwrap_or_default(),
            old_keys_until: c
                .jwks_retiring
                .as_ref()
                .filter(|r| r.until > now)
                .map(|r| r.until),
            created_at: c.created_at,
            secrets,
            origin: c.origin,
            expires_at: c.expires_at,
            document_url: c.document.map(|d| d.url),
        }
    }

    fn kind(&self) -> &'static str {
        if self.public {
            "public"
        } else {
            "confidential"
        }
    }

    fn status(&self) -> &'static str {
        if self.disabled {
            "disabled"
        } else {
            "enabled"
        }
    }
}

impl Render for ClientView {
    fn text(&self) -> String {
        let uris: Vec<&str> = self.redirect_uris.iter().map(|u| u.as_str()).collect();
        let yes = |b: bool| if b { "yes" } else { "no" };
        Fields::new()
            .field("client_id", self.client_id.as_str())
            .field("name", &self.name)
            .field("status", self.status())
            .field("kind", self.kind())
            .field("secrets", self.secrets.text(self.public))
            .field("redirect_uris", uris.join(" "))
            .field("scopes", self.scopes.join(" "))
            .field("logo", self.logo_uri.clone().unwrap_or_else(|| "-".into()))
            .field("trusted", yes(self.trusted))
            .field(
                "pkce",
                if self.pkce_optional {
                    "optional"
                } else {
                    "required"
                },
            )
            .field("refresh_rotation", yes(self.refresh_rotation))
            .field("resource_server", yes(self.resource_server))
            .field("grant_types", grant_types_text(&self.grant_types))
            .field("keys", keys_text(&self.keys, self.old_keys_until))
            .field(
                "token_rate",
                self.token_rate
                    .map_or_else(|| "no limit".into(), |n| format!("{n} per minute")),
            )
            .field("created", utc(self.created_at))
            .field("origin", self.origin.as_str())
            .field(
                "document",
                self.document_url.clone().unwrap_or_else(|| "-".into()),
            )
            .field(
                "expires",
                self.expires_at
                    .map_or_else(|| "never".into(), |e| format!("{} unless used", utc(e))),
            )
            .render()
    }
}

/// `client list`: `{"clients": [...]}`, oldest first.
#[derive(Debug, Serialize)]
pub struct ClientList {
    pub clients: Vec<ClientView>,
}

impl Render for ClientList {
    fn text(&self) -> String {
        if self.clients.is_empty() {
            return "no clients".into();
        }
        self.clients
            .iter()
            .fold(
                Table::new(&[
                    "CLIENT_ID",
                    "NAME",
                    "KIND",
                    "ORIGIN",
                    "STATUS",
                    "SECRETS",
                    "CREATED",
                ]),
                |t, c| {
                    t.row([
                        c.client_id.to_string(),
                        c.name.clone(),
                        c.kind().into(),
                        c.origin.as_str().into(),
                        c.status().into(),
                        if c.public {
                            "-".into()
                        } else {
                            c.secrets.live.to_string()
                        },
                        utc(c.created_at),
                    ])
                },
            )
            .render()
    }
}

/// `client list`: a Scan of the clients table (every page).
pub async fn list(ctx: &Context, args: ListArgs) -> Result<ClientList, CliError> {
    let mut all = clients(ctx)
        .list_clients()
        .await
        .map_err(|e| ctx.storage("listing the clients", &ctx.config.tables.clients, e))?;
    all.retain(|c| args.origin.is_none_or(|o| c.origin == o));
    all.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
    let now = SystemClock.now();
    Ok(ClientList {
        clients: all.into_iter().map(|c| ClientView::of(c, now)).collect(),
    })
}

/// `client show`: one GetItem.
pub async fn show(ctx: &Context, args: IdArgs) -> Result<ClientView, CliError> {
    let id = client_id(&args.client_id)?;
    let client = clients(ctx)
        .client(&id)
        .await
        .map_err(|e| ctx.storage("reading the client", &ctx.config.tables.clients, e))?
        .ok_or_else(|| not_found(&id))?;
    Ok(ClientView::of(client, SystemClock.now()))
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("change").required(true).multiple(true)))]
pub struct UpdateArgs {
    /// The client id.
    pub client_id: String,
    /// A new name, shown on the consent page.
    #[arg(long, group = "change")]
    pub name: Option<String>,
    /// A new https logo URL.
    #[arg(long, group = "change", conflicts_with = "no_logo")]
    pub logo: Option<String>,
    /// Remove the logo.
    #[arg(long = "no-logo", group = "change")]
    pub no_logo: bool,
    /// The redirect URIs (repeat for more): they replace the registered list.
    #[arg(long = "redirect-uri", group = "change")]
    pub redirect_uris: Vec<String>,
    /// The scopes it may request, comma-separated: they replace the registered list. Tokens
    /// already issued keep their scopes.
    #[arg(long, value_delimiter = ',', group = "change")]
    pub scopes: Vec<String>,
    /// Whether it skips the consent page (confidential clients only).
    #[arg(long, group = "change", value_name = "true|false")]
    pub trusted: Option<bool>,
    /// Whether it may authorize without PKCE (`true`: confidential clients only).
    #[arg(long = "pkce-optional", group = "change", value_name = "true|false")]
    pub pkce_optional: Option<bool>,
    /// Whether each refresh replaces the refresh token (`false`: legacy mode, confidential
    /// clients only).
    #[arg(long = "refresh-rotation", group = "change", value_name = "true|false")]
    pub refresh_rotation: Option<bool>,
    /// Most token requests per minute (`--token-rate 600`); `--token-rate none` removes the
    /// limit.
    #[arg(long = "token-rate", group = "change", value_name = "N|none")]
    pub token_rate: Option<String>,
    /// A JWKS file that replaces the client's keys (private_key_jwt); the keys it replaces keep
    /// verifying for --keep-old-keys-for, so the client can switch without downtime.
    #[arg(long = "jwks-file", group = "change", value_name = "PATH")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// With --jwks-file: how long the replaced keys keep verifying (`24h`, `90m`, `0` = not at all).
    #[arg(long = "keep-old-keys-for", default_value = "24h", value_parser = validate::duration, value_name = "DURATION", requires = "jwks_file")]
    pub keep_old_keys_for: u64,
    /// Remove the client's secrets, once it authenticates with keys (the end of a migration
    /// to private_key_jwt).
    #[arg(long = "no-secret", group = "change")]
    pub no_secret: bool,
}

/// `--token-rate` of `update`: a positive number, or `none`.
fn token_rate(s: &str) -> Result<Option<u32>, String> {
    match s.trim() {
        "none" | "off" => Ok(None),
        n => match n.parse::<u32>() {
            Ok(0) | Err(_) => Err(format!(
                "--token-rate takes a positive number of requests per minute, or none (got `{s}`)"
            )),
            Ok(n) => Ok(Some(n)),
        },
    }
}

/// Checks `client update`'s flags with the same rules as `create`.
pub fn check_update(args: &UpdateArgs, catalog: &ScopeCatalog) -> Result<ClientChanges, CliError> {
    let changes = ClientChanges {
        name: args.name.as_deref().map(validate::name).transpose()?,
        logo_uri: match (&args.logo, args.no_logo) {
            (Some(l), _) => Some(Some(validate::logo(l)?)),
            (None, true) => Some(None),
            (None, false) => None,
        },
        redirect_uris: (!args.redirect_uris.is_empty())
            .then(|| validate::redirect_uris(&args.redirect_uris))
            .transpose()?,
        scopes: if args.scopes.iter().all(|s| s.trim().is_empty()) {
            None
        } else {
            Some(scopes(&args.scopes, catalog)?)
        },
        trusted: args.trusted,
        pkce_optional: args.pkce_optional,
        refresh_rotation: args.refresh_rotation,
        token_rate: args
            .token_rate
            .as_deref()
            .map(token_rate)
            .transpose()
            .map_err(CliError::Invalid)?,
        jwks: args.jwks_file.as_deref().map(jwks_file).transpose()?,
        jwks_retiring: None,
        remove_secret: args.no_secret,
    };
    if changes.is_empty() {
        return Err(CliError::Invalid(
            "nothing to change: give --name, --logo, --no-logo, --redirect-uri, --scopes, --trusted, --pkce-optional, --refresh-rotation, --token-rate, --jwks-file or --no-secret".into(),
        ));
    }
    Ok(changes)
}

fn changed(id: &ClientId, change: ClientChange, what: &str) -> Result<Client, CliError> {
    match change {
        ClientChange::Done(c) => Ok(*c),
        ClientChange::NotFound => Err(not_found(id)),
        ClientChange::Public => Err(CliError::Invalid(format!(
            "client {id} is public: {what} is for confidential clients only (RFC 8252 §8.6, RFC 9700 §4.14.2)"
        ))),
        ClientChange::Changed => Err(CliError::Aws {
            what: format!("client {id} was changed by someone else meanwhile; nothing was written"),
            source: "retry the command".into(),
        }),
    }
}

/// `client update`: one conditional UpdateItem (a GetItem too, only when it is refused, to say
/// why).
pub async fn update(ctx: &Context, args: UpdateArgs) -> Result<ClientView, CliError> {
    let id = client_id(&args.client_id)?;
    let mut changes = check_update(&args, &ctx.config.scopes)?;
    // Changes about user authorizations mean nothing for a client of client_credentials only
    // (the rules `create` applies): read it to say so rather than store them.
    let user_flow_change = changes.redirect_uris.is_some()
        || changes.trusted == Some(true)
        || changes.pkce_optional == Some(true)
        || changes.refresh_rotation == Some(false);
    if user_flow_change {
        let current = clients(ctx)
            .client(&id)
            .await
            .map_err(|e| ctx.storage("reading the client", &ctx.config.tables.clients, e))?
            .ok_or_else(|| not_found(&id))?;
        refuse_trust_for_unvetted(&current, &changes)?;
        if !current.may_use(GrantType::AuthorizationCode) {
            return Err(CliError::Invalid(format!(
                "client {id} is registered for client_credentials only: --redirect-uri, --trusted, --pkce-optional and --refresh-rotation are about user authorizations, which it has none of"
            )));
        }
    }
    if changes.jwks.is_some() || changes.remove_secret {
        // The keys being replaced keep verifying during the overlap; a secret is removed only
        // from a client that can still authenticate without it.
        let current = clients(ctx)
            .client(&id)
            .await
            .map_err(|e| ctx.storage("reading the client", &ctx.config.tables.clients, e))?
            .ok_or_else(|| not_found(&id))?;
        changes.jwks_retiring = Some(plan_key_overlap(
            &current,
            changes.jwks.is_some(),
            args.keep_old_keys_for,
            SystemClock.now(),
        ));
        if changes.remove_secret && current.jwks.is_none() && changes.jwks.is_none() {
            return Err(CliError::Invalid(format!(
                "client {id} has no keys: register them first (--jwks-file), or it could not authenticate at all"
            )));
        }
        if changes.jwks.is_some() && current.public {
            return Err(CliError::Invalid(format!(
                "client {id} is public: --jwks-file is for confidential clients only"
            )));
        }
    }
    let change = clients(ctx)
        .update_client(&id, &changes)
        .await
        .map_err(|e| ctx.storage("updating the client", &ctx.config.tables.clients, e))?;
    let client = changed(
        &id,
        change,
        "--trusted true, --pkce-optional true or --refresh-rotation false",
    )?;
    Ok(ClientView::of(client, SystemClock.now()))
}

/// `trusted` skips the consent page, so it is only for a client the operator vetted: never for
/// one that registered itself or came from a metadata document (issue 18). Its origin never
/// changes, so the client as read decides.
pub fn refuse_trust_for_unvetted(
    current: &Client,
    changes: &ClientChanges,
) -> Result<(), CliError> {
    if changes.trusted == Some(true) && !current.origin.is_operator() {
        return Err(CliError::Invalid(format!(
            "client {} came from {}: nobody vetted it, so it can never be trusted (it always gets the consent page)",
            current.client_id,
            match current.origin {
                ClientOrigin::MetadataDocument => "a Client ID Metadata Document",
                _ => "dynamic registration",
            }
        )));
    }
    Ok(())
}

/// The replaced keys' overlap: with new keys, the current ones verify until `now + keep`
/// (none when `keep` is 0 or there were none); without new keys, any overlap stays as it is.
pub fn plan_key_overlap(
    current: &Client,
    replacing: bool,
    keep: u64,
    now: u64,
) -> Option<portcullis_core::model::RetiringKeys> {
    if !replacing {
        return current.jwks_retiring.clone();
    }
    current
        .jwks
        .clone()
        .filter(|_| keep > 0)
        .map(|keys| portcullis_core::model::RetiringKeys {
            keys,
            until: now.saturating_add(keep),
        })
}

/// `client enable`: one conditional UpdateItem.
pub async fn enable(ctx: &Context, args: IdArgs) -> Result<ClientView, CliError> {
    let id = client_id(&args.client_id)?;
    let change = clients(ctx)
        .enable_client(&id)
        .await
        .map_err(|e| ctx.storage("enabling the client", &ctx.config.tables.clients, e))?;
    Ok(ClientView::of(
        changed(&id, change, "enabling")?,
        SystemClock.now(),
    ))
}

#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The client id.
    pub client_id: String,
    /// How long the old secret keeps working, so the integration can be updated without
    /// downtime: `24h`, `90m`, `3600s`, `2d`; `0` ends it now (a leaked secret).
    #[arg(long = "keep-old-for", default_value = "24h", value_parser = validate::duration, value_name = "DURATION")]
    pub keep_old_for: u64,
}

/// The rotation to write, from the client as read: the new hash first; the current secret kept
/// until `now + keep` (if `keep > 0`); any older retiring secret dropped, so at most two are
/// live.
pub fn plan_rotation(
    client: &Client,
    new: &ClientSecret,
    keep: u64,
    now: u64,
) -> Result<SecretRotation, CliError> {
    if client.public {
        return Err(CliError::Invalid(format!(
            "client {} is public: it has no secret to rotate",
            client.client_id
        )));
    }
    let retiring = client.secret_retiring.as_ref().map(|r| &r.hash);
    let current = client
        .secret_hashes
        .iter()
        .find(|h| retiring.is_none_or(|r| r != *h));
    let new_hash = new.hash();
    Ok(match current.filter(|_| keep > 0) {
        Some(current) => SecretRotation {
            expected: client.secret_hashes.clone(),
            secret_hashes: vec![new_hash, current.clone()],
            retiring: Some(RetiringSecret {
                hash: current.clone(),
                until: now.saturating_add(keep),
            }),
        },
        None => SecretRotation {
            expected: client.secret_hashes.clone(),
            secret_hashes: vec![new_hash],
            retiring: None,
        },
    })
}

/// What `client rotate-secret` did: the new secret (shown this once) and the old one's end.
#[derive(Debug, Serialize)]
pub struct SecretRotated {
    pub client_id: ClientId,
    #[serde(serialize_with = "reveal_one")]
    pub client_secret: ClientSecret,
    /// When the previous secret stops working; `null` when it stopped at once.
    pub old_secret_until: Option<u64>,
}

fn reveal_one<S: Serializer>(secret: &ClientSecret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.secret())
}

impl Render for SecretRotated {
    fn text(&self) -> String {
        let old = match self.old_secret_until {
            Some(t) => format!("works until {}", utc(t)),
            None => "no longer works".into(),
        };
        let mut text = Fields::new()
            .field("client_id", self.client_id.as_str())
            .field("client_secret", self.client_secret.secret())
            .field("old secret", old)
            .render();
        text.push_str(
            "\nThe secret is shown only now: it is stored as a hash and cannot be shown again.",
        );
        text
    }
}

/// `client rotate-secret`: one GetItem, then one UpdateItem conditional on the secrets being as
/// read (a concurrent rotation makes it fail, changing nothing).
pub async fn rotate_secret(ctx: &Context, args: RotateArgs) -> Result<SecretRotated, CliError> {
    let id = client_id(&args.client_id)?;
    let store = clients(ctx);
    let table = &ctx.config.tables.clients;
    let client = store
        .client(&id)
        .await
        .map_err(|e| ctx.storage("reading the client", table, e))?
        .ok_or_else(|| not_found(&id))?;
    let secret = ClientSecret::generate(&OsEntropy);
    let plan = plan_rotation(&client, &secret, args.keep_old_for, SystemClock.now())?;
    let change = store
        .rotate_secret(&id, &plan)
        .await
        .map_err(|e| ctx.storage("rotating the secret", table, e))?;
    changed(&id, change, "a secret")?;
    Ok(SecretRotated {
        client_id: id,
        client_secret: secret,
        old_secret_until: plan.retiring.map(|r| r.until),
    })
}

/// What `client delete` did.
#[derive(Debug, Serialize)]
pub struct ClientDeleted {
    pub client_id: ClientId,
    pub grants_revoked: usize,
}

impl Render for ClientDeleted {
    fn text(&self) -> String {
        format!(
            "deleted client {}; revoked {} grant(s)",
            self.client_id, self.grants_revoked
        )
    }
}

/// `client delete`: disables the client first (so it can issue nothing new while its grants go),
/// revokes every grant `by_client` names (twice, for the index's lag), then one conditional
/// DeleteItem.
pub async fn delete(ctx: &Context, args: IdArgs) -> Result<ClientDeleted, CliError> {
    let id = client_id(&args.client_id)?;
    let store = clients(ctx);
    let tokens = tokens(ctx);
    let done = revoke_all(&store, &tokens, &id)
        .await
        .map_err(|e| ctx.storage("revoking the client's grants", &ctx.config.tables.tokens, e))?
        .ok_or_else(|| not_found(&id))?;
    if !store
        .delete_client(&id)
        .await
        .map_err(|e| ctx.storage("deleting the client", &ctx.config.tables.clients, e))?
    {
        return Err(not_found(&id));
    }
    Ok(ClientDeleted {
        client_id: id,
        grants_revoked: done.grants_revoked,
    })
}

/// Disable, then revoke every grant (`portcullis_core::admin::disable_client`).
async fn revoke_all(
    clients: &DynamoClients,
    tokens: &(impl ClientGrants + GrantRevocation),
    id: &ClientId,
) -> Result<Option<portcullis_core::admin::Disabled>, portcullis_core::error::StoreError> {
    portcullis_core::admin::disable_client(clients, tokens, id, SystemClock.now()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::render;
    use portcullis_core::scope::ScopeDef;
    use portcullis_core::secret::SecretHash;

    fn args(name: &str, uris: &[&str]) -> CreateArgs {
        CreateArgs {
            name: name.into(),
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            logo: None,
            public: false,
            trusted: false,
            pkce_optional: false,
            no_refresh_rotation: false,
            resource_server: false,
            scopes: Vec::new(),
            grant_types: Vec::new(),
            token_rate: None,
            jwks_file: None,
        }
    }

    /// Issue 17: `--grant-type client_credentials` alone is a machine client: confidential,
    /// no redirect URIs (none allowed), none of the user-authorization flags; a public client
    /// cannot have it; other clients still need a redirect URI.
    #[test]
    fn a_client_credentials_client_is_confidential_and_has_no_redirect_uris() {
        let machine = |uris: &[&str]| {
            let mut a = args("Billing job", uris);
            a.grant_types = vec![GrantType::ClientCredentials];
            a
        };
        let reg = check(machine(&[]), &catalog()).unwrap();
        assert!(reg.redirect_uris.is_empty());
        assert_eq!(reg.grant_types, vec![GrantType::ClientCredentials]);
        assert!(
            invalid(check(machine(&["https://a.example/cb"]), &catalog()))
                .contains("no redirect URIs")
        );
        let mut a = machine(&[]);
        a.public = true;
        assert!(invalid(check(a, &catalog())).contains("confidential clients only"));
        let mut a = machine(&[]);
        a.trusted = true;
        assert!(invalid(check(a, &catalog())).contains("user authorizations"));
        assert!(invalid(check(args("Web", &[]), &catalog())).contains("--redirect-uri is required"));
        let mut a = args("Both", &["https://a.example/cb"]);
        a.grant_types = vec![GrantType::AuthorizationCode, GrantType::ClientCredentials];
        a.token_rate = Some(60);
        let reg = check(a, &catalog()).unwrap();
        assert_eq!(reg.token_rate, Some(60));
        // A code exchange always issues a refresh token: the registration says so.
        assert_eq!(
            reg.grant_types,
            [
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials
            ]
        );
        let mut a = args("Odd", &["https://a.example/cb"]);
        a.grant_types = vec![GrantType::RefreshToken];
        assert!(invalid(check(a, &catalog())).contains("needs authorization_code"));
        assert_eq!(
            grant_type("client_credentials"),
            Ok(GrantType::ClientCredentials)
        );
        assert!(grant_type("password").is_err());
        assert_eq!(token_rate("none"), Ok(None));
        assert_eq!(token_rate("600"), Ok(Some(600)));
        assert!(token_rate("0").is_err());
    }

    /// RFC 9700 §2.1.1: PKCE is required unless a confidential client is registered with
    /// `--pkce-optional`; a public client cannot be.
    #[test]
    fn pkce_is_required_by_default_and_optional_only_for_confidential_clients() {
        let a = args("Zap App", &["https://a.example/cb"]);
        assert!(!check(a, &catalog()).unwrap().pkce_optional);
        let mut a = args("Zap App", &["https://a.example/cb"]);
        a.pkce_optional = true;
        assert!(check(a, &catalog()).unwrap().pkce_optional);
        let mut a = args("Zap App", &["https://a.example/cb"]);
        a.pkce_optional = true;
        a.public = true;
        assert!(invalid(check(a, &catalog())).contains("--pkce-optional is for confidential"));
    }

    /// RFC 7662 §2.1: introspection needs an authenticated caller, so only a confidential client
    /// can be a resource server.
    #[test]
    fn resource_server_is_for_confidential_clients_and_is_stored() {
        let mut a = ok("a");
        a.public = true;
        a.resource_server = true;
        assert!(invalid(check(a, &catalog())).contains("--resource-server"));
        let mut a = ok("a");
        a.resource_server = true;
        let reg = check(a, &catalog()).unwrap();
        assert!(reg.resource_server);
        let (client, _) = new_client(reg, &portcullis_core::clock::OsEntropy, 0);
        assert!(client.resource_server);
    }

    /// RFC 9700 §4.14.2: public clients always rotate; the legacy flag is refused for them.
    #[test]
    fn no_refresh_rotation_is_refused_for_public_clients() {
        let mut a = ok("a");
        a.public = true;
        a.no_refresh_rotation = true;
        assert!(invalid(check(a, &catalog())).contains("--no-refresh-rotation"));
        let mut a = ok("a");
        a.no_refresh_rotation = true;
        assert!(!check(a, &catalog()).unwrap().refresh_rotation);
    }

    fn ok(name: &str) -> CreateArgs {
        args(name, &["https://app.example/cb"])
    }

    fn invalid(r: Result<Registration, CliError>) -> String {
        match r {
            Err(CliError::Invalid(m)) => m,
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    fn catalog() -> ScopeCatalog {
        ScopeCatalog::default()
    }

    #[test]
    fn the_name_is_trimmed_and_must_be_1_to_100_characters() {
        for bad in ["", "   ", &"x".repeat(101), &"é".repeat(101)] {
            let m = invalid(check(ok(bad), &catalog()));
            assert_eq!(m, "--name must be 1 to 100 characters", "{bad:?}");
        }
        // Characters, not bytes: 100 two-byte characters are fine.
        for good in ["a", &"x".repeat(100), &"é".repeat(100)] {
            assert_eq!(check(ok(good), &catalog()).unwrap().name, *good);
        }
        assert_eq!(check(ok("  Zap  "), &catalog()).unwrap().name, "Zap");
    }

    #[test]
    fn every_redirect_uri_is_validated() {
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "/relative",
            "javascript:alert(1)",
        ] {
            let m = invalid(check(
                args("a", &["https://app.example/cb", bad]),
                &catalog(),
            ));
            assert!(m.starts_with("--redirect-uri `"), "{m}");
            assert!(m.contains(bad), "{m}");
        }
        let r = check(
            args(
                "a",
                &[
                    "https://app.example/cb",
                    "http://127.0.0.1:8080/cb",
                    "http://localhost/cb",
                    "com.example.app:/cb",
                ],
            ),
            &catalog(),
        )
        .unwrap();
        assert_eq!(r.redirect_uris.len(), 4);
        assert_eq!(r.redirect_uris[3].as_str(), "com.example.app:/cb");
    }

    #[test]
    fn the_logo_must_be_an_https_url() {
        for bad in [
            "http://app.example/logo.png",
            "https://",
            "logo.png",
            "ftp://x.y/l",
        ] {
            let mut a = ok("a");
            a.logo = Some(bad.into());
            let m = invalid(check(a, &catalog()));
            assert_eq!(m, format!("--logo `{bad}` must be an https URL"));
        }
        let mut a = ok("a");
        a.logo = Some("https://app.example/logo.png".into());
        assert_eq!(
            check(a, &catalog()).unwrap().logo_uri.as_deref(),
            Some("https://app.example/logo.png")
        );
    }

    #[test]
    fn unknown_scopes_are_refused_naming_the_configured_ones() {
        let mut a = ok("a");
        a.scopes = vec!["READ_PROFILE".into(), "WRITE_EVERYTHING".into()];
        let m = invalid(check(a, &catalog()));
        assert_eq!(
            m,
            "--scopes: unknown scope `WRITE_EVERYTHING` (configured: READ_BOOKING, READ_PROFILE)"
        );
        let custom = ScopeCatalog::new(vec![ScopeDef {
            name: "WRITE".into(),
            description: "Change things".into(),
        }])
        .unwrap();
        let mut a = ok("a");
        a.scopes = vec!["READ_PROFILE".into()];
        assert!(invalid(check(a, &custom)).contains("(configured: WRITE)"));
    }

    #[test]
    fn scopes_default_to_all_and_are_deduplicated_in_order() {
        assert_eq!(
            check(ok("a"), &catalog()).unwrap().scopes,
            ["READ_BOOKING", "READ_PROFILE"]
        );
        let mut a = ok("a");
        a.scopes = vec![
            " READ_PROFILE".into(),
            "".into(),
            "READ_BOOKING".into(),
            "READ_PROFILE ".into(),
        ];
        assert_eq!(
            check(a, &catalog()).unwrap().scopes,
            ["READ_PROFILE", "READ_BOOKING"]
        );
    }

    #[test]
    fn a_confidential_client_stores_only_the_hash_of_its_secret() {
        let (client, secret) = new_client(check(ok("a"), &catalog()).unwrap(), &OsEntropy, 7);
        let secret = secret.expect("a confidential client has a secret");
        assert!(secret.secret().starts_with(ClientSecret::PREFIX));
        assert_eq!(client.secret_hashes.len(), 1);
        assert!(client.secret_hashes[0].ct_eq(&SecretHash::of(secret.secret())));
        assert_ne!(client.secret_hashes[0].as_str(), secret.secret());
        assert_eq!(client.client_id.len(), 32);
        assert!(client.client_id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(client.created_at, 7);
        assert!(!client.disabled && !client.public);

        let mut a = ok("a");
        a.public = true;
        let (client, secret) = new_client(check(a, &catalog()).unwrap(), &OsEntropy, 7);
        assert!(secret.is_none() && client.secret_hashes.is_empty());
        assert!(client.public && !client.trusted && client.secret_retiring.is_none());
    }

    /// RFC 8252 §8.6: a public client can be impersonated, so it always gets the consent page.
    #[test]
    fn a_public_client_cannot_be_trusted() {
        let mut a = ok("a");
        a.public = true;
        a.trusted = true;
        assert!(invalid(check(a, &catalog())).contains("--trusted is for confidential clients"));
        let mut a = ok("a");
        a.trusted = true;
        assert!(check(a, &catalog()).unwrap().trusted);
    }

    #[test]
    fn create_checks_the_redirect_uri_count_and_kinds() {
        let many: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(invalid(check(args("a", &many), &catalog())).contains("1 to 10"));
        for bad in [
            "https://u@a.example/cb",
            "https://a.example/cb?code=1",
            "myapp:/cb",
        ] {
            assert!(invalid(check(args("a", &[bad]), &catalog())).contains(bad));
        }
    }

    fn confidential(hashes: &[&str], retiring: Option<(&str, u64)>) -> Client {
        let (mut c, _) = new_client(check(ok("a"), &catalog()).unwrap(), &OsEntropy, 1);
        c.secret_hashes = hashes.iter().map(|h| SecretHash::of(h)).collect();
        c.secret_retiring = retiring.map(|(h, until)| RetiringSecret {
            hash: SecretHash::of(h),
            until,
        });
        c
    }

    /// Rotation keeps the current secret for the overlap, the new one first; at most two live.
    #[test]
    fn rotation_puts_the_new_secret_first_and_keeps_the_old_one_for_the_overlap() {
        let c = confidential(&["s1"], None);
        let new = ClientSecret::new("pc_cs_new");
        let plan = plan_rotation(&c, &new, 3600, 1000).unwrap();
        assert_eq!(plan.expected, c.secret_hashes);
        assert_eq!(plan.secret_hashes, [new.hash(), SecretHash::of("s1")]);
        assert_eq!(
            plan.retiring,
            Some(RetiringSecret {
                hash: SecretHash::of("s1"),
                until: 4600
            })
        );
    }

    /// `--keep-old-for 0` (a leaked secret): the old one stops at once.
    #[test]
    fn rotation_with_no_overlap_drops_the_old_secret() {
        let c = confidential(&["s1"], None);
        let new = ClientSecret::new("pc_cs_new");
        let plan = plan_rotation(&c, &new, 0, 1000).unwrap();
        assert_eq!(plan.secret_hashes, [new.hash()]);
        assert_eq!(plan.retiring, None);
    }

    /// A rotation during an overlap drops the older retiring secret: at most two are live.
    #[test]
    fn rotating_again_during_an_overlap_drops_the_oldest_secret() {
        let c = confidential(&["s2", "s1"], Some(("s1", 5000)));
        let new = ClientSecret::new("pc_cs_s3");
        let plan = plan_rotation(&c, &new, 60, 1000).unwrap();
        assert_eq!(plan.secret_hashes, [new.hash(), SecretHash::of("s2")]);
        assert_eq!(plan.retiring.unwrap().hash, SecretHash::of("s2"));
        assert_eq!(plan.expected, [SecretHash::of("s2"), SecretHash::of("s1")]);
    }

    #[test]
    fn a_public_client_has_no_secret_to_rotate() {
        let mut a = ok("a");
        a.public = true;
        let (c, _) = new_client(check(a, &catalog()).unwrap(), &OsEntropy, 1);
        let e = plan_rotation(&c, &ClientSecret::new("pc_cs_x"), 60, 1).unwrap_err();
        assert!(e.to_string().contains("public"), "{e}");
    }

    #[test]
    fn show_counts_live_secrets_and_the_overlap_end_never_hashes() {
        let c = confidential(&["s2", "s1"], Some(("s1", 5000)));
        assert_eq!(
            SecretStatus::of(&c, 4999),
            SecretStatus {
                live: 2,
                retiring_until: Some(5000)
            }
        );
        // Past the overlap the old hash is still listed but dead.
        assert_eq!(
            SecretStatus::of(&c, 5000),
            SecretStatus {
                live: 1,
                retiring_until: None
            }
        );
        let hash = SecretHash::of("s2").as_str().to_string();
        let view = ClientView::of(c, 10);
        for json in [true, false] {
            let out = render(&view, json).unwrap();
            assert!(!out.contains(&hash), "{out}");
        }
        let text = render(&view, false).unwrap();
        assert!(
            text.contains("secrets:          2 (the old one works until 1970-01-01T01:23:20Z)"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&render(&view, true).unwrap()).unwrap();
        assert_eq!(
            v["secrets"],
            serde_json::json!({"live": 2, "retiring_until": 5000})
        );
        assert!(v.get("secret_hashes").is_none());
    }

    fn update_args() -> UpdateArgs {
        UpdateArgs {
            client_id: "c1".into(),
            name: None,
            logo: None,
            no_logo: false,
            redirect_uris: Vec::new(),
            scopes: Vec::new(),
            trusted: None,
            pkce_optional: None,
            refresh_rotation: None,
            token_rate: None,
            jwks_file: None,
            keep_old_keys_for: 86_400,
            no_secret: false,
        }
    }

    #[test]
    fn update_checks_its_flags_like_create() {
        let mut a = update_args();
        assert!(check_update(&a, &catalog()).is_err());
        a.redirect_uris = vec!["http://app.example/cb".into()];
        assert!(check_update(&a, &catalog())
            .unwrap_err()
            .to_string()
            .contains("not loopback"));
        a.redirect_uris = vec!["https://app.example/cb".into()];
        a.no_logo = true;
        a.trusted = Some(false);
        let c = check_update(&a, &catalog()).unwrap();
        assert_eq!(
            c.redirect_uris.unwrap()[0].as_str(),
            "https://app.example/cb"
        );
        assert_eq!(c.logo_uri, Some(None));
        assert_eq!((c.trusted, c.name, c.scopes), (Some(false), None, None));
        let mut a = update_args();
        a.scopes = vec!["NOPE".into()];
        assert!(check_update(&a, &catalog()).is_err());
        let mut a = update_args();
        a.logo = Some("http://x.example/l.png".into());
        assert!(check_update(&a, &catalog()).is_err());
    }

    fn created(secret: Option<&str>) -> ClientCreated {
        ClientCreated {
            client_id: ClientId::new("0123abcd"),
            client_secret: secret.map(ClientSecret::new),
            name: "Zap App".into(),
            redirect_uris: vec!["https://a.example/cb".into(), "http://127.0.0.1/cb".into()],
            scopes: vec!["READ_PROFILE".into()],
            public: secret.is_none(),
            trusted: false,
            pkce_optional: false,
            refresh_rotation: true,
            grant_types: portcullis_core::model::user_grant_types(),
            token_rate: None,
        }
    }

    #[test]
    fn the_json_keeps_its_keys_and_values() {
        let v: serde_json::Value =
            serde_json::from_str(&render(&created(Some("pc_cs_s3cret")), true).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "client_id": "0123abcd",
                "client_secret": "pc_cs_s3cret",
                "name": "Zap App",
                "redirect_uris": ["https://a.example/cb", "http://127.0.0.1/cb"],
                "scopes": ["READ_PROFILE"],
                "public": false,
                "trusted": false,
                "pkce_optional": false,
                "refresh_rotation": true,
                "grant_types": ["authorization_code", "refresh_token"],
                "token_rate": null,
            })
        );
        let v: serde_json::Value =
            serde_json::from_str(&render(&created(None), true).unwrap()).unwrap();
        assert_eq!(v["client_secret"], serde_json::Value::Null);
        assert_eq!(v["public"], true);
        assert_eq!(v.as_object().unwrap().len(), 11);
    }

    #[test]
    fn the_text_shows_the_secret_once_with_the_warning() {
        assert_eq!(
            render(&created(Some("pc_cs_s3cret")), false).unwrap(),
            "client_id:     0123abcd\n\
             client_secret: pc_cs_s3cret\n\
             redirect_uris: https://a.example/cb http://127.0.0.1/cb\n\
             scopes:        READ_PROFILE\n\
             The secret is shown only now: it is stored as a hash and cannot be shown again."
        );
        assert_eq!(
            render(&created(None), false).unwrap(),
            "client_id:     0123abcd\n\
             client_secret: (none: public client, use PKCE)\n\
             redirect_uris: https://a.example/cb http://127.0.0.1/cb\n\
             scopes:        READ_PROFILE"
        );
    }

    /// The result's `Debug` (should it ever be logged) does not show the secret.
    #[test]
    fn the_debug_form_hides_the_secret() {
        let d = format!("{:?}", created(Some("pc_cs_s3cret")));
        assert!(!d.contains("s3cret"), "{d}");
    }

    /// Issue 18: a registered or metadata-document client can never be made trusted; an
    /// operator's can.
    #[test]
    fn trusted_is_refused_for_clients_nobody_vetted() {
        let trust = ClientChanges {
            trusted: Some(true),
            ..ClientChanges::default()
        };
        let mut c = confidential(&["h"], None);
        assert!(refuse_trust_for_unvetted(&c, &trust).is_ok());
        for origin in [ClientOrigin::Registration, ClientOrigin::MetadataDocument] {
            c.origin = origin;
            let e = refuse_trust_for_unvetted(&c, &trust)
                .unwrap_err()
                .to_string();
            assert!(e.contains("can never be trusted"), "{e}");
            assert!(refuse_trust_for_unvetted(&c, &ClientChanges::default()).is_ok());
        }
    }

    /// `client show|disable|delete` name a metadata-document client by its URL too.
    #[test]
    fn a_metadata_document_client_is_named_by_its_url_or_its_stored_id() {
        let url = "https://agent.example/client.json";
        let stored = portcullis_core::metadata_document::wire_client_id(url);
        assert!(stored.starts_with("cimd_"));
        assert_eq!(client_id(&format!(" {url} ")).unwrap(), stored);
        assert_eq!(client_id(stored.as_str()).unwrap(), stored);
        assert_eq!(client_id("0f3c9a2e").unwrap(), ClientId::from("0f3c9a2e"));
    }

    /// Operator ids never take a prefix reserved for registered clients; generated ones never
    /// do.
    #[test]
    fn operator_client_ids_never_start_with_dcr_or_cimd() {
        assert!(operator_client_id(&ClientId::from("dcr_abc")).is_err());
        assert!(operator_client_id(&ClientId::from("cimd_abc")).is_err());
        assert!(operator_client_id(&ClientId::from("0f3c9a2e")).is_ok());
        for _ in 0..32 {
            let (c, _) = new_client(check(ok("App"), &catalog()).unwrap(), &OsEntropy, 0);
            assert!(operator_client_id(&c.client_id).is_ok());
            assert_eq!(c.origin, ClientOrigin::Operator);
        }
    }
}
