//! `POST /api/auth/oauth/token`: parse once (client credentials, then the grant), then the
//! grant's own module.
use crate::http::{basic_credentials, body_params, json, method_not_allowed};
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::{DynamoCodes, DynamoTokens};
use portcullis_core::client_auth::ClientCredentials;
use portcullis_core::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis_core::grants::{exchange_code, TokenContext, TokenRequest};
use portcullis_core::ports::{
    CodeRedeem, CodeRedeemPort, DynamoAccess, GrantRevocation, GrantRevocationPort, Port,
    TokenIssue, TokenIssuePort,
};
use portcullis_core::settings::{ConfigError, TokenSettings};

/// The storage ports `token` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    CodeRedeemPort::DYNAMODB,
    TokenIssuePort::DYNAMODB,
    GrantRevocationPort::DYNAMODB,
];

pub struct TokenEndpoint<C, T> {
    pub settings: TokenSettings,
    pub codes: C,
    pub tokens: T,
    pub clock: Box<dyn Clock>,
    pub entropy: Box<dyn Entropy>,
}

impl TokenEndpoint<DynamoCodes, DynamoTokens> {
    /// Cold start: the codes and tokens tables (and the clients table's name, for the
    /// issuance's condition check).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = TokenSettings::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        Ok(Self {
            codes: DynamoCodes::new(db.clone(), &settings.codes_table),
            tokens: DynamoTokens::issuing(db, &settings.tokens_table, &settings.clients_table),
            settings,
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
        })
    }
}

impl<C, T> Endpoint for TokenEndpoint<C, T>
where
    C: CodeRedeem,
    T: TokenIssue + GrantRevocation,
{
    type Error = TokenError;

    async fn handle(&self, req: Request) -> Result<Response<Body>, TokenError> {
        if req.method() != Method::POST {
            return Ok(method_not_allowed("POST"));
        }
        let params = body_params(&req)?;
        let creds = ClientCredentials::from_request(basic_credentials(&req)?, &params)?;
        let ctx = TokenContext {
            clock: self.clock.as_ref(),
            entropy: self.entropy.as_ref(),
            access_ttl: self.settings.access_ttl,
            refresh_ttl: self.settings.refresh_ttl,
        };
        let tokens = match TokenRequest::parse(&params)? {
            TokenRequest::AuthorizationCode(grant) => {
                exchange_code(&self.codes, &self.tokens, &creds, &grant, &ctx).await?
            }
        };
        Ok(json(200, &tokens))
    }
}
