//! The local stack: moto (DynamoDB and Secrets Manager), the tables and secrets made by the real
//! CLI from `infra/template.yaml`, and every function under `cargo lambda watch`, all on
//! 127.0.0.1. `make dev` and the end-to-end tests start it the same way; they differ only in
//! [`Options`]: ports, log directory, and whether `cargo lambda watch` rebuilds on changes.
use crate::{display, error, http, portcullis_bin, process, root, venv_bin, Result};
use portcullis_core::settings::{self, env};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Each function's route, and the status it answers a bare `GET` with: an error of its own
/// making, so an answer with it means that function is up (not cargo-lambda's own 404 or 502).
pub const FUNCTIONS: &[(&str, &str, u16)] = &[
    ("authorize", "/auth/oauth2/authorize", 400),
    ("token", "/api/auth/oauth/token", 405),
    ("refresh", "/api/auth/oauth/refreshToken", 405),
    ("me", "/api/auth/oauth/me", 401),
    ("list-bookings", "/api/bookings", 401),
    ("revoke", "/api/auth/oauth/revoke", 405),
    ("introspect", "/api/auth/oauth/introspect", 405),
    ("metadata", "/.well-known/oauth-authorization-server", 200),
];

/// Variables the children must not inherit: they would point the AWS SDK at a real account.
const AWS_UNSET: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
];

/// How the stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `make dev`: `cargo lambda watch` rebuilds on code changes; its output goes to the
    /// terminal and the log.
    Dev,
    /// The tests: `--ignore-changes`, output to the log only, and no `PORTCULLIS_*` setting
    /// inherited from the caller's environment (the tests expect the defaults).
    Test,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The HTTP entry point (`cargo lambda watch`).
    pub port: u16,
    /// moto.
    pub aws_port: u16,
    /// Where `moto.log` and `watch.log` go.
    pub log_dir: PathBuf,
    pub mode: Mode,
    /// How long moto has to answer (`PORTCULLIS_MOTO_TIMEOUT`).
    pub moto_timeout: Duration,
    /// How long the functions have to answer, all together (`PORTCULLIS_WATCH_TIMEOUT`).
    pub watch_timeout: Duration,
}

impl Options {
    /// `make dev`: `PORTCULLIS_PORT` (default 9000) and `PORTCULLIS_AWS_PORT` (default 5000),
    /// logs in `.local/`, timeouts 30 s and 120 s unless set.
    pub fn dev() -> Result<Self> {
        let port = port_from_env(env::PORT, settings::LOCAL_PORT)?;
        let aws_port = port_from_env(env::AWS_PORT, settings::LOCAL_AWS_PORT)?;
        if port == aws_port {
            return Err(error!(
                "{} and {} are both {port}",
                env::PORT,
                env::AWS_PORT
            ));
        }
        Ok(Self {
            port,
            aws_port,
            log_dir: root().join(".local"),
            mode: Mode::Dev,
            moto_timeout: timeout_from_env("PORTCULLIS_MOTO_TIMEOUT", 30)?,
            watch_timeout: timeout_from_env("PORTCULLIS_WATCH_TIMEOUT", 120)?,
        })
    }

    /// The tests: two free ports, logs in `log_dir`, timeouts 60 s and 180 s unless set.
    pub fn test(log_dir: PathBuf) -> Result<Self> {
        let (port, aws_port) = http::free_ports()?;
        Ok(Self {
            port,
            aws_port,
            log_dir,
            mode: Mode::Test,
            moto_timeout: timeout_from_env("PORTCULLIS_MOTO_TIMEOUT", 60)?,
            watch_timeout: timeout_from_env("PORTCULLIS_WATCH_TIMEOUT", 180)?,
        })
    }
}

fn port_from_env(name: &str, default: u16) -> Result<u16> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) if v.trim().is_empty() => Ok(default),
        Ok(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| error!("{name}={v:?} is not a port number (1-65535)")),
    }
}

fn timeout_from_env(name: &str, default: u64) -> Result<Duration> {
    match std::env::var(name) {
        Err(_) => Ok(Duration::from_secs(default)),
        Ok(v) if v.trim().is_empty() => Ok(Duration::from_secs(default)),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| error!("{name}={v:?} is not a positive number of seconds")),
    }
}

/// The tests' log level (unless `RUST_LOG` is set): debug for Portcullis and the AWS SDK, so
/// that the leak test (`tests/tests/e2e/leaks.rs`) searches what an operator who turns debug
/// logging on would see.
pub const TEST_LOG: &str = "info,portcullis_core=debug,portcullis_aws=debug,portcullis_lambda=debug,\
portcullis_resource=debug,aws_smithy_runtime=debug,aws_sdk_dynamodb=debug,aws_sdk_secretsmanager=debug";

