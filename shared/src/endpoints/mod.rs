//! One module per Lambda function: its state (built once per cold start) and its handler.
//! A function's `main.rs` only builds the state and runs the handler.
pub mod authorize;
pub mod me;
pub mod token;

use crate::config::Config;
use crate::store::DynamoStore;

/// The DynamoDB adapter for a configuration, on the real SDK path (`AWS_ENDPOINT_URL` locally).
pub fn dynamo_store(config: &Config, sdk: &aws_config::SdkConfig) -> DynamoStore {
    DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.tables.clone())
}

use lambda_http::{service_fn, Body, Request, Response};
use std::convert::Infallible;
use std::future::Future;

/// A function's request handler. Every response, errors included, is built by the handler:
/// the Lambda runtime never sees an error (which API Gateway would turn into a bare 500).
pub trait Endpoint: Send + Sync {
    fn handle(&self, req: Request) -> impl Future<Output = Response<Body>> + Send;
}

/// Runs an endpoint under the Lambda runtime: what every function's `main` does after init.
pub async fn serve<E: Endpoint>(endpoint: E) -> Result<(), lambda_http::Error> {
    let endpoint = &endpoint;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(endpoint.handle(req).await)
    }))
    .await
}
