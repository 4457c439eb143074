//! `apikey ...`: API keys for the product's own APIs (`portcullis_core::api_keys`). A key is
//! printed once, at creation; only its hash is stored. `list` and `revoke` use the key's id.
use super::Context;
use crate::error::CliError;
use crate::output::{Fields, Render, Table};
use portcullis_aws::DynamoTokens;
use portcullis_core::api_keys::{is_key_id, new_api_key, ApiKeyRecord, ApiKeyRequest};
use portcullis_core::clock::{Clock, OsEntropy, SystemClock};
use portcullis_core::ids::{GrantId, Subject};
use portcullis_core::ports::ApiKeyRegistry;
use portcullis_core::scope::ScopeCatalog;
use portcullis_core::secret::ApiKey;
use serde::{Serialize, Serializer};

#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Issue an API key to a user; prints the key once (never again).
    #[command(
        after_help = "Example:\n  portcullis apikey create --sub 'user|42' --scopes READ_BOOKING --name zapier --expires-in 7776000"
    )]
    Create(CreateArgs),
    /// A user's API keys: ids, names, scopes and dates (never the keys).
    #[command(after_help = "Example:\n  portcullis apikey list --sub 'user|42' --json")]
    List(ListArgs),
    /// Revoke an API key by its id (as `apikey list` shows it).
    #[command(after_help = "Example:\n  portcullis apikey revoke ak_Xw3…")]
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The user the key acts for (the host application's user id, as in the session's `sub`).
    #[arg(long)]
    pub sub: String,
    /// The scopes it carries, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub scopes: Vec<String>,
    /// A label for people (`apikey list` shows it).
    #[arg(long)]
    pub name: Option<String>,
    /// Seconds until the key expires (default: never; revoke it instead).
    #[arg(long = "expires-in")]
    pub expires_in: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The user (the host application's user id, as in the session's `sub`).
    #[arg(long)]
    pub sub: String,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The key's id (`ak_…`), not the key.
    pub id: String,
}

/// A key as `list` shows it: never the key or its hash.
#[derive(Debug, Serialize)]
pub struct ApiKeyInfo {
    pub id: GrantId,
    pub sub: Subject,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: u64,
    pub expires_at: Option<u64>,
}

