//! Portcullis's AWS adapters (production): one DynamoDB adapter per table, each implementing the
//! storage ports of `portcullis_core::ports` that touch its table; the SDK set-up; the hardened
//! fetcher of client metadata documents ([`fetch`]); and, with the `secrets` feature, the Secrets
//! Manager key sources.
//!
//! Every state change is one conditional request; expiry is in every condition and read because
//! TTL deletes items late.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod api_keys;
pub mod clients;
pub mod codes;
pub mod fetch;
pub mod metering;
pub mod registration;
#[cfg(feature = "secrets")]
pub mod rings;
pub mod sdk;
#[cfg(feature = "secrets")]
pub mod secrets;
pub mod tokens;

pub use clients::{DynamoClientAuth, DynamoClients};
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

pub(crate) fn value<T: serde::Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(v).map_err(|e| StoreError::Corrupt(Box::new(e)))
}

/// An UpdateItem being assembled: `SET`/`REMOVE` clauses and their values, by name.
#[derive(Default)]
pub(crate) struct UpdateExpr {
    pub(crate) set: Vec<String>,
    pub(crate) remove: Vec<String>,
    pub(crate) names: Vec<(String, String)>,
    pub(crate) values: Vec<(String, AttributeValue)>,
}

impl UpdateExpr {
    pub(crate) fn set(&mut self, attribute: &str, v: AttributeValue) {
        self.set.push(format!("#{attribute} = :{attribute}"));
        self.names
            .push((format!("#{attribute}"), attribute.to_string()));
        self.values.push((format!(":{attribute}"), v));
    }

    pub(crate) fn remove(&mut self, attribute: &str) {
        self.remove.push(format!("#{attribute}"));
        self.names
            .push((format!("#{attribute}"), attribute.to_string()));
    }

    pub(crate) fn expression(&self) -> String {
        let mut e = String::new();
        if !self.set.is_empty() {
            e.push_str("SET ");
            e.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            if !e.is_empty() {
                e.push(' ');
            }
            e.push_str("REMOVE ");
            e.push_str(&self.remove.join(", "));
        }
        e
    }
}
