//! Lambda `revoke`: `POST /api/auth/oauth/revoke` (RFC 7009 token revocation).
fn main() -> Result<(), lambda_http::Error> {
    portcullis_lambda::run(portcullis_lambda::endpoints::revoke::RevokeEndpoint::from_env)
}
