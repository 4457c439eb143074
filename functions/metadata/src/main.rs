//! Lambda `metadata`: `GET /.well-known/oauth-authorization-server` (RFC 8414 metadata).
fn main() -> Result<(), lambda_http::Error> {
    portcullis_lambda::run(portcullis_lambda::endpoints::metadata::MetadataEndpoint::from_env)
}
