//! The commands, one module per command group. Each module declares its flags (clap `Args` or
//! `Subcommand`) and one function per command returning `Result<T, CliError>`, where `T`
//! renders as JSON or text ([`crate::output::Render`]). `main` parses, dispatches and prints.
//!
//! A new command: its flags and function in its group's module (a new module for a new group),
//! a variant in `main`'s `Command`, and one dispatch line in `main::run`.
use crate::error::CliError;
use crate::target::{
    outputs_to_vars, require_credentials, require_region, stack_outputs, storage_error, Target,
};
use portcullis_core::scope::ScopeCatalog;
use portcullis_core::settings::{self, env as vars, ConfigError, Reader, TableNames};

pub mod apikey;
pub mod client;
pub mod env;
pub mod grants;
pub mod init;
pub mod registration_token;
pub mod resource;
pub mod session;

/// What the commands read from the environment: the same variables as the functions.
#[derive(Debug)]
pub struct CliConfig {
    pub tables: TableNames,
    /// `PORTCULLIS_SECRET_ID`: the keys (session and CSRF).
    pub secret_id: Option<String>,
    /// `PORTCULLIS_MINT_SECRET_ID`, `PORTCULLIS_TAG_SECRET_ID`, `PORTCULLIS_ACCESS_TAG_SECRET_ID`:
    /// the token keys' key rings (`init` creates them).
    pub mint_secret_id: Option<String>,
    pub tag_secret_id: Option<String>,
    pub access_tag_secret_id: Option<String>,
    pub session_cookie: String,
    pub scopes: ScopeCatalog,
}

impl CliConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(settings::process_env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let tables = TableNames::from_lookup(&get)?;
        let r = Reader::new(&get);
        Ok(Self {
            tables,
            secret_id: r.optional(vars::SECRET_ID),
            mint_secret_id: r.optional(vars::MINT_SECRET_ID),
            tag_secret_id: r.optional(vars::TAG_SECRET_ID),
            access_tag_secret_id: r.optional(vars::ACCESS_TAG_SECRET_ID),
            session_cookie: settings::session_cookie(&r),
            scopes: r.scopes()?,
        })
    }

    /// `PORTCULLIS_SECRET_ID`, which `init` and `session` need.
    pub fn secret_id(&self) -> Result<&str, CliError> {
        required(&self.secret_id, vars::SECRET_ID)
    }

    /// `PORTCULLIS_MINT_SECRET_ID`, which `init` needs.
    pub fn mint_secret_id(&self) -> Result<&str, CliError> {
        required(&self.mint_secret_id, vars::MINT_SECRET_ID)
    }

    /// `PORTCULLIS_TAG_SECRET_ID`, which `init` needs.
    pub fn tag_secret_id(&self) -> Result<&str, CliError> {
        required(&self.tag_secret_id, vars::TAG_SECRET_ID)
    }

    /// `PORTCULLIS_ACCESS_TAG_SECRET_ID`, which `init` needs.
    pub fn access_tag_secret_id(&self) -> Result<&str, CliError> {
        required(&self.access_tag_secret_id, vars::ACCESS_TAG_SECRET_ID)
    }
}

/// A variable a command needs, or a configuration error naming it.
fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, CliError> {
    value
        .as_deref()
        .ok_or_else(|| ConfigError(format!("{name} is not set")).into())
}

/// What the commands that call AWS need: the target, its configuration and the SDK's.
pub struct Context {
    pub target: Target,
    pub config: CliConfig,
    pub sdk: aws_config::SdkConfig,
    pub region: Option<String>,
}

