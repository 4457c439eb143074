//! The CLI's commands.
use crate::template::{self, TableDef};
use crate::{CreateClientArgs, SessionArgs};
use aws_sdk_dynamodb::types::TimeToLiveSpecification;
use portcullis::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis::config::Config;
use portcullis::keys::{KeySource, SecretsManagerKeys};
use portcullis::model::{Client, UserInfo};
use portcullis::redirect::validate_registration;
use portcullis::secret::ClientSecret;
use portcullis::session::{sign_session, Session};
use portcullis::store::{ClientRegistry, DynamoStore};
use serde_json::json;
use std::path::Path;

pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints either the JSON value or the human lines.
    fn emit(&self, value: serde_json::Value, human: &[String]) {
        if self.json {
            println!("{value}");
        } else {
            for l in human {
                println!("{l}");
            }
        }
    }
}

fn table_name<'a>(config: &'a Config, def: &TableDef) -> Result<&'a str, String> {
    match def.logical_id.as_str() {
        "ClientsTable" => Ok(&config.tables.clients),
        "CodesTable" => Ok(&config.tables.codes),
        "TokensTable" => Ok(&config.tables.tokens),
        other => Err(format!(
            "the template defines table `{other}`, which this version does not know"
        )),
    }
}

fn aws_error(what: &str, e: impl std::error::Error + 'static) -> String {
    format!("{what}: {}", portcullis::error::error_chain(&e))
}