/// The environment of every process of the stack: the one list of local values
/// ([`settings::local_stack`]) and what only the local stack sets: the dev login, the log level,
/// no instance metadata lookups, no proxy for 127.0.0.1.
pub fn stack_env(port: u16, aws_port: u16, mode: Mode) -> Vec<(String, String)> {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| match mode {
            Mode::Dev => "info".into(),
            Mode::Test => TEST_LOG.into(),
        });
    let no_proxy = |name: &str| match std::env::var(name) {
        Ok(v) if !v.is_empty() => format!("127.0.0.1,localhost,{v}"),
        _ => "127.0.0.1,localhost".into(),
    };
    let mut vars: Vec<(String, String)> = settings::local_stack(port, aws_port)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    vars.extend([
        (env::DEV_LOGIN.to_string(), "true".to_string()),
        ("RUST_LOG".into(), rust_log),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("NO_PROXY".into(), no_proxy("NO_PROXY")),
        ("no_proxy".into(), no_proxy("no_proxy")),
    ]);
    if mode == Mode::Test {
        // The e2e suite's Client ID Metadata Document server: https on `localhost` with the
        // test CA (shared/aws/tests/fixtures, whose certificate names localhost and 127.0.0.1).
        let ca = crate::root().join("shared/aws/tests/fixtures/ca.pem");
        vars.extend([
            (
                env::METADATA_DOCUMENT_LOOPBACK_HOSTS.to_string(),
                "localhost".to_string(),
            ),
            (
                env::METADATA_DOCUMENT_CA_FILE.to_string(),
                ca.display().to_string(),
            ),
        ]);
    }
    vars
}

/// A running local stack. Dropping it stops it (so does the process's exit, see
/// [`process`]).
#[derive(Debug)]
pub struct LocalStack {
    pub port: u16,
    pub aws_port: u16,
    /// The public base URL, `http://127.0.0.1:PORT`.
    pub issuer: String,
    /// moto's endpoint, `http://127.0.0.1:AWS_PORT`.
    pub aws_endpoint: String,
    env: Vec<(String, String)>,
    options: Options,
    moto: Option<u32>,
    watch: Option<u32>,
}

impl LocalStack {
    /// The whole stack: [`LocalStack::start_aws`], then [`LocalStack::start_functions`].
    pub fn start(options: &Options) -> Result<Self> {
        let mut stack = Self::start_aws(options)?;
        stack.start_functions()?;
        Ok(stack)
    }

    /// moto, and the tables and secrets (`portcullis --local init`).
    pub fn start_aws(options: &Options) -> Result<Self> {
        let bin = portcullis_bin();
        if !bin.is_file() {
            return Err(error!(
                "{} not found; build it first: cargo build --workspace --bins",
                bin.display()
            ));
        }
        let moto_bin = venv_tool("moto_server")?;
        if http::port_in_use(options.aws_port) {
            return Err(error!(
                "port 127.0.0.1:{} is already in use (a moto_server left running?); stop that \
                 process or set {} to a free port",
                options.aws_port,
                env::AWS_PORT
            ));
        }
        std::fs::create_dir_all(&options.log_dir)?;
        let mut stack = Self {
            port: options.port,
            aws_port: options.aws_port,
            issuer: format!("http://127.0.0.1:{}", options.port),
            aws_endpoint: format!("http://127.0.0.1:{}", options.aws_port),
            env: stack_env(options.port, options.aws_port, options.mode),
            options: options.clone(),
            moto: None,
            watch: None,
        };

        let log = options.log_dir.join("moto.log");
        log_step(&format!(
            "starting moto_server on 127.0.0.1:{} (log: {})",
            options.aws_port,
            display(&log)
        ));
        let mut moto = stack.command(&moto_bin);
        moto.args(["-H", "127.0.0.1", "-p", &options.aws_port.to_string()])
            .stdin(Stdio::null());
        let (out, err) = log_files(&log)?;
        moto.stdout(out).stderr(err);
        let pid = process::spawn("moto_server", moto)?.pid;
        stack.moto = Some(pid);
        wait_ready(
            &Waiting {
                what: "moto_server",
                pid,
                port: options.aws_port,
                timeout: options.moto_timeout,
                timeout_var: "PORTCULLIS_MOTO_TIMEOUT",
                log: &log,
            },
            &[("moto", "/moto-api/", None)],
        )?;
        log_step(&format!(
            "moto_server is up (pid {pid}), AWS_ENDPOINT_URL={}",
            stack.aws_endpoint
        ));

        log_step("creating tables and secrets: portcullis --local init");
        stack
            .cli(&["init"])
            .map_err(|e| error!("portcullis --local init failed: {e}"))?;
        Ok(stack)
    }

