//! End-to-end harness: the local stack of `xtask` (moto as DynamoDB and Secrets Manager, the
//! tables and secrets created by the real CLI from `infra/template.yaml`, and the real function
//! binaries under `cargo lambda watch`), on 127.0.0.1 and free ports. One stack per test process,
//! started on first use and stopped when the process exits (or on Ctrl-C).
//!
//! Prerequisites (`make test` does both): `scripts/bootstrap.sh` (for `.venv/bin/moto_server` and
//! `cargo-lambda`) and `cargo build --workspace --bins` (for the binaries).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_aws::{DynamoClients, DynamoCodes, DynamoTokens};
use portcullis_core::settings::{self, env, TableNames};
use std::path::PathBuf;
use std::sync::OnceLock;
use xtask::stack::{LocalStack, Options};

pub mod browser;

/// The repository root.
pub fn root() -> PathBuf {
    xtask::root()
}

/// The local stack's table names (the same for every port).
pub fn tables() -> TableNames {
    let vars = settings::local_stack(settings::LOCAL_PORT, settings::LOCAL_AWS_PORT);
    TableNames::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .expect("local_stack names every table")
}

/// The running local stack.
pub struct Stack {
    inner: LocalStack,
    /// The public base URL (the issuer), e.g. `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// moto's endpoint.
    pub aws_endpoint: String,
}

impl Stores {
    /// The adapters over `db`, on the tables `t`.
    pub fn on(db: aws_sdk_dynamodb::Client, t: &TableNames) -> Self {
        Self {
            clients: DynamoClients::new(db.clone(), &t.clients),
            codes: DynamoCodes::new(db.clone(), &t.codes),
            tokens: DynamoTokens::with_clients(db, &t.tokens, &t.clients),
        }
    }
}

/// One DynamoDB adapter per table, on this stack's moto.
pub struct Stores {
    pub clients: DynamoClients,
    pub codes: DynamoCodes,
    /// Built with the clients table, so it can issue tokens too.
    pub tokens: DynamoTokens,
}

/// A moto of its own (see [`Stack::serial_stores`]), stopped on drop.
pub struct SerialMoto {
    child: std::process::Child,
    stores: Option<Stores>,
}

impl SerialMoto {
    pub fn stores(&self) -> &Stores {
        self.stores.as_ref().unwrap()
    }
}

