//! `client ...`: registered apps.
use super::Context;
use crate::error::CliError;
use crate::output::{Fields, Render};
use portcullis_aws::DynamoClients;
use portcullis_core::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis_core::ids::{ClientId, RedirectUri};
use portcullis_core::model::Client;
use portcullis_core::ports::ClientRegistry;
use portcullis_core::redirect::validate_registration;
use portcullis_core::scope::ScopeCatalog;
use portcullis_core::secret::ClientSecret;
use serde::{Serialize, Serializer};

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Register an app; prints its client id and (once, never again) its secret.
    Create(CreateArgs),
    /// Disable an app: it can start no flow, and every token it holds is revoked.
    Disable(DisableArgs),
}

#[derive(Debug, clap::Args)]
pub struct DisableArgs {
    /// The client id.
    pub client_id: String,
}

/// What `client disable` did.
#[derive(Debug, Serialize)]
pub struct ClientDisabled {
    pub client_id: ClientId,
    pub grants_revoked: usize,
    pub items_deleted: usize,
}

impl Render for ClientDisabled {
    fn text(&self) -> String {
        format!(
            "disabled client {}; revoked {} grant(s) and {} item(s)",
            self.client_id, self.grants_revoked, self.items_deleted
        )
    }
}

/// `client disable`: an UpdateItem on the client, then (twice) a Query of `by_client` and the
/// revocation of each grant (`portcullis_core::admin::disable_client`).
pub async fn disable(ctx: &Context, args: DisableArgs) -> Result<ClientDisabled, CliError> {
    let client_id = ClientId::from(args.client_id.trim());
    let db = aws_sdk_dynamodb::Client::new(&ctx.sdk);
    let clients = DynamoClients::new(db.clone(), &ctx.config.tables.clients);
    let tokens = portcullis_aws::DynamoTokens::new(db, &ctx.config.tables.tokens);
    let done = portcullis_core::admin::disable_client(&clients, &tokens, &client_id)
        .await
        .map_err(|e| CliError::aws("disabling the client", e))?
        .ok_or_else(|| CliError::Invalid(format!("no client has the id {client_id}")))?;
    Ok(ClientDisabled {
        client_id,
        grants_revoked: done.grants_revoked,
        items_deleted: done.items_deleted,
    })
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The app's name, shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeat for more). Matched exactly.
    #[arg(long = "redirect-uri", required = true)]
    pub redirect_uris: Vec<String>,
    /// An https URL of the app's logo, shown on the consent page.
    #[arg(long)]
    pub logo: Option<String>,
    /// A public client (no secret; must use PKCE): SPAs, mobile and CLI apps.
    #[arg(long)]
    pub public: bool,
    /// A first-party app that skips the consent page.
    #[arg(long)]
    pub trusted: bool,
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
    /// `false` for a legacy client (`--no-refresh-rotation`).
    pub refresh_rotation: bool,
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
            None => "(none: public client, use PKCE)",
        };
        let uris: Vec<&str> = self.redirect_uris.iter().map(|u| u.as_str()).collect();
        let mut text = Fields::new()
            .field("client_id", self.client_id.as_str())
            .field("client_secret", secret)
            .field("redirect_uris", uris.join(" "))
            .field("scopes", self.scopes.join(" "))
            .render();
        if self.client_secret.is_some() {
            text.push_str(
                "\nThe secret is shown only now: it is stored as a hash and cannot be shown again.",
            );
        }
        text
    }
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
    pub refresh_rotation: bool,
    pub resource_server: bool,
}

/// The longest `--name`, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Checks `client create`'s flags against the configured scopes.
pub fn check(args: CreateArgs, catalog: &ScopeCatalog) -> Result<Registration, CliError> {
    if args.public && args.resource_server {
        return Err(CliError::Invalid(
            "--resource-server is for confidential clients only: introspection needs client authentication (RFC 7662 §2.1)".into(),
        ));
    }
    if args.public && args.no_refresh_rotation {
        return Err(CliError::Invalid(
            "--no-refresh-rotation is for confidential clients only: a public client's refresh tokens always rotate (RFC 9700 §4.14.2)".into(),
        ));
    }
    let name = args.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(CliError::Invalid(format!(
            "--name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    for uri in &args.redirect_uris {
        validate_registration(uri).map_err(|e| CliError::Invalid(format!("--redirect-uri {e}")))?;
    }
    if let Some(logo) = &args.logo {
        if !logo.starts_with("https://") || url::Url::parse(logo).is_err() {
            return Err(CliError::Invalid(format!(
                "--logo `{logo}` must be an https URL"
            )));
        }
    }
    let scopes: Vec<String> = if args.scopes.is_empty() {
        catalog.names().map(str::to_string).collect()
    } else {
        let mut s: Vec<String> = Vec::new();
        for scope in args
            .scopes
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
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
        s
    };
    Ok(Registration {
        name,
        redirect_uris: args
            .redirect_uris
            .iter()
            .map(|u| RedirectUri::from(u.as_str()))
            .collect(),
        logo_uri: args.logo,
        scopes,
        public: args.public,
        trusted: args.trusted,
        refresh_rotation: !args.no_refresh_rotation,
        resource_server: args.resource_server,
    })
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
    let secret = (!reg.public).then(|| ClientSecret::generate(entropy));
    let client = Client {
        client_id,
        name: reg.name,
        logo_uri: reg.logo_uri,
        redirect_uris: reg.redirect_uris,
        scopes: reg.scopes,
        public: reg.public,
        trusted: reg.trusted,
        disabled: false,
        secret_hashes: secret.iter().map(ClientSecret::hash).collect(),
        refresh_rotation: reg.refresh_rotation,
        resource_server: reg.resource_server,
        created_at: now,
    };
    (client, secret)
}

/// `client create`.
pub async fn create(ctx: &Context, args: CreateArgs) -> Result<ClientCreated, CliError> {
    let reg = check(args, &ctx.config.scopes)?;
    let (client, secret) = new_client(reg, &OsEntropy, SystemClock.now());
    let store = DynamoClients::new(
        aws_sdk_dynamodb::Client::new(&ctx.sdk),
        &ctx.config.tables.clients,
    );
    store
        .create_client(&client)
        .await
        .map_err(|e| CliError::aws("registering the client", e))?;
    Ok(ClientCreated {
        client_id: client.client_id,
        client_secret: secret,
        name: client.name,
        redirect_uris: client.redirect_uris,
        scopes: client.scopes,
        public: client.public,
        trusted: client.trusted,
        refresh_rotation: client.refresh_rotation,
    })
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
            no_refresh_rotation: false,
            resource_server: false,
            scopes: Vec::new(),
        }
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
        a.trusted = true;
        let (client, secret) = new_client(check(a, &catalog()).unwrap(), &OsEntropy, 7);
        assert!(secret.is_none() && client.secret_hashes.is_empty());
        assert!(client.public && client.trusted);
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
            refresh_rotation: true,
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
                "refresh_rotation": true,
            })
        );
        let v: serde_json::Value =
            serde_json::from_str(&render(&created(None), true).unwrap()).unwrap();
        assert_eq!(v["client_secret"], serde_json::Value::Null);
        assert_eq!(v["public"], true);
        assert_eq!(v.as_object().unwrap().len(), 8);
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
}
