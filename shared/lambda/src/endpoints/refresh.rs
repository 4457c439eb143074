//! `POST /api/auth/oauth/refreshToken`: Cal.com's refresh path. The refresh token comes in
//! `Authorization: Bearer` (Cal.com's contract) or as `refresh_token` in the body; client
//! credentials in the body, or in HTTP Basic (then the refresh token must be in the body). The
//! rules are the token endpoint's `grant_type=refresh_token`: one implementation,
//! `portcullis_core::grants::refresh_tokens`, and one response.
use crate::http::{basic_credentials, body_params, header, json, method_not_allowed};
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::rings::ring;
use portcullis_aws::DynamoTokens;
use portcullis_core::client_auth::{limit_failures, ClientCredentials};
use portcullis_core::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis_core::codec::IssuingKeys;
use portcullis_core::error::OAuthError;
use portcullis_core::grants::{refresh_tokens, RefreshGrant, TokenContext};
use portcullis_core::ports::{
    DynamoAccess, GrantAdvance, GrantAdvancePort, GrantLookup, GrantLookupPort, GrantRead,
    GrantReadPort, GrantRevocation, GrantRevocationPort, Port,
};
use portcullis_core::rings::Ring;
use portcullis_core::settings::{ConfigError, FromEnv, RefreshSettings};

/// The storage ports `refresh` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    portcullis_core::ports::ClientLookupPort::DYNAMODB,
    portcullis_core::ports::AssertionReplayPort::DYNAMODB,
    GrantReadPort::DYNAMODB,
    GrantAdvancePort::DYNAMODB,
    GrantLookupPort::DYNAMODB,
    GrantRevocationPort::DYNAMODB,
    // A registered client's TTL, pushed forward at a refresh (`dcr_…`/`cimd_…` keys only).
    portcullis_core::ports::ClientTouchPort::DYNAMODB,
];

pub struct RefreshEndpoint<T, A = portcullis_aws::DynamoClientAuth> {
    pub settings: RefreshSettings,
    pub tokens: T,
    /// private_key_jwt: the client (read) and the codes table (each `jti` recorded once).
    pub client_auth: A,
    pub clock: Box<dyn Clock>,
    pub entropy: Box<dyn Entropy>,
    /// The mint, tag and access-tag keys (`portcullis_core::codec`).
    pub mint: Ring,
    pub tag: Ring,
    pub access_tag: Ring,
}

impl RefreshEndpoint<DynamoTokens> {
    /// Cold start: the tokens table, the clients table (read with the grant) and the three key
    /// secrets (read at the first request, then cached).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = RefreshSettings::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        Ok(Self {
            client_auth: portcullis_aws::DynamoClientAuth::new(
                db.clone(),
                &settings.clients_table,
                &settings.assertions.codes_table,
            ),
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

/// `Authorization: Bearer <refresh token>` (Cal.com's contract); `None` for no header or
/// another scheme (Basic carries client credentials instead).
fn bearer_refresh_token(req: &Request) -> Result<Option<&str>, OAuthError> {
    let Some(h) = header(req, "authorization") else {
        return Ok(None);
    };
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(' ') {
        return Err(OAuthError::invalid_request(
            "the Authorization header's Bearer value is malformed",
        ));
    }
    Ok(Some(token))
}

impl<T, A> Endpoint for RefreshEndpoint<T, A>
where
    A: portcullis_core::ports::ClientLookup + portcullis_core::ports::AssertionReplay,
    T: GrantRead
        + GrantAdvance
        + GrantLookup
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
        let (creds, _) = super::check_assertion(
            &self.client_auth,
            &self.client_auth,
            &self.settings.assertions,
            portcullis_core::metadata::paths::REFRESH,
            creds,
            self.clock.now(),
        )
        .await?;
        let grant = RefreshGrant::parse(&params, bearer_refresh_token(&req)?)?;
        let now = self.clock.now();
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
        let result = refresh_tokens(&self.tokens, &creds, &grant, &ctx).await;
        let result = limit_failures(&self.settings.lockout, &creds, result, now);
        Ok(json(200, &result?))
    }
}
