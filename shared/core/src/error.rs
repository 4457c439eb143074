//! The two error layers: what went wrong inside (storage, keys) and the OAuth error a client sees
//! (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1). Turning them into HTTP responses happens in one
//! place, [`crate::http`].
use std::borrow::Cow;
use std::fmt;

/// The `error` codes of RFC 6749 §4.1.2.1 and §5.2, and RFC 6750 §3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    InvalidToken,
    InsufficientScope,
    /// RFC 8707 §2: the `resource` is unknown, malformed, or not one this grant covers.
    InvalidTarget,
    /// RFC 7591 §3.2.2: a redirect URI of a registration is refused.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: another member of a registration is refused.
    InvalidClientMetadata,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
        }
    }
}

impl ErrorCode {
    /// The HTTP status each error is answered with (RFC 6749 §5.2: 400, and 401 for
    /// `invalid_client`; RFC 6750 §3.1: 401 `invalid_token`, 403 `insufficient_scope`).
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
            Self::TemporarilyUnavailable => 503,
            Self::ServerError => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the client sees it: `error` and a human-readable `error_description` that says
/// what is wrong (never anything internal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    /// RFC 6749 §4.1.2.1, §5.2: `error_description` is limited to %x20-21 / %x23-5B / %x5D-7E;
    /// anything else (a quote, a backslash, a control or non-ASCII character echoed from the
    /// request) becomes `?`.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let d = description.into();
        let description = if d.chars().all(description_char) {
            d
        } else {
            Cow::Owned(
                d.chars()
                    .map(|c| if description_char(c) { c } else { '?' })
                    .collect(),
            )
        };
        Self { code, description }
    }
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn invalid_token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }
    pub fn invalid_redirect_uri(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRedirectUri, d)
    }
    pub fn invalid_client_metadata(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClientMetadata, d)
    }
    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is briefly unavailable; retry shortly",
        )
    }
    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "an internal error occurred")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

/// A failure of the storage behind a port.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, a 5xx, a timeout or a dropped connection: worth a retry later.
    #[error("storage is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else the storage refused: a bug or a misconfiguration (table missing, IAM).
    #[error("storage request failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An item that does not have the shape this code writes.
    #[error("stored item is malformed")]
    Corrupt(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The keys could not be read from Secrets Manager (or were malformed).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("secret store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("secret is malformed: {0}")]
    Malformed(String),
}

/// Every failure an endpoint can end in. Its mapping to HTTP is in [`crate::http`].
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{0}")]
    OAuth(OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// A request body over the size limit: `invalid_request`, answered with 413 (RFC 9110
    /// §15.5.14) rather than 400, so a client can tell "too big" from "wrong".
    #[error("{0}")]
    PayloadTooLarge(OAuthError),
    /// OAuth 2.1 §2.4.1: this request failed to authenticate its client, past the limit of
    /// failures for that `client_id` ([`crate::throttle`]): 429 with `Retry-After`. Only failures
    /// are ever answered so; a correct credential still authenticates.
    #[error("client {client_id}: too many failed authentications")]
    Throttled {
        client_id: crate::ids::ClientId,
        retry_after: u64,
    },
    /// The client's own issuance limit (`portcullis client create --token-rate N`, tokens per
    /// minute) is reached for this minute: 429 `temporarily_unavailable` with `Retry-After`
    /// (RFC 6585 §4, RFC 9110 §10.2.3).
    #[error("client {client_id}: token rate limit of {limit} per minute reached")]
    RateLimited {
        client_id: crate::ids::ClientId,
        limit: u32,
        retry_after: u64,
    },
    /// The deployment's cap on dynamic registrations (`PORTCULLIS_REGISTRATIONS_PER_HOUR`, `_DAY`)
    /// is reached for this window: 429 `temporarily_unavailable` with `Retry-After`.
    #[error("dynamic registrations: the cap of {limit} per {per} is reached")]
    RegistrationCapped {
        limit: u32,
        per: &'static str,
        retry_after: u64,
    },
}

impl From<OAuthError> for EndpointError {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl EndpointError {
    /// What the client is told: the OAuth error itself, `temporarily_unavailable` for faults
    /// worth a retry, `server_error` for the rest. Nothing internal leaks.
    pub fn public(&self) -> OAuthError {
        match self {
            Self::OAuth(e) | Self::PayloadTooLarge(e) => e.clone(),
            Self::Throttled { retry_after, .. } => OAuthError::invalid_client(format!(
                "too many failed client authentications: try again in {retry_after} seconds"
            )),
            Self::RateLimited {
                limit, retry_after, ..
            } => OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                format!(
                    "this client's token rate limit ({limit} per minute) is reached: try again in {retry_after} seconds"
                ),
            ),
            Self::RegistrationCapped { retry_after, .. } => OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                format!(
                    "this server takes no more client registrations for now: try again in {retry_after} seconds"
                ),
            ),
            Self::Store(StoreError::Unavailable(_)) | Self::Keys(KeyError::Unavailable(_)) => {
                OAuthError::unavailable()
            }
            Self::Store(_) | Self::Keys(_) => OAuthError::server_error(),
        }
    }
}

/// The most of a request's value (a parameter name or value, a content type) an error
/// description repeats back, in characters, before the [`ECHO_ELLIPSIS`].
pub const ECHO_MAX: usize = 64;

