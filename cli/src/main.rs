//! `portcullis`: the operator CLI. Configured from the same environment as the functions;
//! `--local` fills in the local stack's defaults (`make dev`) for anything not set; `--stack NAME`
//! reads the table and secret names from a CloudFormation stack's outputs.
//!
//! This file parses, applies `--local`, dispatches and prints; the commands are in [`cmd`], their
//! output forms in [`output`], their errors in [`error`], the target in [`target`]. Exit code: 0,
//! 1 on a failure, 2 on a usage error (clap's, and a flag value refused by a command's checks).
//! Errors go to stderr on one line (`error: ...`, a hint on the next); with `--json`, as one JSON
//! object `{"error": code, "message": ..., "hint": ...}`.
use clap::{Parser, Subcommand};
use cmd::apikey::ApiKeyCommand;
use cmd::client::ClientCommand;
use cmd::grants::GrantsCommand;
use cmd::Context;
use error::CliError;
use output::render;
use portcullis_core::settings::{self, env};
use std::io::Write;
use std::process::ExitCode;
use target::Target;

mod cmd;
mod error;
mod output;
mod target;
mod template;
mod validate;

const EXAMPLES: &str = "\
Examples:
  portcullis --local client create --name \"Zap App\" --redirect-uri http://127.0.0.1:8765/callback
  portcullis --stack portcullis-prod client list
  portcullis --stack portcullis-prod client rotate-secret CLIENT_ID --keep-old-for 24h
  portcullis --stack portcullis-prod grants revoke --sub 'user|42' --client CLIENT_ID
  portcullis --stack portcullis-prod client disable CLIENT_ID

