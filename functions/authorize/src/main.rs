//! Lambda `authorize`: `GET|POST /auth/oauth2/authorize` (and the dev login, when enabled).
fn main() -> Result<(), lambda_http::Error> {
    portcullis_lambda::run(portcullis_lambda::endpoints::authorize::AuthorizeEndpoint::from_env)
}
