//! `POST /api/auth/oauth/introspect`: token introspection (RFC 7662) for authenticated
//! confidential clients. Client authentication as at the token endpoint, then
//! `portcullis_core::introspect::introspect`.
use crate::http::{basic_credentials, body_params, json, method_not_allowed};
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::rings::ring;
use portcullis_aws::DynamoTokens;
use portcullis_core::client_auth::{limit_failures, ClientCredentials};
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::codec::CheckingKeys;
use portcullis_core::introspect::{introspect, IntrospectionRequest};
use portcullis_core::ports::{DynamoAccess, GrantRead, GrantReadPort, Port};
use portcullis_core::rings::Ring;
use portcullis_core::settings::{ConfigError, FromEnv, IntrospectSettings};

/// The storage ports `introspect` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[
    portcullis_core::ports::ClientLookupPort::DYNAMODB,
    portcullis_core::ports::AssertionReplayPort::DYNAMODB,
    GrantReadPort::DYNAMODB,
];

pub struct IntrospectEndpoint<T, A = portcullis_aws::DynamoClientAuth> {
    pub settings: IntrospectSettings,
    pub tokens: T,
    /// private_key_jwt: the client (read) and the codes table (each `jti` recorded once).
    pub client_auth: A,
    pub clock: Box<dyn Clock>,
    /// The tag and access-tag keys: a token this server did not issue costs nothing.
    pub tag: Ring,
    pub access_tag: Ring,
}

impl IntrospectEndpoint<DynamoTokens> {
    /// Cold start: the issuer, the tokens and clients tables (one read of the grant with the
    /// clients) and the two tag secrets.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = IntrospectSettings::from_env()?;
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
            settings,
            clock: Box::new(SystemClock),
        })
    }
}

impl<T, A> Endpoint for IntrospectEndpoint<T, A>
where
    A: portcullis_core::ports::ClientLookup + portcullis_core::ports::AssertionReplay,
    T: GrantRead,
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
            portcullis_core::metadata::paths::INTROSPECT,
            creds,
            self.clock.now(),
        )
        .await?;
        let request = IntrospectionRequest::parse(&params)?;
        let now = self.clock.now();
        let (tag, access_tag) = (self.tag.ring(now).await?, self.access_tag.ring(now).await?);
        let keys = CheckingKeys {
            tag: &tag,
            access_tag: &access_tag,
        };
        let result = introspect(
            &self.tokens,
            &creds,
            &request,
            keys,
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