impl Context {
    /// Reads the configuration and loads the SDK's. The local stack and the environment are
    /// read first (failing before any AWS set-up); a deployed stage's region and credentials are
    /// checked before the first call; `--stack` reads the stack's outputs (DescribeStacks), which
    /// win over the environment.
    pub async fn load(target: &Target) -> Result<Self, CliError> {
        let config = match target {
            Target::Stack(_) => None,
            _ => Some(CliConfig::from_env()?),
        };
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let region = if target.is_local() {
            sdk.region().map(|r| r.to_string())
        } else {
            let region = require_region(&sdk)?;
            require_credentials(&sdk).await?;
            Some(region)
        };
        let config = match (config, target) {
            (Some(c), _) => c,
            (None, Target::Stack(name)) => {
                let region = region.as_deref().unwrap_or_default();
                let vars = outputs_to_vars(name, &stack_outputs(&sdk, name, region).await?)?;
                CliConfig::from_lookup(|k| {
                    vars.iter()
                        .find(|(n, _)| *n == k)
                        .map(|(_, v)| v.clone())
                        .or_else(|| settings::process_env(k))
                })?
            }
            (None, _) => CliConfig::from_env()?,
        };
        Ok(Self {
            target: target.clone(),
            config,
            sdk,
            region,
        })
    }

    /// A storage failure while doing `what` on `table` (see [`crate::target::storage_error`]).
    pub fn storage(
        &self,
        what: &str,
        table: &str,
        e: portcullis_core::error::StoreError,
    ) -> CliError {
        storage_error(what, table, &self.target, self.region.as_deref(), e)
    }

    pub fn db(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A lookup over the given variables only.
    pub(crate) fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const TABLES: [(&str, &str); 3] = [
        (vars::CLIENTS_TABLE, "c"),
        (vars::CODES_TABLE, "k"),
        (vars::TOKENS_TABLE, "t"),
    ];

    #[test]
    fn the_config_needs_the_three_tables_and_defaults_the_rest() {
        let e = CliConfig::from_lookup(lookup(&[])).unwrap_err().to_string();
        assert!(
            e.contains(vars::CLIENTS_TABLE) && e.contains(vars::TOKENS_TABLE),
            "{e}"
        );
        let c = CliConfig::from_lookup(lookup(&TABLES)).unwrap();
        assert_eq!(c.tables.clients, "c");
        assert_eq!(c.session_cookie, "session");
        assert!(c.scopes.contains("READ_PROFILE"));
        assert!(c.secret_id.is_none());
        assert!(c.mint_secret_id.is_none() && c.tag_secret_id.is_none());
        assert!(c.access_tag_secret_id.is_none());
    }

    #[test]
    fn the_token_key_secret_ids_are_read_and_a_missing_one_is_named() {
        let c = CliConfig::from_lookup(lookup(&TABLES)).unwrap();
        for (e, name) in [
            (c.mint_secret_id().unwrap_err(), vars::MINT_SECRET_ID),
            (c.tag_secret_id().unwrap_err(), vars::TAG_SECRET_ID),
            (
                c.access_tag_secret_id().unwrap_err(),
                vars::ACCESS_TAG_SECRET_ID,
            ),
        ] {
            assert!(matches!(e, CliError::Config(_)));
            assert!(e.to_string().contains(name), "{e}");
        }
        let mut vars = TABLES.to_vec();
        vars.extend([
            (vars::MINT_SECRET_ID, "m"),
            (vars::TAG_SECRET_ID, "t"),
            (vars::ACCESS_TAG_SECRET_ID, "a"),
        ]);
        let c = CliConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(
            (
                c.mint_secret_id().unwrap(),
                c.tag_secret_id().unwrap(),
                c.access_tag_secret_id().unwrap()
            ),
            ("m", "t", "a")
        );
    }

    #[test]
    fn a_missing_secret_id_is_a_config_error_naming_the_variable() {
        let c = CliConfig::from_lookup(lookup(&TABLES)).unwrap();
        let e = c.secret_id().unwrap_err();
        assert!(matches!(e, CliError::Config(_)));
        assert!(
            e.report()
                .starts_with("error: configuration error: PORTCULLIS_SECRET_ID is not set\n(hint:"),
            "{}",
            e.report()
        );
        let mut vars = TABLES.to_vec();
        vars.push((vars::SECRET_ID, " keys "));
        let c = CliConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(c.secret_id().unwrap(), "keys");
    }
}
