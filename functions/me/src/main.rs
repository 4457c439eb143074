//! Lambda `me`: `GET /api/auth/oauth/me`.
use portcullis::endpoints::{me::MeEndpoint, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portcullis::telemetry::init();
    serve(MeEndpoint::from_env().await?).await
}