Targets: --local (the local stack), --stack NAME (a CloudFormation stack's outputs), or else the
PORTCULLIS_* variables the functions read, with the usual AWS credentials and region.
Exit codes: 0 done, 1 failed, 2 usage error. With --json, errors are JSON on stderr too.";

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Operate a Portcullis OAuth 2.0 server",
    after_help = EXAMPLES
)]
struct Cli {
    /// Target the local stack (moto on 127.0.0.1): defaults for every setting not in the environment.
    #[arg(long, global = true, conflicts_with = "stack")]
    local: bool,
    /// Target a deployed stage: read its table and secret names from this CloudFormation stack's
    /// outputs (ClientsTableName, CodesTableName, TokensTableName, KeysSecretArn, ...).
    #[arg(long, global = true, value_name = "NAME")]
    stack: Option<String>,
    /// Machine-readable output (and errors as JSON on stderr).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the local stack's tables and secrets from infra/template.yaml (idempotent).
    #[command(
        after_help = "Example:\n  portcullis --local init\n\nLocal stack only: a deployed stage's tables come from its CloudFormation stack."
    )]
    Init(cmd::init::InitArgs),
    /// Manage registered clients (apps).
    #[command(
        subcommand,
        after_help = "Example:\n  portcullis client create --name \"Zap App\" --redirect-uri https://zap.example/cb"
    )]
    Client(ClientCommand),
    /// List and revoke users' grants (their connections to apps).
    #[command(
        subcommand,
        after_help = "Example:\n  portcullis grants list --sub 'user|42'"
    )]
    Grants(GrantsCommand),
    /// Manage API keys for the product's own APIs.
    #[command(
        subcommand,
        after_help = "Example:\n  portcullis apikey create --sub 'user|42' --scopes READ_BOOKING --name zapier"
    )]
    Apikey(ApiKeyCommand),
    /// Manage the protected resources (RFC 8707) tokens can be bound to, such as an MCP server.
    #[command(
        subcommand,
        after_help = "Example:\n  portcullis resource create --uri https://api.example.com/mcp --scopes READ_BOOKING"
    )]
    Resource(cmd::resource::ResourceCommand),
    /// Initial access tokens for dynamic client registration (RFC 7591 §3).
    #[command(
        subcommand,
        name = "registration-token",
        after_help = "Example:\n  portcullis registration-token create --expires-in 7d --uses 1"
    )]
    RegistrationToken(cmd::registration_token::RegistrationTokenCommand),
    /// Mint a host-application session token, as the host would set it in its cookie (testing).
    #[command(
        after_help = "Example:\n  portcullis --local session --sub dev|ada --username ada\n\nIt forges a user's session: against a deployed stage it needs --allow-production."
    )]
    Session(cmd::session::SessionArgs),
    /// Print the environment the CLI and the functions use, as shell assignments
    /// (`set -a; eval "$(portcullis --local env)"; set +a`) or, with --json, one object.
    #[command(after_help = "Example:\n  set -a; eval \"$(portcullis --local env)\"; set +a")]
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    if cli.local {
        // Before the runtime starts any thread: setting the environment is only sound then.
        for (k, v) in local_defaults() {
            if std::env::var_os(k).is_none() {
                std::env::set_var(k, v);
            }
        }
    }
    let target = Target::choose(
        cli.local,
        cli.stack.as_deref(),
        std::env::var("AWS_ENDPOINT_URL").ok().as_deref(),
    );
    let json = cli.json;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
        .and_then(|rt| rt.block_on(run(cli.command, &target, json)));
    match result {
        Ok(out) => match writeln!(std::io::stdout().lock(), "{out}") {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write the output: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            if json {
                eprintln!("{}", e.json_report());
            } else {
                eprintln!("{}", e.report());
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// clap's error: help and version as clap prints them (exit 0); a usage error as clap prints it,
/// or with `--json` anywhere on the line as `{"error": "usage", "message": ...}`; exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = std::env::args_os().any(|a| a == "--json");
    if !json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    }
    let message = e
        .render()
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    eprintln!(
        "{}",
        serde_json::json!({"error": "usage", "message": message, "hint": "see --help"})
    );
    ExitCode::from(2)
}

/// Refuses `init` and `session` where they do not belong.
fn check_target(command: &Command, target: &Target) -> Result<(), CliError> {
    match command {
        Command::Init(_) if !target.is_local() => Err(CliError::Invalid(format!(
            "init creates the local stack's tables and secrets; it is refused against {} (a deployed stage's come from its CloudFormation stack): pass --local",
            target.describe()
        ))),
        Command::Session(a) if !target.is_local() && !a.allow_production => Err(CliError::Invalid(format!(
            "session forges a user's session; against {} it needs --allow-production",
            target.describe()
        ))),
        _ => Ok(()),
    }
}

/// Runs one command and renders its result.
async fn run(command: Command, target: &Target, json: bool) -> Result<String, CliError> {
    check_target(&command, target)?;
    if let Command::Env = command {
        return render(&cmd::env::run(settings::process_env), json);
    }
    let ctx = Context::load(target).await?;
    let ctx = &ctx;
    match command {
        Command::Env => render(&cmd::env::run(settings::process_env), json),
        Command::Init(args) => render(&cmd::init::run(ctx, &args).await?, json),
        Command::Client(c) => match c {
            ClientCommand::Create(a) => render(&cmd::client::create(ctx, a).await?, json),
            ClientCommand::List(a) => render(&cmd::client::list(ctx, a).await?, json),
            ClientCommand::Show(a) => render(&cmd::client::show(ctx, a).await?, json),
            ClientCommand::Update(a) => render(&cmd::client::update(ctx, a).await?, json),
            ClientCommand::RotateSecret(a) => {
                render(&cmd::client::rotate_secret(ctx, a).await?, json)
            }
            ClientCommand::Disable(a) => render(&cmd::client::disable(ctx, a).await?, json),
            ClientCommand::Enable(a) => render(&cmd::client::enable(ctx, a).await?, json),
            ClientCommand::Delete(a) => render(&cmd::client::delete(ctx, a).await?, json),
        },
        Command::Grants(g) => match g {
            GrantsCommand::List(a) => render(&cmd::grants::list(ctx, a).await?, json),
            GrantsCommand::Revoke(a) => render(&cmd::grants::revoke(ctx, a).await?, json),
        },
        Command::Apikey(k) => match k {
            ApiKeyCommand::Create(a) => render(&cmd::apikey::create(ctx, a).await?, json),
            ApiKeyCommand::List(a) => render(&cmd::apikey::list(ctx, a).await?, json),
            ApiKeyCommand::Revoke(a) => render(&cmd::apikey::revoke(ctx, a).await?, json),
        },
        Command::Resource(r) => match r {
            cmd::resource::ResourceCommand::Create(a) => {
                render(&cmd::resource::create(ctx, a).await?, json)
            }
            cmd::resource::ResourceCommand::List => render(&cmd::resource::list(ctx).await?, json),
            cmd::resource::ResourceCommand::Delete(a) => {
                render(&cmd::resource::delete(ctx, a).await?, json)
            }
        },
        Command::RegistrationToken(t) => match t {
            cmd::registration_token::RegistrationTokenCommand::Create(a) => {
                render(&cmd::registration_token::create(ctx, a).await?, json)
            }
            cmd::registration_token::RegistrationTokenCommand::Revoke(a) => {
                render(&cmd::registration_token::revoke(ctx, a).await?, json)
            }
        },
        Command::Session(args) => render(&cmd::session::run(ctx, args).await?, json),
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
            &[
                "portcullis",
                "client",
                "create",
                "--redirect-uri",
                "https://a.example/cb",
            ][..],
            &[
                "portcullis",
                "client",
                "create",
                "--name",
                "x",
                "--grant-type",
                "password",
            ],
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

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn the_client_lifecycle_commands_parse_as_documented() {
        let cli = parse(&["portcullis", "--stack", "prod", "client", "list", "--json"]);
        assert_eq!(cli.stack.as_deref(), Some("prod"));
        assert!(matches!(cli.command, Command::Client(ClientCommand::List(_))) && cli.json);
        let cli = parse(&["portcullis", "client", "rotate-secret", "c1"]);
        let Command::Client(ClientCommand::RotateSecret(a)) = cli.command else {
            panic!()
        };
        assert_eq!((a.client_id.as_str(), a.keep_old_for), ("c1", 86_400));
        let cli = parse(&[
            "portcullis",
            "client",
            "rotate-secret",
            "c1",
            "--keep-old-for",
            "0",
        ]);
        let Command::Client(ClientCommand::RotateSecret(a)) = cli.command else {
            panic!()
        };
        assert_eq!(a.keep_old_for, 0);
        let cli = parse(&[
            "portcullis",
            "client",
            "update",
            "c1",
            "--trusted",
            "false",
            "--refresh-rotation",
            "true",
            "--redirect-uri",
            "https://a.example/cb",
        ]);
        let Command::Client(ClientCommand::Update(a)) = cli.command else {
            panic!()
        };
        assert_eq!((a.trusted, a.refresh_rotation), (Some(false), Some(true)));
        for cmd in ["show", "enable", "delete", "disable"] {
            parse(&["portcullis", "client", cmd, "c1"]);
        }
        let cli = parse(&[
            "portcullis",
            "grants",
            "revoke",
            "--sub",
            "u",
            "--client",
            "c",
        ]);
        let Command::Grants(GrantsCommand::Revoke(a)) = cli.command else {
            panic!()
        };
        assert_eq!(
            (a.sub.as_deref(), a.client.as_deref()),
            (Some("u"), Some("c"))
        );
        parse(&["portcullis", "grants", "list", "--client", "c"]);
        parse(&["portcullis", "grants", "revoke", "--grant", "g_x"]);
    }

    #[test]
    fn bad_command_lines_of_the_new_commands_exit_with_2() {
        for args in [
            &["portcullis", "client", "update", "c1"][..],
            &["portcullis", "client", "update", "c1", "--trusted", "maybe"],
            &[
                "portcullis",
                "client",
                "update",
                "c1",
                "--logo",
                "https://a/l",
                "--no-logo",
            ],
            &[
                "portcullis",
                "client",
                "rotate-secret",
                "c1",
                "--keep-old-for",
                "soon",
            ],
            &["portcullis", "client", "show"],
            &["portcullis", "grants", "list"],
            &[
                "portcullis",
                "grants",
                "list",
                "--sub",
                "u",
                "--client",
                "c",
            ],
            &["portcullis", "grants", "revoke"],
            &["portcullis", "grants", "revoke", "--client", "c"],
            &[
                "portcullis",
                "grants",
                "revoke",
                "--grant",
                "g",
                "--sub",
                "u",
            ],
            &["portcullis", "--local", "--stack", "s", "client", "list"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }

    /// Every command's help, and the top-level help, ends with an example.
    #[test]
    fn every_help_has_an_example() {
        fn walk(cmd: &mut clap::Command, path: &str) {
            let help = cmd.render_long_help().to_string();
            assert!(help.contains("Example"), "{path} has no example");
            for sub in cmd.get_subcommands_mut() {
                if sub.get_name() == "help" {
                    continue;
                }
                let p = format!("{path} {}", sub.get_name());
                walk(sub, &p);
            }
        }
        walk(&mut Cli::command(), "portcullis");
    }

    #[test]
    fn init_is_local_only_and_session_needs_allow_production_elsewhere() {
        let init = parse(&["portcullis", "init"]).command;
        let stack = Target::Stack("prod".into());
        let e = check_target(&init, &stack).unwrap_err();
        assert!(
            e.to_string().contains("init creates the local stack"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);
        assert!(check_target(&init, &Target::Local).is_ok());
        let session = parse(&["portcullis", "session", "--sub", "u"]).command;
        let e = check_target(&session, &Target::Environment).unwrap_err();
        assert!(e.to_string().contains("--allow-production"), "{e}");
        assert!(check_target(&session, &Target::Local).is_ok());
        let allowed = parse(&["portcullis", "session", "--sub", "u", "--allow-production"]);
        assert!(check_target(&allowed.command, &stack).is_ok());
        let list = parse(&["portcullis", "client", "list"]).command;
        assert!(check_target(&list, &stack).is_ok());
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
