//! AWS SDK set-up, shared by the functions, the resource crate and the CLI. `AWS_ENDPOINT_URL` (the local stack)
//! is honoured by the SDK itself: the code path is the production one.
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use std::time::Duration;

/// The longest one AWS call may take, retries included. The functions' Lambda timeout
/// (`infra/template.yaml`) must be longer, so that a hung call ends as a 503, not a timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// Loads the SDK configuration with timeouts well inside a Lambda's budget, so that a hung AWS
/// call ends as a 503 rather than a Lambda timeout.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

pub use aws_config::SdkConfig;

/// The DynamoDB client for a configuration. With `PORTCULLIS_METER_FILE` set (`make bench`
/// only), every call it sends is metered ([`crate::metering`]).
pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    match crate::metering::Meter::from_env() {
        None => aws_sdk_dynamodb::Client::new(sdk),
        Some(meter) => aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .interceptor(meter)
                .build(),
        ),
    }
}
