//! `POST /api/auth/oauth/revoke`: token revocation (RFC 7009). Client authentication as at the
//! token endpoint, then `portcullis_core::revoke::revoke_token`; the answer is an empty `200`
//! whatever the token was (§2.2).
use crate::http::{basic_credentials, body_params, method_not_allowed};
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, PRAGMA};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::rings::ring;
use portcullis_aws::DynamoTokens;
use portcullis_core::client_auth::{limit_failures, ClientCredentials};
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::codec::CheckingKeys;
use portcullis_core::ports::{
    AccessRevocation, AccessRevocationPort, DynamoAccess, GrantRead, GrantReadPort,
    GrantRevocation, GrantRevocationPort, Port,
};
use portcullis_core::revoke::{revoke_token, RevocationRequest};
use portcullis_core::rings::Ring;
use portcullis_core::settings::{ConfigError, FromEnv, RevokeSettings};

/// The storage ports `revoke` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    portcullis_core::ports::ClientLookupPort::DYNAMODB,
    portcullis_core::ports::AssertionReplayPort::DYNAMODB,
    GrantReadPort::DYNAMODB,
    AccessRevocationPort::DYNAMODB,
    GrantRevocationPort::DYNAMODB,
];

pub struct RevokeEndpoint<T, A = portcullis_aws::DynamoClientAuth> {
    pub settings: RevokeSettings,
    pub tokens: T,
    /// private_key_jwt: the client (read) and the codes table (each `jti` recorded once).
    pub client_auth: A,
    pub clock: Box<dyn Clock>,
    /// The tag and access-tag keys: a token this server did not issue costs nothing.
    pub tag: Ring,
    pub access_tag: Ring,
}

impl RevokeEndpoint<DynamoTokens> {
    /// Cold start: the tokens table, the clients table (read with the grant, for
    /// authentication) and the two tag secrets.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = RevokeSettings::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        let db = portcullis_aws::sdk::dynamodb(&sdk);
        Ok(Self {
            client_auth: portcullis_aws::DynamoClientAuth::new(
                db.clone(),
                &settings.clients_table,
                &settings.assertions.codes_table,
            ),
            tokens: DynamoTokens::with_clients(db, &settings.tokens_table, &settings.clients_table),
            tag: ring(&sdk, &settings.tag_secret_id, settings.key_cache_ttl),
            access_tag: ring(&sdk, &settings.access_tag_secret_id, settings.key_cache_ttl),
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

impl<T, A> Endpoint for RevokeEndpoint<T, A>
where
    A: portcullis_core::ports::ClientLookup + portcullis_core::ports::AssertionReplay,
    T: GrantRead + AccessRevocation + GrantRevocation,
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
            portcullis_core::metadata::paths::REVOKE,
            creds,
            self.clock.now(),
        )
        .await?;
        let request = RevocationRequest::parse(&params)?;
        let now = self.clock.now();
        let (tag, access_tag) = (self.tag.ring(now).await?, self.access_tag.ring(now).await?);
        let keys = CheckingKeys {
            tag: &tag,
            access_tag: &access_tag,
        };
        let result = revoke_token(&self.tokens, &creds, &request, keys, now).await;
        let result = limit_failures(&self.settings.lockout, &creds, result, now);
        let done = result?;
        tracing::info!(outcome = ?done, "revocation");
        Ok(revoked())
    }
}
