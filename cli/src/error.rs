//! The CLI's error: what the CLI was doing, with the underlying error kept as its source, so that
//! `main` prints the whole chain on one line (`error: creating table t: storage request failed:
//! ...`), by `Display` only. No variant carries a secret: flag values that are echoed back
//! (a redirect URI, a logo URL, a scope) are not secrets, and neither are AWS error messages.
use crate::template::TemplateError;
use portcullis_core::error::error_chain;
use portcullis_core::settings::ConfigError;
use std::error::Error;

/// Any error, as an AWS call or a port reports it.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The environment does not describe a deployment: a variable is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A flag's value is refused, before anything is sent to AWS (exit code 2, like clap's
    /// usage errors).
    #[error("{0}")]
    Invalid(String),
    /// What the command names does not exist (a client id, a grant id).
    #[error("{0}")]
    NotFound(String),
    /// The deployment cannot be reached as configured: no region, no credentials, no such
    /// stack, a missing stack output, a missing table. `hint` says where it was looked for.
    #[error("{message}")]
    Target { message: String, hint: String },
    /// The SAM template cannot be read, or does not define what this version expects.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// An AWS call failed, or returned something unusable; `what` says what the CLI was doing.
    #[error("{what}")]
    Aws {
        what: String,
        #[source]
        source: BoxError,
    },
    /// The async runtime did not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The result could not be written as JSON.
    #[error("cannot write the result as JSON")]
    Output(#[source] serde_json::Error),
}

impl CliError {
    /// An AWS failure while doing `what` (`creating table t`, `reading the keys`).
    pub fn aws(what: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self::Aws {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// What the operator can do about it, when that is known.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::Config(_) => Some(
                "set the PORTCULLIS_* variables of your deployment, pass --stack NAME, or pass --local for the local stack",
            ),
            Self::Template(TemplateError::Read { .. }) => {
                Some("run it from the repository root, or pass --template")
            }
            Self::Target { hint, .. } => Some(hint),
            _ => None,
        }
    }

    /// The process's exit code: 2 for a refused flag value (as for clap's usage errors), 1 for
    /// any other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid(_) => 2,
            _ => 1,
        }
    }

    /// A stable name for the kind of error, for scripts (`--json`'s `error`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Invalid(_) => "invalid_argument",
            Self::NotFound(_) => "not_found",
            Self::Target { .. } => "target",
            Self::Template(_) => "template",
            Self::Aws { .. } => "aws",
            Self::Runtime(_) => "runtime",
            Self::Output(_) => "output",
        }
    }

    /// What `main` prints on stderr: `error: ` and the source chain, then the hint if any.
    pub fn report(&self) -> String {
        let mut s = format!("error: {}", error_chain(self));
        if let Some(hint) = self.hint() {
            s.push_str("\n(hint: ");
            s.push_str(hint);
            s.push(')');
        }
        s
    }

    /// What `main` prints on stderr with `--json`: one line,
    /// `{"error": code, "message": chain, "hint": hint-or-null}`.
    pub fn json_report(&self) -> String {
        serde_json::json!({
            "error": self.code(),
            "message": error_chain(self),
            "hint": self.hint(),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::error::StoreError;
    use std::fmt;

    /// An error with a source of its own, as an SDK error has.
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("service error")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_aws_error_reports_what_was_being_done_and_every_source() {
        let inner = Outer(std::io::Error::other(
            "ResourceNotFoundException: no such table",
        ));
        let e = CliError::aws(
            "registering the client",
            StoreError::Failed(Box::new(inner)),
        );
        assert_eq!(e.to_string(), "registering the client");
        assert_eq!(
            e.report(),
            "error: registering the client: storage request failed: service error: \
             ResourceNotFoundException: no such table"
        );
        // The chain is reachable through `source()`, not only flattened into a string.
        let src = e.source().expect("the source is kept");
        assert_eq!(src.to_string(), "storage request failed");
        assert!(src.source().is_some());
    }

    #[test]
    fn a_config_error_reads_as_before_and_carries_the_hint() {
        let e = CliError::from(ConfigError(
            "missing environment variables: PORTCULLIS_CLIENTS_TABLE".into(),
        ));
        assert_eq!(
            e.report(),
            "error: configuration error: missing environment variables: PORTCULLIS_CLIENTS_TABLE\n\
             (hint: set the PORTCULLIS_* variables of your deployment, pass --stack NAME, or pass --local for the local stack)"
        );
    }

    #[test]
    fn a_template_read_error_names_the_file_the_cause_and_the_hint() {
        let e = CliError::from(TemplateError::Read {
            path: "nowhere/template.yaml".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
        });
        assert_eq!(
            e.report(),
            "error: cannot read nowhere/template.yaml: not found\n\
             (hint: run it from the repository root, or pass --template)"
        );
    }

    #[test]
    fn a_refused_flag_exits_2_and_other_failures_1() {
        assert_eq!(CliError::Invalid("x".into()).exit_code(), 2);
        assert_eq!(CliError::NotFound("x".into()).exit_code(), 1);
        assert_eq!(CliError::from(ConfigError("x".into())).exit_code(), 1);
        let e = CliError::aws("x", std::io::Error::other("y"));
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn the_json_report_is_one_line_with_code_message_and_hint() {
        let e = CliError::Target {
            message: "no AWS region".into(),
            hint: "set AWS_REGION".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&e.json_report()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "target", "message": "no AWS region", "hint": "set AWS_REGION"})
        );
        let e = CliError::NotFound("no client has the id c1".into());
        let v: serde_json::Value = serde_json::from_str(&e.json_report()).unwrap();
        assert_eq!(v["error"], "not_found");
        assert_eq!(v["hint"], serde_json::Value::Null);
        assert!(!e.json_report().contains('\n'));
    }

    #[test]
    fn an_invalid_flag_has_no_hint_and_no_source() {
        let e = CliError::Invalid("--name must be 1 to 100 characters".into());
        assert!(e.source().is_none());
        assert_eq!(e.report(), "error: --name must be 1 to 100 characters");
    }

    #[test]
    fn a_runtime_error_keeps_the_io_cause() {
        let e = CliError::Runtime(std::io::Error::other("too many open files"));
        assert_eq!(
            e.report(),
            "error: cannot start the async runtime: too many open files"
        );
    }
}
