//! Which deployment a command acts on, and how its table and secret names are found:
//!
//! - `--local`: the local stack (moto on 127.0.0.1), its defaults for anything not set;
//! - `--stack NAME`: the CloudFormation stack's outputs ([`STACK_OUTPUTS`]), read with
//!   DescribeStacks, over the environment;
//! - otherwise the environment, with the same variables the functions read.
//!
//! For a deployed stage the region and the credentials are checked before the first call, so a
//! missing one is reported as such and not as a failed request.
use crate::error::CliError;
use portcullis_core::error::{error_chain, StoreError};
use portcullis_core::settings::env;

/// The deployment a command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `--local`, or an `AWS_ENDPOINT_URL` on a loopback host (the local stack's moto).
    Local,
    /// A deployed stage named by the environment's `PORTCULLIS_*` variables.
    Environment,
    /// A deployed stage named by a CloudFormation stack's outputs.
    Stack(String),
}

impl Target {
    /// `--stack` wins; then `--local` or an endpoint on a loopback host; else the environment.
    pub fn choose(local: bool, stack: Option<&str>, endpoint: Option<&str>) -> Self {
        if let Some(name) = stack {
            return Self::Stack(name.to_string());
        }
        let loopback = endpoint
            .and_then(|e| url::Url::parse(e).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .is_some_and(|h| matches!(h.as_str(), "127.0.0.1" | "localhost" | "[::1]"));
        if local || loopback {
            Self::Local
        } else {
            Self::Environment
        }
    }

    pub fn is_local(&self) -> bool {
        *self == Self::Local
    }

    /// How messages name it: `the local stack`, `stack NAME`, `the stage in the environment`.
    pub fn describe(&self) -> String {
        match self {
            Self::Local => "the local stack".into(),
            Self::Environment => "the stage named by the PORTCULLIS_* variables".into(),
            Self::Stack(name) => format!("stack {name}"),
        }
    }
}

/// The stack outputs `--stack` reads, and the variable each stands for. The first three are
/// required; the others are read when present. `infra/template.yaml` declares them.
pub const STACK_OUTPUTS: &[(&str, &str, bool)] = &[
    ("ClientsTableName", env::CLIENTS_TABLE, true),
    ("CodesTableName", env::CODES_TABLE, true),
    ("TokensTableName", env::TOKENS_TABLE, true),
    ("BookingsTableName", env::BOOKINGS_TABLE, false),
    ("KeysSecretArn", env::SECRET_ID, false),
    ("MintKeySecretArn", env::MINT_SECRET_ID, false),
    ("TagKeySecretArn", env::TAG_SECRET_ID, false),
    ("AccessTagKeySecretArn", env::ACCESS_TAG_SECRET_ID, false),
    ("Issuer", env::ISSUER, false),
];

/// The variables a stack's outputs give, or which required outputs it lacks.
pub fn outputs_to_vars(
    stack: &str,
    outputs: &[(String, String)],
) -> Result<Vec<(&'static str, String)>, CliError> {
    let mut vars = Vec::new();
    let mut missing = Vec::new();
    for (output, var, required) in STACK_OUTPUTS {
        match outputs.iter().find(|(k, v)| k == output && !v.is_empty()) {
            Some((_, v)) => vars.push((*var, v.clone())),
            None if *required => missing.push(*output),
            None => {}
        }
    }
    if !missing.is_empty() {
        return Err(CliError::Target {
            message: format!(
                "stack {stack} has no output {} (looked in its DescribeStacks outputs)",
                missing.join(", ")
            ),
            hint: "deploy the stack from this version's infra/template.yaml, which declares them, or set the PORTCULLIS_* variables instead of --stack".into(),
        });
    }
    Ok(vars)
}

/// The region, or an error saying where it was looked for.
pub fn require_region(sdk: &aws_config::SdkConfig) -> Result<String, CliError> {
    sdk.region().map(|r| r.to_string()).ok_or_else(|| CliError::Target {
        message: "no AWS region (looked in AWS_REGION, AWS_DEFAULT_REGION and the profile's `region` in ~/.aws/config)".into(),
        hint: "set AWS_REGION, or AWS_PROFILE naming a profile with a region; or pass --local for the local stack".into(),
    })
}

/// Resolves the credentials once, so that none is reported as such.
pub async fn require_credentials(sdk: &aws_config::SdkConfig) -> Result<(), CliError> {
    use aws_sdk_dynamodb::config::ProvideCredentials;
    let hint = "set AWS_PROFILE (after `aws sso login` if it uses SSO) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; or pass --local for the local stack";
    let Some(provider) = sdk.credentials_provider() else {
        return Err(CliError::Target {
            message: "no AWS credentials provider is configured".into(),
            hint: hint.into(),
        });
    };
    provider
        .provide_credentials()
        .await
        .map(|_| ())
        .map_err(|e| CliError::Target {
            message: format!(
                "no AWS credentials (looked in the environment, AWS_PROFILE and ~/.aws, SSO, and the container or instance role): {}",
                error_chain(&e)
            ),
            hint: hint.into(),
        })
}

/// DescribeStacks for `stack`: its outputs as `(key, value)` pairs.
pub async fn stack_outputs(
    sdk: &aws_config::SdkConfig,
    stack: &str,
    region: &str,
) -> Result<Vec<(String, String)>, CliError> {
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            let missing = e
                .as_service_error()
                .and_then(|s| s.message())
                .is_some_and(|m| m.contains("does not exist"));
            if missing {
                CliError::Target {
                    message: format!("no CloudFormation stack named {stack} in region {region}"),
                    hint: "check the stack's name and AWS_REGION / AWS_PROFILE (`aws cloudformation describe-stacks`)".into(),
                }
            } else {
                CliError::aws(format!("reading the outputs of stack {stack} in {region}"), e)
            }
        })?;
    let Some(found) = out.stacks().first() else {
        return Err(CliError::Target {
            message: format!("no CloudFormation stack named {stack} in region {region}"),
            hint: "check the stack's name and AWS_REGION / AWS_PROFILE".into(),
        });
    };
    Ok(found
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect())
}

