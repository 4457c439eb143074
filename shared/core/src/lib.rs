//! Portcullis's OAuth rules as pure code.
//!
//! This crate has no HTTP, AWS SDK or template dependency, so nothing in it can reach them:
//! - identifiers and secrets as newtypes ([`ids`], [`secret`]);
//! - request parameters by RFC 6749 §3.1 ([`params`]) and client authentication ([`client_auth`],
//!   and [`assertion`] for `private_key_jwt` client assertions, RFC 7523);
//! - the rules: [`authorize`], [`grants`] (one module per grant type), [`revoke`] (RFC 7009),
//!   [`introspect`] (RFC 7662), [`metadata`] (RFC 8414), [`metadata_document`] (client ID
//!   metadata documents), [`bearer`] (access tokens and API
//!   keys at resource endpoints), [`api_keys`], [`admin`] (disabling a client), [`pkce`],
//!   [`scope`], [`redirect`], [`session`], [`csrf`];
//! - the data model ([`model`]) and narrow storage ports ([`ports`]), with an in-memory adapter
//!   for tests and benches (the DynamoDB adapters are in `portcullis-aws`);
//! - settings ([`settings`]), the key cache ([`keys`]) and the token secrets' key rings
//!   ([`keyring`]), the error types ([`error`]).
//!
//! The crates around it: `portcullis-aws` (DynamoDB adapters, Secrets Manager key source),
//! `portcullis-resource` (the small public crate a product's API Lambda uses),
//! `portcullis-lambda` (the HTTP edge, pages and each function's endpoint).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod api_keys;
pub mod assertion;
pub mod authorize;
pub mod bearer;
pub mod client_auth;
pub mod clock;
pub mod codec;
pub mod csrf;
pub mod error;
pub mod grants;
pub mod ids;
pub mod introspect;
pub mod keyring;
pub mod keys;
pub mod metadata;
pub mod metadata_document;
pub mod model;
pub mod params;
pub mod pkce;
pub mod ports;
pub mod redirect;
pub mod registration;
pub mod resource;
pub mod revoke;
pub mod rings;
pub mod scope;
pub mod secret;
pub mod session;
pub mod settings;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod throttle;