/// `init`: creates the tables and the secret as the template defines them. Idempotent: what
/// exists is left as it is.
pub async fn init(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    template: &Path,
    out: &Output,
) -> Result<(), String> {
    let t = template::load(template)?;
    let db = aws_sdk_dynamodb::Client::new(sdk);
    let mut report = Vec::new();
    for def in &t.tables {
        let name = table_name(config, def)?;
        let res = db
            .create_table()
            .table_name(name)
            .set_attribute_definitions(Some(def.attributes.clone()))
            .set_key_schema(Some(def.key_schema.clone()))
            .set_global_secondary_indexes((!def.indexes.is_empty()).then(|| def.indexes.clone()))
            .billing_mode(def.billing_mode.clone())
            .send()
            .await;
        let status = match res {
            Ok(_) => "created",
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                "exists"
            }
            Err(e) => return Err(aws_error(&format!("creating table {name}"), e)),
        };
        if let Some(attr) = &def.ttl_attribute {
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(attr)
                .enabled(true)
                .build()
                .map_err(|e| e.to_string())?;
            // Enabling TTL twice is refused; on an existing table that is expected.
            let ttl = db
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(spec)
                .send()
                .await;
            if let Err(e) = ttl {
                if status == "created" {
                    return Err(aws_error(&format!("enabling TTL on {name}"), e));
                }
            }
        }
        report.push(json!({"table": name, "status": status}));
    }
    if !t.secrets.is_empty() {
        let secret_id = config
            .secret_id
            .as_deref()
            .ok_or("PORTCULLIS_SECRET_ID is not set")?;
        let sm = aws_sdk_secretsmanager::Client::new(sdk);
        let value = json!({
            "session_key": random_key(),
            "csrf_key": random_key(),
        })
        .to_string();
        let res = sm
            .create_secret()
            .name(secret_id)
            .description("Portcullis keys (session_key, csrf_key)")
            .secret_string(value)
            .send()
            .await;
        let status = match res {
            Ok(_) => "created",
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                "exists"
            }
            Err(e) => return Err(aws_error(&format!("creating secret {secret_id}"), e)),
        };
        report.push(json!({"secret": secret_id, "status": status}));
    }
    let human: Vec<String> = report
        .iter()
        .map(|r| {
            let (kind, name) = match r.get("table") {
                Some(n) => ("table", n),
                None => ("secret", &r["secret"]),
            };
            format!(
                "{kind} {}: {}",
                name.as_str().unwrap_or(""),
                r["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.emit(json!({"resources": report}), &human);
    Ok(())
}

fn random_key() -> String {
    let mut bytes = [0u8; 48];
    OsEntropy.fill(&mut bytes);
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `client create`.
pub async fn create_client(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    args: CreateClientArgs,
    out: &Output,
) -> Result<(), String> {
    let name = args.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("--name must be 1 to 100 characters".into());
    }
    for uri in &args.redirect_uris {
        validate_registration(uri).map_err(|e| format!("--redirect-uri {e}"))?;
    }
    if let Some(logo) = &args.logo {
        if !logo.starts_with("https://") || url::Url::parse(logo).is_err() {
            return Err(format!("--logo `{logo}` must be an https URL"));
        }
    }
    let scopes: Vec<String> = if args.scopes.is_empty() {
        config.scopes.names().map(str::to_string).collect()
    } else {
        let mut s: Vec<String> = Vec::new();
        for scope in args
            .scopes
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            if !config.scopes.contains(scope) {
                let known: Vec<&str> = config.scopes.names().collect();
                return Err(format!(
                    "--scopes: unknown scope `{scope}` (configured: {})",
                    known.join(", ")
                ));
            }
            if !s.iter().any(|x| x == scope) {
                s.push(scope.to_string());
            }
        }
        s
    };
    let mut id_bytes = [0u8; 16];
    OsEntropy.fill(&mut id_bytes);
    let client_id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let secret = (!args.public).then(|| ClientSecret::generate(&OsEntropy));
    let client = Client {
        client_id: client_id.clone(),
        name,
        logo_uri: args.logo,
        redirect_uris: args.redirect_uris,
        scopes,
        public: args.public,
        trusted: args.trusted,
        disabled: false,
        secret_hashes: secret.iter().map(ClientSecret::hash).collect(),
        created_at: SystemClock.now(),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.tables.clone());
    store
        .create_client(&client)
        .await
        .map_err(|e| aws_error("registering the client", e))?;
    let secret_str = secret.as_ref().map(|s| s.secret().to_string());
    let mut human = vec![
        format!("client_id:     {client_id}"),
        match &secret_str {
            Some(s) => format!("client_secret: {s}"),
            None => "client_secret: (none: public client, use PKCE)".into(),
        },
        format!("redirect_uris: {}", client.redirect_uris.join(" ")),
        format!("scopes:        {}", client.scopes.join(" ")),
    ];
    if secret_str.is_some() {
        human.push(
            "The secret is shown only now: it is stored as a hash and cannot be shown again."
                .into(),
        );
    }
    out.emit(
        json!({
            "client_id": client_id,
            "client_secret": secret_str,
            "name": client.name,
            "redirect_uris": client.redirect_uris,
            "scopes": client.scopes,
            "public": client.public,
            "trusted": client.trusted,
        }),
        &human,
    );
    Ok(())
}

/// `session`: signs a session JWT with the deployment's `session_key`.
pub async fn session(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    args: SessionArgs,
    out: &Output,
) -> Result<(), String> {
    if args.sub.trim().is_empty() {
        return Err("--sub must not be empty".into());
    }
    let secret_id = config
        .secret_id
        .clone()
        .ok_or("PORTCULLIS_SECRET_ID is not set")?;
    let keys = SecretsManagerKeys {
        client: aws_sdk_secretsmanager::Client::new(sdk),
        secret_id,
    }
    .fetch()
    .await
    .map_err(|e| aws_error("reading the keys", e))?;
    let exp = SystemClock.now() + args.ttl;
    let token = sign_session(
        &Session {
            user: UserInfo {
                sub: args.sub,
                username: args.username,
                email: args.email,
                name: args.name,
            },
            exp,
        },
        &keys.session,
    );
    out.emit(
        json!({"session": token.secret(), "cookie": config.session_cookie, "expires_at": exp}),
        &[token.secret().to_string()],
    );
    Ok(())
}
