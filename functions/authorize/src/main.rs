//! Lambda `authorize`: `GET|POST /auth/oauth2/authorize` (and the dev login, when enabled).
use portcullis::endpoints::{authorize::AuthorizeEndpoint, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portcullis::telemetry::init();
    serve(AuthorizeEndpoint::from_env().await?).await
}