impl Drop for SerialMoto {
    fn drop(&mut self) {
        // Only the process this value started, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the test stack's processes log.
fn log_dir() -> PathBuf {
    xtask::target_dir().join("e2e-logs")
}

impl Stack {
    /// The stack: started by the first test that asks, shared by all. When it cannot start,
    /// every test that needs it fails with the reason (and the stack is not tried again).
    pub fn get() -> &'static Stack {
        static STACK: OnceLock<Result<Stack, String>> = OnceLock::new();
        match STACK.get_or_init(Stack::start) {
            Ok(stack) => stack,
            Err(e) => panic!("the local stack did not start: {e}"),
        }
    }

    fn start() -> Result<Stack, String> {
        let options = Options::test(log_dir()).map_err(|e| e.0)?;
        let inner = LocalStack::start(&options).map_err(|e| {
            format!(
                "{e}\n(logs: {}; prerequisites: scripts/bootstrap.sh and cargo build --workspace --bins)",
                options.log_dir.display()
            )
        })?;
        Ok(Stack {
            base_url: inner.issuer.clone(),
            aws_endpoint: inner.aws_endpoint.clone(),
            inner,
        })
    }

    /// Runs the real CLI against this stack and returns its stdout; panics with its stderr.
    pub fn cli(&self, args: &[&str]) -> String {
        self.inner.cli(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The CLI with `--json`, parsed.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        self.inner.cli_json(args).unwrap_or_else(|e| panic!("{e}"))
    }

    fn var(&self, name: &str) -> String {
        self.env_var(name)
    }

    /// A variable of the stack's environment (what the functions see); panics if unset.
    pub fn env_var(&self, name: &str) -> String {
        self.inner
            .env_var(name)
            .unwrap_or_else(|| panic!("{name} is not in the stack's environment"))
    }

    /// Everything the stack's processes have logged so far (`cargo lambda watch` with the
    /// functions' output, and moto).
    pub fn logs(&self) -> String {
        let dir = log_dir();
        ["watch.log", "moto.log"]
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// An SDK configuration pointing at this stack's moto (endpoint, region and credentials from
    /// the stack's environment), built without touching the process environment.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        use aws_sdk_dynamodb::config::{Credentials, Region};
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.var("AWS_ENDPOINT_URL"))
            .region(Region::new(self.var("AWS_REGION")))
            .credentials_provider(Credentials::new(
                self.var("AWS_ACCESS_KEY_ID"),
                self.var("AWS_SECRET_ACCESS_KEY"),
                None,
                None,
                "e2e",
            ))
            .load()
            .await
    }

    /// The table names the functions use.
    pub fn tables(&self) -> TableNames {
        TableNames::from_lookup(|k| self.inner.env_var(k)).unwrap()
    }

    /// The DynamoDB adapters, on this stack's tables (those the functions use).
    pub async fn stores(&self) -> Stores {
        self.stores_on(self.tables()).await
    }

    /// The DynamoDB adapters on tables of their own (the stack's names with `-{name}` added,
    /// made by `portcullis --local init`), for a test that makes a transaction fail on purpose.
    ///
    /// moto's TransactWriteItems copies each table the transaction names and, when the
    /// transaction fails, puts the copies back: whatever another request wrote to those tables
    /// in between is lost. So such a test must not share its tables with anything that writes
    /// concurrently: neither the functions (tests in parallel register clients and issue tokens)
    /// nor another such test. DynamoDB itself has no such effect.
    pub async fn private_stores(&self, name: &str) -> Stores {
        let t = self.private_tables(name);
        self.stores_on(t).await
    }

    /// The tables of [`Self::private_stores`], created, for adapters built on a client of the
    /// caller's own (with an interceptor, say: [`Stores::on`]).
    pub fn private_tables(&self, name: &str) -> TableNames {
        let base = self.tables();
        let t = TableNames {
            clients: format!("{}-{name}", base.clients),
            codes: format!("{}-{name}", base.codes),
            tokens: format!("{}-{name}", base.tokens),
            bookings: None,
        };
        self.inner
            .cli_with_env(
                &[
                    (env::CLIENTS_TABLE, &t.clients),
                    (env::CODES_TABLE, &t.codes),
                    (env::TOKENS_TABLE, &t.tokens),
                ],
                &["init"],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        t
    }

    async fn stores_on(&self, t: TableNames) -> Stores {
        Stores::on(portcullis_aws::sdk::dynamodb(&self.sdk().await), &t)
    }

    /// The DynamoDB adapters on a moto of their own that serves one request at a time, for a
    /// test of atomicity under concurrency: moto's threaded server checks a condition and then
    /// writes without a lock (a TransactWriteItems or UpdateItem can interleave with another), so
    /// on the shared moto two conditional writes can both pass where DynamoDB lets one through.
    /// Serving one request at a time gives each request the isolation DynamoDB gives it. The
    /// moto process is stopped when the returned value is dropped.
    pub async fn serial_stores(&self) -> SerialMoto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // moto's own server, with werkzeug's `threaded` turned off.
        const SERVE: &str = "import sys, moto.server as s, werkzeug.serving as w\n\
             run = w.run_simple\n\
             s.run_simple = lambda *a, **k: run(*a, **{**k, 'threaded': False})\n\
             s.main(['-H', '127.0.0.1', '-p', sys.argv[1]])";
        let child = std::process::Command::new(root().join(".venv/bin/python"))
            .args(["-c", SERVE, &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start a serial moto");
        let mut moto = SerialMoto {
            child,
            stores: None,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the serial moto did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        self.inner
            .cli_with_env(
                &[
                    ("AWS_ENDPOINT_URL", &endpoint),
                    (env::AWS_PORT, &port.to_string()),
                ],
                &["init"],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        use aws_sdk_dynamodb::config::{Credentials, Region};
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(self.var("AWS_REGION")))
            .credentials_provider(Credentials::new(
                self.var("AWS_ACCESS_KEY_ID"),
                self.var("AWS_SECRET_ACCESS_KEY"),
                None,
                None,
                "e2e",
            ))
            .load()
            .await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        let t = self.tables();
        moto.stores = Some(Stores {
            clients: DynamoClients::new(db.clone(), &t.clients),
            codes: DynamoCodes::new(db.clone(), &t.codes),
            tokens: DynamoTokens::with_clients(db, &t.tokens, &t.clients),
        });
        moto
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/auth/oauth2/authorize", self.base_url)
    }
    pub fn token_url(&self) -> String {
        format!("{}/api/auth/oauth/token", self.base_url)
    }
    pub fn refresh_url(&self) -> String {
        format!("{}/api/auth/oauth/refreshToken", self.base_url)
    }
    pub fn me_url(&self) -> String {
        format!("{}/api/auth/oauth/me", self.base_url)
    }
}