    /// The functions under `cargo lambda watch`, waited for until each one answers.
    pub fn start_functions(&mut self) -> Result<()> {
        if self.watch.is_some() {
            return Ok(());
        }
        let cargo_lambda = venv_tool("cargo-lambda")?;
        if http::port_in_use(self.port) {
            return Err(error!(
                "port 127.0.0.1:{} is already in use (a cargo lambda watch left running?); stop \
                 that process or set {} to a free port",
                self.port,
                env::PORT
            ));
        }
        let dev = self.options.mode == Mode::Dev;
        let log = self.options.log_dir.join("watch.log");
        let port = self.port.to_string();
        let mut args = vec![
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port,
            // API Gateway adds no CORS of its own (infra/template.yaml): the functions answer
            // it themselves (portcullis_lambda::cors), and so they must locally too.
            "--disable-cors",
        ];
        if !dev {
            args.push("--ignore-changes");
        }
        let path = match std::env::var_os("PATH") {
            Some(p) => {
                let mut dirs = vec![venv_bin()];
                dirs.extend(std::env::split_paths(&p));
                std::env::join_paths(dirs).map_err(|e| error!("PATH: {e}"))?
            }
            None => venv_bin().into_os_string(),
        };
        let mut watch = self.command(&cargo_lambda);
        watch.args(&args).env("PATH", path).stdin(Stdio::null());
        if dev {
            // Rebuilds on changes: not on its own log, the venv or the build output, even where
            // .gitignore is not read.
            let ignore = self.options.log_dir.join("watch.ignore");
            std::fs::write(
                &ignore,
                "/.local/\n/.local/**\n/.venv/\n/.venv/**\n/target/\n/target/**\n*.log\n",
            )?;
            watch
                .env("CARGO_LAMBDA_IGNORE_FILE", &ignore)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        } else {
            let (out, err) = log_files(&log)?;
            watch.stdout(out).stderr(err);
        }
        log_step(&format!(
            "starting cargo {} (log: {})",
            args.join(" "),
            display(&log)
        ));
        let spawned = process::spawn("cargo lambda watch", watch)?;
        let pid = spawned.pid;
        if dev {
            tee(spawned, &log)?;
        }
        self.watch = Some(pid);
        let checks: Vec<(&str, &str, Option<u16>)> = FUNCTIONS
            .iter()
            .map(|(name, path, status)| (*name, *path, Some(*status)))
            .collect();
        wait_ready(
            &Waiting {
                what: "cargo lambda watch",
                pid,
                port: self.port,
                timeout: self.options.watch_timeout,
                timeout_var: "PORTCULLIS_WATCH_TIMEOUT",
                log: &log,
            },
            &checks,
        )?;
        log_step(&format!(
            "cargo lambda watch is up (pid {pid}), issuer {}",
            self.issuer
        ));
        Ok(())
    }