impl From<ApiKeyRecord> for ApiKeyInfo {
    fn from(r: ApiKeyRecord) -> Self {
        Self {
            id: r.grant_id,
            sub: r.user_sub,
            name: r.name,
            scopes: r.scopes,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

/// A new key, with the key itself (shown this once).
#[derive(Debug, Serialize)]
pub struct ApiKeyCreated {
    #[serde(serialize_with = "reveal")]
    pub api_key: ApiKey,
    #[serde(flatten)]
    pub info: ApiKeyInfo,
}

/// The key itself: this output is the one place it is handed to its owner.
fn reveal<S: Serializer>(key: &ApiKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(key.secret())
}

fn expiry(at: Option<u64>) -> String {
    at.map_or_else(|| "never".into(), |t| t.to_string())
}

impl Render for ApiKeyCreated {
    fn text(&self) -> String {
        let mut text = Fields::new()
            .field("api_key", self.api_key.secret())
            .field("id", self.info.id.as_str())
            .field("sub", self.info.sub.as_str())
            .field("scopes", self.info.scopes.join(" "))
            .field("expires_at", expiry(self.info.expires_at))
            .render();
        text.push_str(
            "\nThe key is shown only now: it is stored as a hash and cannot be shown again.",
        );
        text
    }
}

/// `apikey list`: `{"api_keys": [...]}`.
#[derive(Debug, Serialize)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyInfo>,
}

impl Render for ApiKeyList {
    fn text(&self) -> String {
        if self.api_keys.is_empty() {
            return "no API keys".into();
        }
        self.api_keys
            .iter()
            .fold(
                Table::new(&["ID", "NAME", "SCOPES", "CREATED", "EXPIRES"]),
                |t, k| {
                    t.row([
                        k.id.to_string(),
                        k.name.clone().unwrap_or_default(),
                        k.scopes.join(","),
                        k.created_at.to_string(),
                        expiry(k.expires_at),
                    ])
                },
            )
            .render()
    }
}

/// `apikey revoke`: `{"revoked": "ak_…"}`.
#[derive(Debug, Serialize)]
pub struct ApiKeyRevoked {
    pub revoked: GrantId,
}

impl Render for ApiKeyRevoked {
    fn text(&self) -> String {
        format!("revoked API key {}", self.revoked)
    }
}

/// Checks `apikey create`'s flags and draws the key.
pub fn check(
    args: CreateArgs,
    catalog: &ScopeCatalog,
    now: u64,
) -> Result<(ApiKey, ApiKeyRecord), CliError> {
    let k = new_api_key(
        ApiKeyRequest {
            sub: args.sub,
            scopes: args.scopes,
            name: args.name,
            expires_in: args.expires_in,
        },
        catalog,
        &OsEntropy,
        now,
    )
    .map_err(|e| CliError::Invalid(e.to_string()))?;
    Ok((k.key, k.record))
}

fn tokens(ctx: &Context) -> DynamoTokens {
    DynamoTokens::new(ctx.db(), &ctx.config.tables.tokens)
}

/// `apikey create`: one PutItem.
pub async fn create(ctx: &Context, args: CreateArgs) -> Result<ApiKeyCreated, CliError> {
    let (api_key, record) = check(args, &ctx.config.scopes, SystemClock.now())?;
    tokens(ctx)
        .create_api_key(&record)
        .await
        .map_err(|e| ctx.storage("storing the API key", &ctx.config.tables.tokens, e))?;
    Ok(ApiKeyCreated {
        api_key,
        info: record.into(),
    })
}

/// `apikey list`: a Query of `by_user` and a BatchGetItem.
pub async fn list(ctx: &Context, args: ListArgs) -> Result<ApiKeyList, CliError> {
    let keys = tokens(ctx)
        .api_keys_of(&Subject::from(args.sub.trim()))
        .await
        .map_err(|e| ctx.storage("listing the API keys", &ctx.config.tables.tokens, e))?;
    Ok(ApiKeyList {
        api_keys: keys.into_iter().map(ApiKeyInfo::from).collect(),
    })
}

/// `apikey revoke`: a Query of `by_key` and a DeleteItem.
pub async fn revoke(ctx: &Context, args: RevokeArgs) -> Result<ApiKeyRevoked, CliError> {
    let id = parse_id(&args.id)?;
    let found = tokens(ctx)
        .revoke_api_key(&id)
        .await
        .map_err(|e| ctx.storage("revoking the API key", &ctx.config.tables.tokens, e))?;
    if !found {
        return Err(CliError::NotFound(format!(
            "no API key has the id {id} (a key created within the last second may not be found yet: retry)"
        )));
    }
    Ok(ApiKeyRevoked { revoked: id })
}

/// A key id, never a key or an OAuth grant id.
pub fn parse_id(id: &str) -> Result<GrantId, CliError> {
    let id = id.trim();
    if id.starts_with(ApiKey::PREFIX) {
        return Err(CliError::Invalid(
            "that is an API key, not its id: give the id `apikey list` shows (ak_…)".into(),
        ));
    }
    if !is_key_id(id) {
        return Err(CliError::Invalid(format!(
            "`{}` is not an API key id (ak_…)",
            portcullis_core::error::echo(id)
        )));
    }
    Ok(GrantId::from(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::render;

    fn args(scopes: &[&str]) -> CreateArgs {
        CreateArgs {
            sub: "dev|alice".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            name: Some("zapier".into()),
            expires_in: Some(3600),
        }
    }

    #[test]
    fn create_prints_the_key_once_with_its_id_and_never_the_hash() {
        let (key, record) = check(args(&["READ_BOOKING"]), &ScopeCatalog::default(), 100).unwrap();
        let hash = record.pk.as_str().to_string();
        let out = ApiKeyCreated {
            api_key: key.clone(),
            info: record.into(),
        };
        let json: serde_json::Value = serde_json::from_str(&render(&out, true).unwrap()).unwrap();
        assert_eq!(json["api_key"], key.secret());
        assert!(json["id"].as_str().unwrap().starts_with("ak_"));
        assert_eq!(json["sub"], "dev|alice");
        assert_eq!(json["expires_at"], 3700);
        let text = render(&out, false).unwrap();
        assert!(text.contains(key.secret()) && !text.contains(&hash));
        assert!(!render(&out, true).unwrap().contains(&hash));
    }

    #[test]
    fn list_never_shows_keys_or_hashes() {
        let (key, record) = check(args(&["READ_BOOKING"]), &ScopeCatalog::default(), 100).unwrap();
        let hash = record.pk.as_str().to_string();
        let list = ApiKeyList {
            api_keys: vec![record.into()],
        };
        for json in [true, false] {
            let out = render(&list, json).unwrap();
            assert!(!out.contains(key.secret()) && !out.contains(&hash), "{out}");
            assert!(out.contains("zapier"));
        }
    }

    #[test]
    fn create_refuses_unknown_scopes() {
        let e = check(args(&["WRITE_EVERYTHING"]), &ScopeCatalog::default(), 1).unwrap_err();
        assert!(matches!(e, CliError::Invalid(_)));
        assert!(e.to_string().contains("WRITE_EVERYTHING"), "{e}");
    }

    #[test]
    fn revoke_takes_an_id_not_a_key_or_a_grant() {
        assert!(parse_id("ak_AAAAAAAAAAAAAAAA").is_ok());
        assert!(parse_id("pc_ak_AAAAAAAAAAAAAAAA").is_err());
        assert!(parse_id("g_AAAAAAAAAAAAAAAA").is_err());
    }
}
