//! `GET /api/auth/oauth/me`: who the access token speaks for (needs `READ_PROFILE`).
use crate::bearer::authenticate;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::error::EndpointError;
use crate::http::{bearer_error, header, json, method_not_allowed};
use crate::store::{DynamoStore, TokenLookup};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

/// The scope `/me` needs (Cal.com's contract).
pub const PROFILE_SCOPE: &str = "READ_PROFILE";

pub struct MeEndpoint<S> {
    pub store: S,
    pub clock: Box<dyn Clock>,
}

#[derive(Debug, Serialize)]
pub struct Profile {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl MeEndpoint<DynamoStore> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::load_sdk_config().await;
        Ok(Self {
            store: super::dynamo_store(&config, &sdk),
            clock: Box::new(SystemClock),
        })
    }
}

impl<S: TokenLookup> MeEndpoint<S> {
    async fn respond(&self, req: Request) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return method_not_allowed("GET");
        }
        match self.profile(&req).await {
            Ok(p) => json(200, &p),
            Err(e) => bearer_error(&e),
        }
    }

    async fn profile(&self, req: &Request) -> Result<Profile, EndpointError> {
        let ctx = authenticate(&self.store, header(req, "authorization"), self.clock.now()).await?;
        ctx.require_scope(PROFILE_SCOPE)?;
        Ok(Profile {
            id: ctx.user.sub,
            username: ctx.user.username,
            email: ctx.user.email,
            name: ctx.user.name,
        })
    }
}

impl<S: TokenLookup> super::Endpoint for MeEndpoint<S> {
    async fn handle(&self, req: Request) -> Response<Body> {
        self.respond(req).await
    }
}