    /// A command with the stack's environment, run from the repository root.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(root());
        for k in AWS_UNSET {
            cmd.env_remove(k);
        }
        if self.options.mode == Mode::Test {
            for (k, _) in std::env::vars_os() {
                if k.to_str().is_some_and(|k| k.starts_with("PORTCULLIS_")) {
                    cmd.env_remove(k);
                }
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// One variable of the stack's environment.
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Runs the real CLI against this stack (`portcullis --local ARGS`); its stdout, or an
    /// error with its stderr.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        self.cli_with_env(&[], args)
    }

    /// [`LocalStack::cli`] with some of the stack's variables set otherwise.
    pub fn cli_with_env(&self, vars: &[(&str, &str)], args: &[&str]) -> Result<String> {
        let out = self
            .command(&portcullis_bin())
            .envs(vars.iter().copied())
            .arg("--local")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| error!("cannot run {}: {e}", portcullis_bin().display()))?;
        if !out.status.success() {
            return Err(error!(
                "portcullis {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| error!("portcullis {args:?}: {e}"))
    }

    /// Runs a Python script of the venv (boto3 is there, with moto) in the stack's environment.
    pub fn python(&self, script: &Path, args: &[&str]) -> Result<()> {
        let status = self
            .command(&venv_bin().join("python"))
            .arg(script)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| error!("cannot run {}: {e}", display(script)))?;
        if !status.success() {
            return Err(error!("{} failed ({status})", display(script)));
        }
        Ok(())
    }

    /// The CLI with `--json`, parsed (log lines around the JSON are skipped).
    pub fn cli_json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let mut all = args.to_vec();
        all.push("--json");
        let text = self.cli(&all)?;
        if let Ok(v) = serde_json::from_str(&text) {
            return Ok(v);
        }
        text.lines()
            .rev()
            .map(str::trim)
            .filter(|l| l.starts_with('{'))
            .find_map(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| error!("portcullis {all:?} printed no JSON object: {text}"))
    }

    /// Blocks until `cargo lambda watch` ends (or a signal stops everything); its exit status.
    pub fn wait(&mut self) -> Option<ExitStatus> {
        let pid = self.watch.take()?;
        process::wait(pid)
    }

    /// Stops `cargo lambda watch` (with the function processes it runs), then moto.
    pub fn stop(&mut self) {
        let mut stopped = false;
        for pid in [self.watch.take(), self.moto.take()].into_iter().flatten() {
            stopped |= process::stop(pid).is_some();
        }
        if stopped {
            log_step("the local stack is stopped");
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A process being waited for until it answers.
struct Waiting<'a> {
    what: &'a str,
    pid: u32,
    port: u16,
    timeout: Duration,
    /// The variable that sets `timeout`, for the message when it runs out.
    timeout_var: &'a str,
    log: &'a Path,
}

/// Waits until each of `checks` (name, path, expected status or any) answers on `w.port`, all
/// within `w.timeout`; fails early, with the end of its log, when the process ends.
fn wait_ready(w: &Waiting<'_>, checks: &[(&str, &str, Option<u16>)]) -> Result<()> {
    let deadline = Instant::now() + w.timeout;
    for (name, path, expected) in checks {
        let mut last = String::from("no answer");
        loop {
            if process::has_exited(w.pid) {
                let status = process::stop(w.pid)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into());
                return Err(error!(
                    "{} exited during startup ({status}){}",
                    w.what,
                    tail(w.log)
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(error!(
                    "{name} did not answer GET http://127.0.0.1:{}{path} {} within {}s (last: \
                     {last}); set {} to wait longer{}",
                    w.port,
                    match expected {
                        Some(s) => format!("with {s}"),
                        None => "at all".into(),
                    },
                    w.timeout.as_secs(),
                    w.timeout_var,
                    tail(w.log)
                ));
            }
            // The first request to a function starts it: give it the rest of the time.
            match http::get_status(w.port, path, left) {
                Ok(s) if expected.is_none_or(|e| e == s) => break,
                Ok(s) => last = format!("status {s}"),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Ok(())
}

fn log_step(msg: &str) {
    eprintln!("stack: {msg}");
}

fn venv_tool(name: &str) -> Result<PathBuf> {
    let p = venv_bin().join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(error!(
            "{} not found; run scripts/bootstrap.sh (or make bootstrap) first",
            p.display()
        ))
    }
}

/// A log file, emptied, as stdout and stderr of a process: one open file in append mode, so
/// neither overwrites the other.
fn log_files(path: &Path) -> Result<(Stdio, Stdio)> {
    File::create(path)?;
    let f = File::options().append(true).open(path)?;
    let g = f.try_clone()?;
    Ok((Stdio::from(f), Stdio::from(g)))
}

/// The last lines of a log, for an error message.
fn tail(log: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(log) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(30);
    let mut out = format!("\nlast lines of {}:", display(log));
    for l in &lines[start..] {
        out.push_str("\n    ");
        out.push_str(l);
    }
    out
}

/// Copies a process's piped stdout and stderr, line by line, to this process's stdout and to
/// `log`.
fn tee(spawned: process::Spawned, log: &Path) -> Result<()> {
    let log = Arc::new(Mutex::new(File::create(log)?));
    let streams: [(Option<Box<dyn Read + Send>>, &str); 2] = [
        (spawned.stdout.map(|s| Box::new(s) as _), "stdout"),
        (spawned.stderr.map(|s| Box::new(s) as _), "stderr"),
    ];
    for (stream, name) in streams {
        let Some(stream) = stream else { continue };
        let log = log.clone();
        std::thread::Builder::new()
            .name(format!("watch-{name}"))
            .spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    {
                        let mut out = std::io::stdout().lock();
                        let _ignored = out.write_all(&line).and_then(|()| out.flush());
                    }
                    if let Ok(mut f) = log.lock() {
                        let _ignored = f.write_all(&line);
                    }
                    line.clear();
                }
            })?;
    }
    Ok(())
}
