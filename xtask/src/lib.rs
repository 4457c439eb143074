//! The local Portcullis stack, in one place: `make dev` (the `xtask dev` binary) and the
//! end-to-end tests (`portcullis-e2e`) both start it through [`stack::LocalStack`].
//!
//! - [`stack`]: moto on `127.0.0.1`, the tables and secrets made by the real CLI
//!   (`portcullis --local init`), and every function under `cargo lambda watch`, with the
//!   environment of `portcullis_core::settings::local_stack` (the one list of local values);
//! - [`process`]: every process the stack starts, in a process group of its own, stopped by PID
//!   and process group (SIGTERM, a grace period, then SIGKILL) on exit, Ctrl-C or panic;
//! - [`dev`]: `make dev`: the stack with a demo client, the endpoints and commands printed.
//!
//! Prerequisites: `scripts/bootstrap.sh` (`.venv/bin/moto_server`, `.venv/bin/cargo-lambda`) and
//! `cargo build --workspace --bins` (`target/debug/portcullis`).
use std::fmt;
use std::path::{Path, PathBuf};

pub mod dev;
pub mod http;
pub mod process;
pub mod stack;

/// What went wrong, said for a person: what failed and what to do about it.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds an [`Error`] from a format string.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => {
        $crate::Error(format!($($arg)*))
    };
}

/// The repository root.
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, relative to the root, or `target/`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// The operator CLI, as `cargo build --workspace --bins` leaves it.
pub fn portcullis_bin() -> PathBuf {
    target_dir().join("debug/portcullis")
}

/// `.venv/bin`, where `scripts/bootstrap.sh` installs moto and cargo-lambda.
pub fn venv_bin() -> PathBuf {
    root().join(".venv/bin")
}

/// `path` relative to the root when it is inside it, for messages.
pub fn display(path: &Path) -> String {
    let root = root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}
