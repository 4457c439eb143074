//! Lambda `refresh`: `POST /api/auth/oauth/refreshToken` (Cal.com's refresh path).
fn main() -> Result<(), lambda_http::Error> {
    portcullis_lambda::run(portcullis_lambda::endpoints::refresh::RefreshEndpoint::from_env)
}