/// What stands for the rest of a value cut by [`echo`] (ASCII: RFC 6749 §5.2 limits
/// `error_description` to printable ASCII).
pub const ECHO_ELLIPSIS: &str = "...";

/// The longest an echo can be: [`ECHO_MAX`] characters and the ellipsis.
pub const ECHO_LIMIT: usize = ECHO_MAX + ECHO_ELLIPSIS.len();

/// A request value as an error description may quote it, the one place every echo goes through:
/// at most [`ECHO_MAX`] characters then [`ECHO_ELLIPSIS`], so no description grows with the
/// input; control characters, quotes, backslashes and non-ASCII become `?` (RFC 6749 §5.2's
/// `error_description` character set, and nothing that could forge a log line or a header).
pub fn echo(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(ECHO_MAX)
        .map(|c| if description_char(c) { c } else { '?' })
        .collect();
    if value.chars().nth(ECHO_MAX).is_some() {
        out.push_str(ECHO_ELLIPSIS);
    }
    out
}

/// RFC 6749 §5.2: `error_description` is limited to %x20-21 / %x23-5B / %x5D-7E.
fn description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

impl EndpointError {
    /// The HTTP status of this error's response: the OAuth code's (RFC 6749 §5.2, RFC 6750
    /// §3.1), 413 for a body over the limit.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::PayloadTooLarge(_) => 413,
            Self::Throttled { .. } | Self::RateLimited { .. } | Self::RegistrationCapped { .. } => {
                429
            }
            _ => self.public().code.http_status(),
        }
    }

    /// Seconds a client should wait before retrying, for the `Retry-After` of a 429.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after, .. }
            | Self::RateLimited { retry_after, .. }
            | Self::RegistrationCapped { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Logs what the client is not told. Never the request's secrets: only the error chain.
    pub fn log(&self) {
        match self {
            Self::OAuth(o) | Self::PayloadTooLarge(o) => {
                tracing::info!(error = %o.code, description = %o.description, "request refused")
            }
            Self::Throttled {
                client_id,
                retry_after,
            } => tracing::warn!(
                client_id = %client_id,
                retry_after,
                security_event = "client_auth_throttled",
                "failed client authentication past the limit: 429"
            ),
            Self::RateLimited {
                client_id,
                limit,
                retry_after,
            } => tracing::info!(
                client_id = %client_id,
                limit,
                retry_after,
                "client token rate limit reached: 429"
            ),
            Self::RegistrationCapped {
                limit,
                per,
                retry_after,
            } => tracing::warn!(
                limit,
                per,
                retry_after,
                security_event = "registration_cap_reached",
                "dynamic registration cap reached: 429"
            ),
            Self::Store(StoreError::Unavailable(src)) | Self::Keys(KeyError::Unavailable(src)) => {
                tracing::warn!(error = %self, cause = %error_chain(src.as_ref()), "dependency unavailable")
            }
            Self::Store(StoreError::Failed(src) | StoreError::Corrupt(src)) => {
                tracing::error!(error = %self, cause = %error_chain(src.as_ref()), "storage failure")
            }
            Self::Keys(KeyError::Malformed(m)) => {
                tracing::error!(error = %self, detail = %m, "key failure")
            }
        }
    }
}

/// An error and its sources on one line, by `Display` only: for logs and operator messages (a
/// `Debug` of an SDK error would carry the raw HTTP exchange).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6749 §5.2: error_description uses a restricted character set.
    #[test]
    fn error_description_is_limited_to_the_rfc_character_set() {
        let e = OAuthError::invalid_scope("unknown scope `a\"b\\c\u{e9}\n`");
        assert_eq!(e.description, "unknown scope `a?b?c??`");
        let plain = OAuthError::invalid_request("code is required");
        assert!(matches!(plain.description, Cow::Borrowed(_)));
    }

    /// No description grows with the input: an echo is capped, with an ellipsis.
    #[test]
    fn an_echo_of_a_100_kb_parameter_name_is_capped_with_an_ellipsis() {
        let name = "n".repeat(100 * 1024);
        let e = OAuthError::invalid_request(format!("parameter `{}` is repeated", echo(&name)));
        assert!(e.description.len() < 120, "{}", e.description.len());
        assert!(e
            .description
            .contains(&format!("{}...`", "n".repeat(ECHO_MAX))));
        assert_eq!(echo("short"), "short");
        assert_eq!(echo(&"x".repeat(ECHO_MAX)), "x".repeat(ECHO_MAX));
        assert_eq!(echo(&"x".repeat(ECHO_MAX + 1)).len(), ECHO_LIMIT);
    }

    /// RFC 6749 §5.2: control characters (a forged log line, a header split) are not echoed.
    #[test]
    fn an_echo_replaces_control_characters() {
        assert_eq!(echo("a\r\nSet-Cookie: x\u{0}\u{7f}"), "a??Set-Cookie: x??");
        assert_eq!(echo("\u{e9}\"\\"), "???");
    }

    /// RFC 9110 §15.5.14: a body over the limit is 413, still `invalid_request`.
    #[test]
    fn a_body_over_the_limit_is_413_invalid_request() {
        let e = EndpointError::PayloadTooLarge(OAuthError::invalid_request("too large"));
        assert_eq!(e.http_status(), 413);
        assert_eq!(e.public().code, ErrorCode::InvalidRequest);
        let plain = EndpointError::from(OAuthError::invalid_request("x"));
        assert_eq!(plain.http_status(), 400);
    }
}