/// A storage failure while doing `what` on `table`: a missing table, or credentials the service
/// refuses, become [`CliError::Target`] naming the table and the target; anything else stays
/// an AWS error with its cause.
pub fn storage_error(
    what: &str,
    table: &str,
    target: &Target,
    region: Option<&str>,
    e: StoreError,
) -> CliError {
    // The SDK's error types differ per operation; their text names the error code.
    let chain = error_chain(&e);
    let place = format!(
        "{} in region {}",
        target.describe(),
        region.unwrap_or("(none)")
    );
    if chain.contains("ResourceNotFoundException") {
        return CliError::Target {
            message: format!("{what}: table {table} not found ({place})"),
            hint: "check the table names (PORTCULLIS_*_TABLE or the stack's outputs) and the region; `portcullis --local init` creates the local stack's".into(),
        };
    }
    if [
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredToken",
        "AccessDeniedException",
    ]
    .iter()
    .any(|c| chain.contains(c))
    {
        return CliError::Target {
            message: format!(
                "{what}: AWS refused the credentials for table {table} ({place}): {chain}"
            ),
            hint: "check AWS_PROFILE or the AWS_* credentials and their permissions on the table"
                .into(),
        };
    }
    CliError::aws(what, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(keys: &[&str]) -> Vec<(String, String)> {
        keys.iter()
            .map(|k| (k.to_string(), format!("v-{k}")))
            .collect()
    }

    #[test]
    fn stack_outputs_map_onto_the_functions_variables() {
        let vars = outputs_to_vars(
            "prod",
            &outputs(&[
                "ClientsTableName",
                "CodesTableName",
                "TokensTableName",
                "KeysSecretArn",
                "MintKeySecretArn",
                "TagKeySecretArn",
                "AccessTagKeySecretArn",
                "Issuer",
                "ApiUrl",
            ]),
        )
        .unwrap();
        assert_eq!(
            vars,
            [
                (env::CLIENTS_TABLE, "v-ClientsTableName".to_string()),
                (env::CODES_TABLE, "v-CodesTableName".to_string()),
                (env::TOKENS_TABLE, "v-TokensTableName".to_string()),
                (env::SECRET_ID, "v-KeysSecretArn".to_string()),
                (env::MINT_SECRET_ID, "v-MintKeySecretArn".to_string()),
                (env::TAG_SECRET_ID, "v-TagKeySecretArn".to_string()),
                (
                    env::ACCESS_TAG_SECRET_ID,
                    "v-AccessTagKeySecretArn".to_string()
                ),
                (env::ISSUER, "v-Issuer".to_string()),
            ]
        );
    }

    #[test]
    fn a_missing_stack_output_is_named_with_where_it_was_looked_for() {
        let e = outputs_to_vars("prod", &outputs(&["CodesTableName"])).unwrap_err();
        assert_eq!(e.code(), "target");
        assert_eq!(
            e.to_string(),
            "stack prod has no output ClientsTableName, TokensTableName (looked in its DescribeStacks outputs)"
        );
    }

    #[test]
    fn the_target_is_the_stack_then_local_then_the_environment() {
        assert_eq!(
            Target::choose(false, Some("prod"), None),
            Target::Stack("prod".into())
        );
        assert_eq!(Target::choose(true, None, None), Target::Local);
        for local in [
            "http://127.0.0.1:5000",
            "http://localhost:4566",
            "http://[::1]:5000",
        ] {
            assert_eq!(Target::choose(false, None, Some(local)), Target::Local);
        }
        assert_eq!(
            Target::choose(
                false,
                None,
                Some("https://dynamodb.eu-west-1.amazonaws.com")
            ),
            Target::Environment
        );
        assert_eq!(Target::choose(false, None, None), Target::Environment);
    }

    #[test]
    fn a_missing_table_names_the_table_and_the_target() {
        let e = StoreError::Failed(Box::new(std::io::Error::other(
            "ResourceNotFoundException: Requested resource not found",
        )));
        let e = storage_error(
            "listing clients",
            "prod-clients",
            &Target::Stack("prod".into()),
            Some("eu-west-1"),
            e,
        );
        assert_eq!(e.code(), "target");
        assert_eq!(
            e.to_string(),
            "listing clients: table prod-clients not found (stack prod in region eu-west-1)"
        );
        let other = StoreError::Failed(Box::new(std::io::Error::other("boom")));
        let e = storage_error("x", "t", &Target::Local, None, other);
        assert_eq!(e.code(), "aws");
    }

    #[test]
    fn refused_credentials_are_a_target_error() {
        let e = StoreError::Failed(Box::new(std::io::Error::other(
            "UnrecognizedClientException: The security token included in the request is invalid",
        )));
        let e = storage_error("x", "t", &Target::Environment, Some("us-east-1"), e);
        assert_eq!(e.code(), "target");
        assert!(e.to_string().contains("refused the credentials"), "{e}");
    }
}
