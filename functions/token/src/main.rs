//! Lambda `token`: `POST /api/auth/oauth/token`.
use portcullis::endpoints::{serve, token::TokenEndpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portcullis::telemetry::init();
    serve(TokenEndpoint::from_env().await?).await
}
