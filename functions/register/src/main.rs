//! Lambda `register`: `POST /api/auth/oauth/register` (RFC 7591 dynamic client registration).
fn main() -> Result<(), lambda_http::Error> {
    portcullis_lambda::run(portcullis_lambda::endpoints::register::RegisterEndpoint::from_env)
}
