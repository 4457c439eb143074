//! `POST /api/auth/oauth/token`.
use crate::clock::{Clock, Entropy, OsEntropy, SystemClock};
use crate::config::{Config, ConfigError};
use crate::error::EndpointError;
use crate::http::{basic_credentials, body_params, json, method_not_allowed, token_error};
use crate::store::{CodeRedeem, DynamoStore, GrantRevocation, TokenIssue};
use crate::token::{exchange_code, ClientCredentials, TokenContext, TokenRequest, TokenResponse};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

pub struct TokenEndpoint<S> {
    pub config: Config,
    pub store: S,
    pub clock: Box<dyn Clock>,
    pub entropy: Box<dyn Entropy>,
}

impl TokenEndpoint<DynamoStore> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::load_sdk_config().await;
        let store = super::dynamo_store(&config, &sdk);
        Ok(Self {
            config,
            store,
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
        })
    }
}

impl<S: CodeRedeem + TokenIssue + GrantRevocation> TokenEndpoint<S> {
    async fn respond(&self, req: Request) -> Response<Body> {
        if req.method() != Method::POST {
            return method_not_allowed("POST");
        }
        match self.exchange(&req).await {
            Ok(tokens) => json(200, &tokens),
            Err(e) => token_error(&e),
        }
    }

    async fn exchange(&self, req: &Request) -> Result<TokenResponse, EndpointError> {
        let params = body_params(req)?;
        let creds = ClientCredentials::from_request(basic_credentials(req)?, &params)?;
        let ctx = TokenContext {
            clock: self.clock.as_ref(),
            entropy: self.entropy.as_ref(),
            access_ttl: self.config.access_ttl,
            refresh_ttl: self.config.refresh_ttl,
        };
        match TokenRequest::parse(&params)? {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                exchange_code(
                    &self.store,
                    &creds,
                    &code,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                    &ctx,
                )
                .await
            }
        }
    }
}

impl<S: CodeRedeem + TokenIssue + GrantRevocation> super::Endpoint for TokenEndpoint<S> {
    async fn handle(&self, req: Request) -> Response<Body> {
        self.respond(req).await
    }
}
