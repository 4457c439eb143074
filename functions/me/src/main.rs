//! Lambda `me`: `GET /api/auth/oauth/me`.
fn main() -> Result<(), lambda_http::Error> {
    portcullis_lambda::run(portcullis_lambda::endpoints::me::MeEndpoint::from_env)
}
