//! End-to-end harness: moto (DynamoDB and Secrets Manager), the tables and secret created by the
//! real CLI from `infra/template.yaml`, and the real function binaries under `cargo lambda watch`,
//! all on 127.0.0.1 and free ports. One stack per test binary, started on first use and stopped
//! when the process exits.
//!
//! Prerequisites (`make test` does both): `scripts/bootstrap.sh` (for `.venv/bin/moto_server` and
//! `cargo-lambda`) and `cargo build --workspace --bins` (for the binaries).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub mod browser;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn venv_bin(name: &str) -> PathBuf {
    let p = root().join(".venv/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/bootstrap.sh (make test does)",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Processes to stop when the test process exits.
static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());

extern "C" fn stop_children() {
    let Ok(mut children) = CHILDREN.lock() else {
        return;
    };
    // SIGTERM first, newest first: cargo-lambda stops the function processes it started only
    // when it is asked to stop (a SIGKILL would orphan them).
    for child in children.iter().rev() {
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for child in children.iter_mut().rev() {
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of its process group.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _reaped = child.wait();
    }
}

fn register(child: Child) {
    let mut v = CHILDREN.lock().unwrap();
    if v.is_empty() {
        unsafe { libc::atexit(stop_children) };
    }
    v.push(child);
}

/// A running local stack.
pub struct Stack {
    /// The public base URL (the issuer), e.g. `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// moto's endpoint.
    pub aws_endpoint: String,
    env: Vec<(String, String)>,
}

impl Stack {
    /// The stack with moto only (adapter tests).
    pub fn moto() -> &'static Stack {
        static MOTO: OnceLock<Stack> = OnceLock::new();
        MOTO.get_or_init(|| Stack::start(false))
    }

    /// The full stack: moto, tables, and the functions under `cargo lambda watch`.
    pub fn full() -> &'static Stack {
        static FULL: OnceLock<Stack> = OnceLock::new();
        FULL.get_or_init(|| Stack::start(true))
    }

    fn start(with_functions: bool) -> Stack {
        let aws_port = free_port();
        let port = free_port();
        let base_url = format!("http://127.0.0.1:{port}");
        let aws_endpoint = format!("http://127.0.0.1:{aws_port}");
        let logs = target_dir().join("e2e-logs");
        std::fs::create_dir_all(&logs).unwrap();
        let env: Vec<(String, String)> = [
            ("PORTCULLIS_PORT", port.to_string()),
            ("PORTCULLIS_AWS_PORT", aws_port.to_string()),
            ("PORTCULLIS_ISSUER", base_url.clone()),
            ("PORTCULLIS_CLIENTS_TABLE", "portcullis-clients".into()),
            ("PORTCULLIS_CODES_TABLE", "portcullis-codes".into()),
            ("PORTCULLIS_TOKENS_TABLE", "portcullis-tokens".into()),
            ("PORTCULLIS_SECRET_ID", "portcullis-keys".into()),
            ("PORTCULLIS_LOGIN_URL", format!("{base_url}/auth/dev-login")),
            ("DEV_LOGIN", "true".into()),
            ("AWS_ENDPOINT_URL", aws_endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("NO_PROXY", "127.0.0.1,localhost".into()),
            ("RUST_LOG", "info".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();

        let tag = if with_functions { "full" } else { "moto" };
        let moto = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &aws_port.to_string()])
            .stdout(log_file(&logs, &format!("moto-{tag}.log")))
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start moto_server");
        register(moto);
        wait_for(
            &format!("{aws_endpoint}/moto-api/"),
            Duration::from_secs(60),
            |_| true,
        );

        let stack = Stack {
            base_url,
            aws_endpoint,
            env,
        };
        stack.cli(&["init"]);
        if with_functions {
            let path = format!(
                "{}:{}",
                root().join(".venv/bin").display(),
                std::env::var("PATH").unwrap_or_default()
            );
            let watch = Command::new(venv_bin("cargo-lambda"))
                .args([
                    "lambda",
                    "watch",
                    "--invoke-address",
                    "127.0.0.1",
                    "--invoke-port",
                    &port.to_string(),
                    "--ignore-changes",
                ])
                .current_dir(root())
                .envs(stack.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("PATH", path)
                .stdin(Stdio::null())
                .stdout(log_file(&logs, "watch.log"))
                .stderr(log_file(&logs, "watch.err.log"))
                .process_group(0)
                .spawn()
                .expect("start cargo lambda watch");
            register(watch);
            // Start each function once (cargo-lambda starts them on first request), so tests do
            // not pay for it; each answers a bare request with an error of its own making.
            let base = &stack.base_url;
            wait_for(
                &format!("{base}/auth/oauth2/authorize"),
                Duration::from_secs(180),
                |s| s == 400,
            );
            wait_for(
                &format!("{base}/api/auth/oauth/me"),
                Duration::from_secs(180),
                |s| s == 401,
            );
            wait_for(
                &format!("{base}/api/auth/oauth/token"),
                Duration::from_secs(180),
                |s| s == 405,
            );
        }
        stack
    }

    /// Runs the real CLI against this stack and returns its stdout; panics with its stderr.
    pub fn cli(&self, args: &[&str]) -> String {
        let bin = target_dir().join("debug/portcullis");
        assert!(
            bin.exists(),
            "{} is missing: run cargo build --workspace --bins (make test does)",
            bin.display()
        );
        let out = Command::new(&bin)
            .arg("--local")
            .args(args)
            .current_dir(root())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run portcullis");
        assert!(
            out.status.success(),
            "portcullis {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The CLI with `--json`, parsed.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.cli(&a)).unwrap()
    }

    /// An SDK configuration pointing at this stack's moto, with the same timeouts as the
    /// functions' (`portcullis::aws`), built without touching the process environment.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        use aws_sdk_dynamodb::config::{Credentials, Region};
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.aws_endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "e2e"))
            .load()
            .await
    }

    pub fn tables(&self) -> portcullis::store::Tables {
        portcullis::store::Tables {
            clients: "portcullis-clients".into(),
            codes: "portcullis-codes".into(),
            tokens: "portcullis-tokens".into(),
        }
    }

    pub async fn store(&self) -> portcullis::store::DynamoStore {
        let sdk = self.sdk().await;
        portcullis::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), self.tables())
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/auth/oauth2/authorize", self.base_url)
    }
    pub fn token_url(&self) -> String {
        format!("{}/api/auth/oauth/token", self.base_url)
    }
    pub fn me_url(&self) -> String {
        format!("{}/api/auth/oauth/me", self.base_url)
    }
}

fn log_file(dir: &Path, name: &str) -> Stdio {
    std::fs::File::create(dir.join(name))
        .map(Stdio::from)
        .unwrap_or(Stdio::null())
}

/// Polls `url` with GET until `ok(status)` holds, or panics after `timeout`.
fn wait_for(url: &str, timeout: Duration, ok: impl Fn(u16) -> bool) {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match http_get_status(url) {
            Ok(s) if ok(s) => return,
            Ok(s) => last = format!("status {s}"),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{url} did not become ready in {timeout:?} (last: {last}); see target/e2e-logs/");
}

/// A minimal blocking GET (no extra client stack needed before the runtime exists).
fn http_get_status(url: &str) -> Result<u16, String> {
    use std::io::{Read, Write};
    let u = url::Url::parse(url).map_err(|e| e.to_string())?;
    let addr = format!("{}:{}", u.host_str().unwrap_or(""), u.port().unwrap_or(80));
    let mut s = std::net::TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        &url[u.origin().ascii_serialization().len()..]
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad response: {head}"))
}
