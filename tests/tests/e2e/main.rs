//! End-to-end: the real function binaries under `cargo lambda watch`, on the real AWS SDK path
//! against moto, driven by the `oauth2` crate as the app and a scripted browser as the user; and
//! the DynamoDB adapters against the same moto. One test binary, so one stack
//! (`portcullis_e2e::Stack::get`), and one module per endpoint:
//!
//! - [`authorize`]: the authorization endpoint, its pages and the dev login;
//! - [`token`]: the token endpoint, and the whole flow with each kind of client;
//! - [`me`]: the resource endpoint;
//! - [`mcp`]: the example MCP server (`mcp-example`): audience, metadata, step-up, the Python SDK;
//! - [`bookings`]: API keys, `portcullis-resource` through the example `list-bookings`, and
//!   `client disable`;
//! - [`refresh`]: refresh tokens, at the token endpoint and Cal.com's `/refreshToken`;
//! - [`revoke`], [`introspect`], [`metadata`]: RFC 7009, RFC 7662 and RFC 8414;
//! - [`cli`]: the operator CLI: the client lifecycle, grants by user and by client, targets;
//! - [`adapters`]: the DynamoDB adapters (`portcullis-aws`) on the real SDK path;
//! - [`interop`]: other languages' OAuth client libraries;
//! - [`faults`]: DynamoDB down, and writes whose answer was lost, injected on the real SDK;
//! - [`hostile`]: hostile input (oversized, malformed, redirect URI tricks) at every endpoint;
//! - [`resources`]: resource indicators (RFC 8707): `resource create`, bound tokens, `aud`;
//! - [`register`]: dynamic client registration (RFC 7591, issue 18);
//! - [`agents`]: the MCP Python SDK's OAuth client provider, unregistered, by registration and by a metadata document;
//! - [`documents`]: Client ID Metadata Documents: fetched, stored, unverified on the consent page;
//! - [`machines`]: the client credentials grant, machine tokens, the token rate (issue 17);
//! - [`lockout`]: failed client authentications past the limit get 429 (`Retry-After`), the correct secret never does;
//! - [`leaks`]: no plaintext secret in the logs (at debug) or the tables;
//! - [`browser`]: the pages and the demo app in a real headless chromium (WebDriver);
//! - [`openapi`]: real responses validated against `docs/openapi.yaml`.
//!
//! `cargo test -p portcullis-e2e --test e2e -- --test-threads=4` (after `make bootstrap` and
//! `cargo build --workspace --bins`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adapters;
mod agents;
mod authorize;
mod bookings;
mod browser;
mod cli;
mod common;
mod documents;
mod faults;
mod hostile;
mod interop;
mod introspect;
mod leaks;
mod lockout;
mod machines;
mod mcp;
mod me;
mod metadata;
mod openapi;
mod refresh;
mod register;
mod resources;
mod revoke;
mod token;
