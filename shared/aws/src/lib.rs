//! Portcullis's AWS adapters (production): one DynamoDB adapter per table, each implementing the
//! storage ports of `portcullis_core::ports` that touch its table; the SDK set-up; and, with the
//! `secrets` feature, the Secrets Manager key sources.
//!
//! Every state change is one conditional request; expiry is in every condition and read because
//! TTL deletes items late.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod api_keys;
pub mod clients;
pub mod codes;
pub mod metering;
pub mod sdk;
#[cfg(feature = "secrets")]
pub mod secrets;
pub mod tokens;

pub use clients::DynamoClients;
pub use codes::DynamoCodes;
pub use tokens::DynamoTokens;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use portcullis_core::error::StoreError;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// Error codes that mean "try again later": throttling, capacity, DynamoDB's own faults.
const RETRYABLE: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Sorts an SDK failure into "unavailable" (a 503 for the caller) or "failed" (a bug or a
/// misconfiguration: a 500, with the cause in the log).
pub(crate) fn classify<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error()
                || s.err().code().is_some_and(|c| RETRYABLE.contains(&c))
        }
        _ => false,
    };
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    if retryable {
        StoreError::Unavailable(boxed)
    } else {
        StoreError::Failed(boxed)
    }
}

/// Whether a call failed on its condition expression (nothing was written).
pub(crate) fn condition_failed<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    e.as_service_error().and_then(|se| se.code()) == Some("ConditionalCheckFailedException")
}

/// A conditional write's outcome: `Ok(true)` when applied, `Ok(false)` when its condition
/// failed, and any other failure classified.
pub(crate) fn applied<O, E>(res: Result<O, SdkError<E, HttpResponse>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(classify(e)),
    }
}

pub(crate) fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(Box::new(e)))
}

pub(crate) fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(Box::new(e)))
}

pub(crate) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

pub(crate) fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Failed(Box::new(e))
}
