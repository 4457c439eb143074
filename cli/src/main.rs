//! `portcullis`: the operator CLI. Configured from the same environment as the functions;
//! `--local` fills in the local stack's defaults (`make dev`) for anything not set.
use clap::{Args, Parser, Subcommand};
use portcullis::config::Config;
use std::process::ExitCode;

mod commands;
mod template;

#[derive(Parser)]
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

#[derive(Subcommand)]
enum Command {
    /// Create the tables and the keys secret from infra/template.yaml (idempotent; local stack).
    Init {
        /// The SAM template to read the definitions from.
        #[arg(long, default_value = "infra/template.yaml")]
        template: std::path::PathBuf,
    },
    /// Manage registered clients (apps).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Mint a host-application session token, as the host would set it in its cookie (testing).
    Session(SessionArgs),
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register an app; prints its client id and (once, never again) its secret.
    Create(CreateClientArgs),
}

#[derive(Args)]
pub struct CreateClientArgs {
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
    /// The scopes it may request, comma-separated (default: all configured scopes).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
}

#[derive(Args)]
pub struct SessionArgs {
    /// The user's stable id (`sub`).
    #[arg(long)]
    pub sub: String,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
}

/// The local stack's settings (see `scripts/stack.sh`), used with `--local` for anything the
/// environment does not set.
fn local_defaults() -> Vec<(&'static str, String)> {
    let port = std::env::var("PORTCULLIS_PORT").unwrap_or_else(|_| "9000".into());
    let aws_port = std::env::var("PORTCULLIS_AWS_PORT").unwrap_or_else(|_| "5000".into());
    let issuer = format!("http://127.0.0.1:{port}");
    vec![
        ("PORTCULLIS_ISSUER", issuer.clone()),
        ("PORTCULLIS_CLIENTS_TABLE", "portcullis-clients".into()),
        ("PORTCULLIS_CODES_TABLE", "portcullis-codes".into()),
        ("PORTCULLIS_TOKENS_TABLE", "portcullis-tokens".into()),
        ("PORTCULLIS_SECRET_ID", "portcullis-keys".into()),
        ("PORTCULLIS_LOGIN_URL", format!("{issuer}/auth/dev-login")),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{aws_port}")),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
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
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| {
        format!("{e}\n(hint: set the PORTCULLIS_* variables of your deployment, or pass --local for the local stack)")
    })?;
    let sdk = portcullis::aws::load_sdk_config().await;
    let out = commands::Output { json: cli.json };
    match cli.command {
        Command::Init { template } => commands::init(&config, &sdk, &template, &out).await,
        Command::Client(ClientCommand::Create(args)) => {
            commands::create_client(&config, &sdk, args, &out).await
        }
        Command::Session(args) => commands::session(&config, &sdk, args, &out).await,
    }
}
