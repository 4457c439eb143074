//! `POST /api/auth/oauth/token`: parse once (client credentials, then the grant), then the
//! grant's own module: `authorization_code`, `refresh_token` or `client_credentials`.
use crate::http::{basic_credentials, body_params, json, method_not_allowed};
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::rings::ring;
use portcullis_aws::{DynamoClients, DynamoCodes, DynamoTokens};
use portcullis_core::client_auth::{limit_failures, ClientCredentials};
use portcullis_core::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis_core::codec::IssuingKeys;
use portcullis_core::grants::client_credentials::authenticate_with_resource;
use portcullis_core::grants::{
    exchange_code, issue_client_token, refresh_tokens, TokenContext, TokenRequest,
};
use portcullis_core::ports::{
    AssertionReplay, AssertionReplayPort, ClientLookup, ClientLookupPort, CodeRedeem,
    CodeRedeemPort, DynamoAccess, GrantAdvance, GrantAdvancePort, GrantLookup, GrantLookupPort,
    GrantRead, GrantReadPort, GrantRevocation, GrantRevocationPort, GrantStart, GrantStartPort,
    Port, TokenRateLimit, TokenRateLimitPort,
};
use portcullis_core::rings::Ring;
use portcullis_core::settings::{ConfigError, FromEnv, TokenSettings};

/// The storage ports `token` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    ClientLookupPort::DYNAMODB,
    CodeRedeemPort::DYNAMODB,
    GrantStartPort::DYNAMODB,
    GrantLookupPort::DYNAMODB,
    GrantReadPort::DYNAMODB,
    GrantAdvancePort::DYNAMODB,
    GrantRevocationPort::DYNAMODB,
    TokenRateLimitPort::DYNAMODB,
    AssertionReplayPort::DYNAMODB,
    // RFC 8707: a client-credentials request's resource, with the client or alone.
    portcullis_core::ports::ResourceLookupPort::DYNAMODB,
    // A registered client's TTL, pushed forward at a refresh (`dcr_…`/`cimd_…` keys only).
    portcullis_core::ports::ClientTouchPort::DYNAMODB,
];

pub struct TokenEndpoint<L, C, T> {
    pub settings: TokenSettings,
    /// Read only on failure paths, to authenticate a client the code does not name.
    pub clients: L,
    pub codes: C,
    pub tokens: T,
    pub clock: Box<dyn Clock>,
    pub entropy: Box<dyn Entropy>,
    /// The mint, tag and access-tag keys (`portcullis_core::codec`).
    pub mint: Ring,
    pub tag: Ring,
    pub access_tag: Ring,
}

impl TokenEndpoint<DynamoClients, DynamoCodes, DynamoTokens> {
    /// Cold start: the codes and tokens tables, the clients table (read with a grant at a
    /// refresh, and on the exchange's failure paths), and the three key secrets (read at the
    /// first request, then cached).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = TokenSettings::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        Ok(Self {
            clients: DynamoClients::new(db.clone(), &settings.clients_table),
            codes: DynamoCodes::new(db.clone(), &settings.codes_table),
            tokens: DynamoTokens::with_clients(db, &settings.tokens_table, &settings.clients_table),
            mint: ring(&sdk, &settings.mint_secret_id, settings.key_cache_ttl),
            tag: ring(&sdk, &settings.tag_secret_id, settings.key_cache_ttl),
            access_tag: ring(&sdk, &settings.access_tag_secret_id, settings.key_cache_ttl),
            settings,
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
        })
    }
}

impl<L, C, T> Endpoint for TokenEndpoint<L, C, T>
where
    L: ClientLookup + portcullis_core::ports::ResourceLookup,
    C: CodeRedeem + TokenRateLimit + AssertionReplay,
    T: GrantStart
        + GrantLookup
        + GrantRead
        + GrantAdvance
        + GrantRevocation
        + portcullis_core::ports::ClientTouch,
{
    type Error = TokenError;
    const CORS: bool = true;

    async fn handle(&self, req: Request) -> Result<Response<Body>, TokenError> {
        if req.method() != Method::POST {
            return Ok(method_not_allowed("POST"));
        }
        let params = body_params(&req)?;
        let creds = ClientCredentials::from_request(basic_credentials(&req)?, &params)?;
        let now = self.clock.now();
        let (creds, asserted) = super::check_assertion(
            &self.clients,
            &self.codes,
            &self.settings.assertions,
            portcullis_core::metadata::paths::TOKEN,
            creds,
            now,
        )
        .await?;
        let (mint, tag, access_tag) = (
            self.mint.ring(now).await?,
            self.tag.ring(now).await?,
            self.access_tag.ring(now).await?,
        );
        let ctx = TokenContext {
            clock: self.clock.as_ref(),
            entropy: self.entropy.as_ref(),
            lifetimes: &self.settings.lifetimes,
            scopes: &self.settings.scopes,
            keys: IssuingKeys {
                mint: &mint,
                tag: &tag,
                access_tag: &access_tag,
            },
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
                refresh_tokens(&self.tokens, &creds, &grant, &ctx).await
            }
            // RFC 6749 §4.4.2: the client authenticates against its current registration
            // (the one read, with the RFC 8707 resource when the request names one), then its
            // token is one write.
            TokenRequest::ClientCredentials(grant) => {
                match authenticate_with_resource(&self.clients, &creds, asserted, &grant, now).await
                {
                    Ok((client, found)) => {
                        issue_client_token(
                            &self.tokens,
                            &self.codes,
                            &client,
                            found.as_ref(),
                            &grant,
                            &ctx,
                        )
                        .await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let result = limit_failures(&self.settings.lockout, &creds, result, now);
        Ok(json(200, &result?))
    }
}
