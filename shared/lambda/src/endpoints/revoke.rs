//! `POST /api/auth/oauth/revoke`: token revocation (RFC 7009). Client authentication as at the
//! token endpoint, then `portcullis_core::revoke::revoke_token`; the answer is an empty `200`
//! whatever the token was (§2.2).
use crate::http::{basic_credentials, body_params, method_not_allowed};
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, PRAGMA};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::{DynamoClients, DynamoTokens};
use portcullis_core::client_auth::{limit_failures, ClientCredentials};
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::ports::{
    AccessTokenRevocation, AccessTokenRevocationPort, ClientLookup, ClientLookupPort, DynamoAccess,
    GrantRevocation, GrantRevocationPort, Port, TokenLookup, TokenLookupPort,
};
use portcullis_core::revoke::{revoke_token, RevocationRequest};
use portcullis_core::settings::{ConfigError, FromEnv, RevokeSettings};

/// The storage ports `revoke` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    ClientLookupPort::DYNAMODB,
    AccessTokenRevocationPort::DYNAMODB,
    TokenLookupPort::DYNAMODB,
    GrantRevocationPort::DYNAMODB,
];

pub struct RevokeEndpoint<L, T> {
    pub settings: RevokeSettings,
    pub clients: L,
    pub tokens: T,
    pub clock: Box<dyn Clock>,
}

impl RevokeEndpoint<DynamoClients, DynamoTokens> {
    /// Cold start: the clients table (authentication) and the tokens table.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = RevokeSettings::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        Ok(Self {
            clients: DynamoClients::new(db.clone(), &settings.clients_table),
            tokens: DynamoTokens::new(db, &settings.tokens_table),
            clock: Box::new(SystemClock),
            settings,
        })
    }
}

/// RFC 7009 §2.2: `200` with no content; not cacheable (it answers for a credential).
fn revoked() -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

impl<L, T> Endpoint for RevokeEndpoint<L, T>
where
    L: ClientLookup,
    T: AccessTokenRevocation + TokenLookup + GrantRevocation,
{
    type Error = TokenError;
    const CORS: bool = true;

    async fn handle(&self, req: Request) -> Result<Response<Body>, TokenError> {
        if req.method() != Method::POST {
            return Ok(method_not_allowed("POST"));
        }
        let params = body_params(&req)?;
        let creds = ClientCredentials::from_request(basic_credentials(&req)?, &params)?;
        let request = RevocationRequest::parse(&params)?;
        let now = self.clock.now();
        let result = revoke_token(&self.clients, &self.tokens, &creds, &request, now).await;
        let result = limit_failures(&self.settings.lockout, &creds, result, now);
        let done = result?;
        tracing::info!(outcome = ?done, "revocation");
        Ok(revoked())
    }
}
