//! `POST /api/auth/oauth/token`: parse once (client credentials, then the grant), then the
//! grant's own module: `authorization_code` or `refresh_token`.
use crate::http::{basic_credentials, body_params, json, method_not_allowed};
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::{DynamoClients, DynamoCodes, DynamoTokens};
use portcullis_core::client_auth::{limit_failures, ClientCredentials};
use portcullis_core::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis_core::grants::{exchange_code, refresh_tokens, TokenContext, TokenRequest};
use portcullis_core::ports::{
    ClientLookup, ClientLookupPort, CodeRedeem, CodeRedeemPort, DynamoAccess, GrantRevocation,
    GrantRevocationPort, Port, RefreshRotation, RefreshRotationPort, TokenIssue, TokenIssuePort,
    TokenLookup, TokenLookupPort,
};
use portcullis_core::settings::{ConfigError, FromEnv, TokenSettings};

/// The storage ports `token` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    ClientLookupPort::DYNAMODB,
    CodeRedeemPort::DYNAMODB,
    TokenIssuePort::DYNAMODB,
    RefreshRotationPort::DYNAMODB,
    TokenLookupPort::DYNAMODB,
    GrantRevocationPort::DYNAMODB,
];

pub struct TokenEndpoint<L, C, T> {
    pub settings: TokenSettings,
    /// Read only on failure paths, to authenticate a client the grant does not name.
    pub clients: L,
    pub codes: C,
    pub tokens: T,
    pub clock: Box<dyn Clock>,
    pub entropy: Box<dyn Entropy>,
}

impl TokenEndpoint<DynamoClients, DynamoCodes, DynamoTokens> {
    /// Cold start: the codes and tokens tables, and the clients table (named in the
    /// issuance's condition check, read only on failure paths).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = TokenSettings::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        Ok(Self {
            clients: DynamoClients::new(db.clone(), &settings.clients_table),
            codes: DynamoCodes::new(db.clone(), &settings.codes_table),
            tokens: DynamoTokens::with_clients(db, &settings.tokens_table, &settings.clients_table),
            settings,
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
        })
    }
}

impl<L, C, T> Endpoint for TokenEndpoint<L, C, T>
where
    L: ClientLookup,
    C: CodeRedeem,
    T: TokenIssue + RefreshRotation + TokenLookup + GrantRevocation,
{
    type Error = TokenError;
    const CORS: bool = true;

    async fn handle(&self, req: Request) -> Result<Response<Body>, TokenError> {
        if req.method() != Method::POST {
            return Ok(method_not_allowed("POST"));
        }
        let params = body_params(&req)?;
        let creds = ClientCredentials::from_request(basic_credentials(&req)?, &params)?;
        let ctx = TokenContext {
            clock: self.clock.as_ref(),
            entropy: self.entropy.as_ref(),
            lifetimes: &self.settings.lifetimes,
            scopes: &self.settings.scopes,
        };
        let result = match TokenRequest::parse(&params)? {
            TokenRequest::AuthorizationCode(grant) => {
                exchange_code(
                    &self.clients,
                    &self.codes,
                    &self.tokens,
                    &creds,
                    &grant,
                    &ctx,
                )
                .await
            }
            TokenRequest::RefreshToken(grant) => {
                refresh_tokens(&self.clients, &self.tokens, &creds, &grant, &ctx).await
            }
        };
        let now = self.clock.now();
        let result = limit_failures(&self.settings.lockout, &creds, result, now);
        Ok(json(200, &result?))
    }
}
