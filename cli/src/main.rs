//! `portcullis`: the operator CLI. Configured from the same environment as the functions;
//! `--local` fills in the local stack's defaults (`make dev`) for anything not set.
//!
//! This file parses, applies `--local`, dispatches and prints; the commands are in [`cmd`], their
//! output forms in [`output`], their errors in [`error`]. Exit code: 0, 1 on an error, 2 on a
//! usage error (clap).
use clap::{Parser, Subcommand};
use cmd::apikey::ApiKeyCommand;
use cmd::client::ClientCommand;
use cmd::Context;
use error::CliError;
use output::render;
use portcullis_core::settings::{self, env};
use std::io::Write;
use std::process::ExitCode;

mod cmd;
mod error;
mod output;
mod template;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Operate a Portcullis OAuth 2.0 server"
)]
struct Cli {
    /// Target the local stack (moto on 127.0.0.1): defaults for every setting not in the environment.
    #[arg(long, global = true)]
    local: bool,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the tables and the keys secret from infra/template.yaml (idempotent; local stack).
    Init(cmd::init::InitArgs),
    /// Manage registered clients (apps).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage API keys for the product's own APIs.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Mint a host-application session token, as the host would set it in its cookie (testing).
    Session(cmd::session::SessionArgs),
    /// Print the environment the CLI and the functions use, as shell assignments
    /// (`set -a; eval "$(portcullis --local env)"; set +a`) or, with --json, one object.
    Env,
}

/// The local stack's settings (`portcullis_core::settings::local_stack`), used with `--local`
/// for anything the environment does not set.
fn local_defaults() -> Vec<(&'static str, String)> {
    let port = |name: &str, default: u16| {
        std::env::var(name)
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(default)
    };
    settings::local_stack(
        port(env::PORT, settings::LOCAL_PORT),
        port(env::AWS_PORT, settings::LOCAL_AWS_PORT),
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.local {
        // Before the runtime starts any thread: setting the environment is only sound then.
        for (k, v) in local_defaults() {
            if std::env::var_os(k).is_none() {
                std::env::set_var(k, v);
            }
        }
    }
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
        .and_then(|rt| rt.block_on(run(cli.command, cli.json)));
    match result {
        Ok(out) => match writeln!(std::io::stdout().lock(), "{out}") {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write the output: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("{}", e.report());
            ExitCode::FAILURE
        }
    }
}

/// Runs one command and renders its result.
async fn run(command: Command, json: bool) -> Result<String, CliError> {
    match command {
        Command::Env => render(&cmd::env::run(settings::process_env), json),
        Command::Init(args) => render(&cmd::init::run(&Context::load().await?, &args).await?, json),
        Command::Client(ClientCommand::Create(args)) => render(
            &cmd::client::create(&Context::load().await?, args).await?,
            json,
        ),
        Command::Client(ClientCommand::Disable(args)) => render(
            &cmd::client::disable(&Context::load().await?, args).await?,
            json,
        ),
        Command::Apikey(ApiKeyCommand::Create(args)) => render(
            &cmd::apikey::create(&Context::load().await?, args).await?,
            json,
        ),
        Command::Apikey(ApiKeyCommand::List(args)) => render(
            &cmd::apikey::list(&Context::load().await?, args).await?,
            json,
        ),
        Command::Apikey(ApiKeyCommand::Revoke(args)) => render(
            &cmd::apikey::revoke(&Context::load().await?, args).await?,
            json,
        ),
        Command::Session(args) => render(
            &cmd::session::run(&Context::load().await?, args).await?,
            json,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn apikey_commands_parse_as_documented() {
        let cli = Cli::try_parse_from([
            "portcullis",
            "apikey",
            "create",
            "--sub",
            "dev|alice",
            "--scopes",
            "READ_BOOKING,READ_PROFILE",
            "--name",
            "zap",
            "--expires-in",
            "3600",
            "--json",
        ])
        .unwrap();
        let Command::Apikey(ApiKeyCommand::Create(a)) = cli.command else {
            panic!("{:?}", cli.command)
        };
        assert_eq!(a.scopes, ["READ_BOOKING", "READ_PROFILE"]);
        assert_eq!((a.sub.as_str(), a.expires_in), ("dev|alice", Some(3600)));
        let cli = Cli::try_parse_from(["portcullis", "apikey", "list", "--sub", "u"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Apikey(ApiKeyCommand::List(_))
        ));
        let cli = Cli::try_parse_from(["portcullis", "apikey", "revoke", "ak_x"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Apikey(ApiKeyCommand::Revoke(_))
        ));
        let cli = Cli::try_parse_from(["portcullis", "client", "disable", "c1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Client(ClientCommand::Disable(_))
        ));
        let e = Cli::try_parse_from(["portcullis", "apikey", "create", "--sub", "u"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn client_create_parses_its_flags_as_documented() {
        let cli = Cli::try_parse_from([
            "portcullis",
            "client",
            "create",
            "--name",
            "Zap",
            "--redirect-uri",
            "https://a.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scopes",
            "READ_PROFILE,READ_BOOKING",
            "--public",
            "--json",
            "--local",
        ])
        .unwrap();
        assert!(cli.json && cli.local);
        let Command::Client(ClientCommand::Create(a)) = cli.command else {
            panic!("{:?}", cli.command)
        };
        assert_eq!(a.name, "Zap");
        assert_eq!(
            a.redirect_uris,
            ["https://a.example/cb", "http://127.0.0.1/cb"]
        );
        assert_eq!(a.scopes, ["READ_PROFILE", "READ_BOOKING"]);
        assert!(a.public && !a.trusted && a.logo.is_none());
    }

    #[test]
    fn usage_errors_exit_with_2() {
        for args in [
            &["portcullis", "client", "create", "--name", "x"][..],
            &["portcullis", "session"],
            &["portcullis", "session", "--sub", "u", "--ttl", "soon"],
            &["portcullis", "nope"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_ne!(e.kind(), ErrorKind::DisplayHelp);
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn defaults_of_init_session_and_env() {
        let cli = Cli::try_parse_from(["portcullis", "init"]).unwrap();
        let Command::Init(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.template, std::path::Path::new("infra/template.yaml"));
        let cli = Cli::try_parse_from(["portcullis", "session", "--sub", "u1"]).unwrap();
        let Command::Session(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.ttl, 3600);
        let cli = Cli::try_parse_from(["portcullis", "--local", "env", "--json"]).unwrap();
        assert!(matches!(cli.command, Command::Env) && cli.local && cli.json);
    }

    /// `--local` derives every URL from the port variables, as `make dev` does.
    #[test]
    fn local_defaults_are_the_local_stack_list() {
        let names: Vec<&str> = local_defaults().iter().map(|(k, _)| *k).collect();
        let expected: Vec<&str> = settings::local_stack(1, 2)
            .iter()
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(names, expected);
    }
}
