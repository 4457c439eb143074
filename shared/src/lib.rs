//! Portcullis: an OAuth 2.0 authorization server for AWS Lambda.
//!
//! This crate holds everything the functions share:
//! - the OAuth rules as pure code ([`pkce`], [`scope`], [`redirect`], [`session`], [`csrf`],
//!   [`authorize`], [`token`], [`bearer`]), unit-testable without AWS or HTTP;
//! - narrow storage ports ([`store`]), one trait per capability, with a DynamoDB adapter
//!   (production) and an in-memory adapter (unit tests and benches);
//! - the HTTP edge ([`http`], [`endpoints`]): `lambda_http` request in, typed request, one
//!   error-to-response mapping out;
//! - configuration, the Secrets Manager key cache and logging set-up.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod authorize;
pub mod aws;
pub mod bearer;
pub mod clock;
pub mod config;
pub mod csrf;
pub mod endpoints;
pub mod error;
pub mod http;
pub mod keys;
pub mod model;
pub mod pages;
pub mod pkce;
pub mod redirect;
pub mod scope;
pub mod secret;
pub mod session;
pub mod store;
pub mod telemetry;
pub mod token;
