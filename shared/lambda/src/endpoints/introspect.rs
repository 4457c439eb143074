//! `POST /api/auth/oauth/introspect`: token introspection (RFC 7662) for authenticated
//! confidential clients. Client authentication as at the token endpoint, then
//! `portcullis_core::introspect::introspect`.
use crate::http::{basic_credentials, body_params, json, method_not_allowed};
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::{DynamoClients, DynamoTokens};
use portcullis_core::client_auth::{limit_failures, ClientCredentials};
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::introspect::{introspect, IntrospectionRequest};
use portcullis_core::ports::{
    AccessTokenLookup, AccessTokenLookupPort, ClientLookup, ClientLookupPort, DynamoAccess, Port,
    TokenLookup, TokenLookupPort,
};
use portcullis_core::settings::{ConfigError, FromEnv, IntrospectSettings};

/// The storage ports `introspect` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    ClientLookupPort::DYNAMODB,
    TokenLookupPort::DYNAMODB,
    AccessTokenLookupPort::DYNAMODB,
];

pub struct IntrospectEndpoint<L, T> {
    pub settings: IntrospectSettings,
    pub clients: L,
    pub tokens: T,
    pub clock: Box<dyn Clock>,
}

impl IntrospectEndpoint<DynamoClients, DynamoTokens> {
    /// Cold start: the issuer, the clients table (authentication) and the tokens table.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = IntrospectSettings::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        Ok(Self {
            clients: DynamoClients::new(db.clone(), &settings.clients_table),
            tokens: DynamoTokens::with_clients(db, &settings.tokens_table, &settings.clients_table),
            settings,
            clock: Box::new(SystemClock),
        })
    }
}

impl<L, T> Endpoint for IntrospectEndpoint<L, T>
where
    L: ClientLookup,
    T: TokenLookup + AccessTokenLookup,
{
    type Error = TokenError;
    const CORS: bool = true;

    async fn handle(&self, req: Request) -> Result<Response<Body>, TokenError> {
        if req.method() != Method::POST {
            return Ok(method_not_allowed("POST"));
        }
        let params = body_params(&req)?;
        let creds = ClientCredentials::from_request(basic_credentials(&req)?, &params)?;
        let request = IntrospectionRequest::parse(&params)?;
        let now = self.clock.now();
        let result = introspect(
            &self.clients,
            &self.tokens,
            &creds,
            &request,
            &self.settings.issuer,
            now,
        )
        .await;
        let result = limit_failures(&self.settings.lockout, &creds, result, now);
        let answer = result?;
        // `json` marks it `no-store`: the answer describes a credential.
        Ok(json(200, &answer))
    }
}
