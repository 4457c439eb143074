//! Portcullis's Lambda and HTTP edge: reading `lambda_http` requests into the core's typed
//! parameters ([`http`]), one error type and mapping per response family ([`respond`]), the
//! pages ([`pages`]), logging ([`telemetry`]), and one module per function ([`endpoints`]): its
//! state, built once per cold start from its own settings, and its handler.
//!
//! A function's `main.rs` is one call: `portcullis_lambda::run(XEndpoint::from_env)`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cors;
pub mod endpoints;
pub mod http;
pub mod pages;
pub mod respond;
pub mod telemetry;

pub use respond::{respond, run, serve, Endpoint, ErrorResponse};
