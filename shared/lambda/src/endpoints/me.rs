//! `GET /api/auth/oauth/me`: who the access token speaks for (needs `READ_PROFILE`). A resource
//! server like any product API: it authenticates with `portcullis-resource`.
use crate::http::{json, method_not_allowed};
use crate::respond::{Endpoint, ResourceError};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_aws::DynamoTokens;
use portcullis_core::ports::{ApiKeyLookup, DynamoAccess, GrantRead, GrantReadPort, Port};
use portcullis_core::settings::ConfigError;
use portcullis_resource::Authenticator;
use serde::Serialize;

/// The scope `/me` needs (Cal.com's contract).
pub const PROFILE_SCOPE: &str = "READ_PROFILE";

/// The storage ports `me` uses.
pub const DYNAMODB: &[&[DynamoAccess]] = &[GrantReadPort::DYNAMODB];

pub struct MeEndpoint<T> {
    pub auth: Authenticator<T>,
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

impl MeEndpoint<DynamoTokens> {
    /// Cold start: the tokens and clients tables and the access-tag secret. OAuth access tokens only: `/me` is the
    /// userinfo endpoint for apps; API keys are for the product's own APIs.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            auth: Authenticator::from_env().await?.oauth_only(),
        })
    }
}

impl<T: GrantRead + ApiKeyLookup> Endpoint for MeEndpoint<T> {
    type Error = ResourceError;
    const CORS: bool = true;

    async fn handle(&self, req: Request) -> Result<Response<Body>, ResourceError> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Ok(method_not_allowed("GET"));
        }
        let who = self.auth.authenticate(&req, &[PROFILE_SCOPE]).await?;
        // A client's own token (client credentials) has no user to describe: RFC 6750 §3.1
        // `invalid_token`, saying why.
        let user = who.require_user()?.clone();
        Ok(json(
            200,
            &Profile {
                id: user.sub.into_string(),
                username: user.username,
                email: user.email,
                name: user.name,
            },
        ))
    }
}
