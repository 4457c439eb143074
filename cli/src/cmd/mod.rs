//! The commands, one module per command group. Each module declares its flags (clap `Args` or
//! `Subcommand`) and one function per command returning `Result<T, CliError>`, where `T`
//! renders as JSON or text ([`crate::output::Render`]). `main` parses, dispatches and prints.
//!
//! A new command: its flags and function in its group's module (a new module for a new group),
//! a variant in `main`'s `Command`, and one dispatch line in `main::run`.
use crate::error::CliError;
use portcullis_core::scope::ScopeCatalog;
use portcullis_core::settings::{self, env as vars, ConfigError, Reader, TableNames};

pub mod apikey;
pub mod client;
pub mod env;
pub mod init;
pub mod session;

/// What the commands read from the environment: the same variables as the functions.
#[derive(Debug)]
pub struct CliConfig {
    pub tables: TableNames,
    pub secret_id: Option<String>,
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
            session_cookie: settings::session_cookie(&r),
            scopes: r.scopes()?,
        })
    }

    /// `PORTCULLIS_SECRET_ID`, which `init` and `session` need.
    pub fn secret_id(&self) -> Result<&str, CliError> {
        self.secret_id
            .as_deref()
            .ok_or_else(|| ConfigError(format!("{} is not set", vars::SECRET_ID)).into())
    }
}

/// What the commands that call AWS need: the configuration and the SDK's.
pub struct Context {
    pub config: CliConfig,
    pub sdk: aws_config::SdkConfig,
}

impl Context {
    /// Reads the configuration (failing before any AWS set-up) and loads the SDK's.
    pub async fn load() -> Result<Self, CliError> {
        let config = CliConfig::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        Ok(Self { config, sdk })
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
