//! Lambda `token`: `POST /api/auth/oauth/token`.
fn main() -> Result<(), lambda_http::Error> {
    portcullis_lambda::run(portcullis_lambda::endpoints::token::TokenEndpoint::from_env)
}
