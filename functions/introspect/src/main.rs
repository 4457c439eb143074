//! Lambda `introspect`: `POST /api/auth/oauth/introspect` (RFC 7662 token introspection).
fn main() -> Result<(), lambda_http::Error> {
    portcullis_lambda::run(portcullis_lambda::endpoints::introspect::IntrospectEndpoint::from_env)
}
