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
    /// A flag's value is refused, before anything is sent to AWS.
    #[error("{0}")]
    Invalid(String),
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
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Config(_) => Some(
                "set the PORTCULLIS_* variables of your deployment, or pass --local for the local stack",
            ),
            Self::Template(TemplateError::Read { .. }) => {
                Some("run it from the repository root, or pass --template")
            }
            _ => None,
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
             (hint: set the PORTCULLIS_* variables of your deployment, or pass --local for the local stack)"
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
