//! Settings, read once per cold start from the environment. Each function reads only what it
//! uses ([`AuthorizeSettings`], [`TokenSettings`], [`ResourceSettings`]); bad values fail fast
//! with a message naming the variable. The variable names and the local stack's values live
//! here, once ([`env`], [`local_stack`]): the functions, the CLI, the tests, the bench and the
//! local stack all read them from this module.
use crate::scope::{ScopeCatalog, ScopeDef};
pub use crate::throttle::{FailureLimit, LockoutPolicy};
use url::Url;

/// The environment variables, by name.
pub mod env {
    pub const ISSUER: &str = "PORTCULLIS_ISSUER";
    pub const CLIENTS_TABLE: &str = "PORTCULLIS_CLIENTS_TABLE";
    pub const CODES_TABLE: &str = "PORTCULLIS_CODES_TABLE";
    pub const TOKENS_TABLE: &str = "PORTCULLIS_TOKENS_TABLE";
    /// The example `list-bookings` function's own table (not Portcullis's).
    pub const BOOKINGS_TABLE: &str = "PORTCULLIS_BOOKINGS_TABLE";
    pub const SECRET_ID: &str = "PORTCULLIS_SECRET_ID";
    /// The key ring that derives the secret part of access and refresh tokens.
    pub const MINT_SECRET_ID: &str = "PORTCULLIS_MINT_SECRET_ID";
    /// The key ring that tags authorization codes and refresh tokens.
    pub const TAG_SECRET_ID: &str = "PORTCULLIS_TAG_SECRET_ID";
    /// The key ring that tags access tokens (the only one a product's API Lambda holds).
    pub const ACCESS_TAG_SECRET_ID: &str = "PORTCULLIS_ACCESS_TAG_SECRET_ID";
    pub const LOGIN_URL: &str = "PORTCULLIS_LOGIN_URL";
    pub const SESSION_COOKIE: &str = "PORTCULLIS_SESSION_COOKIE";
    pub const SCOPES: &str = "PORTCULLIS_SCOPES";
    pub const CODE_TTL: &str = "PORTCULLIS_CODE_TTL";
    pub const ACCESS_TOKEN_TTL: &str = "PORTCULLIS_ACCESS_TOKEN_TTL";
    pub const REFRESH_TOKEN_TTL: &str = "PORTCULLIS_REFRESH_TOKEN_TTL";
    pub const GRANT_LIFETIME: &str = "PORTCULLIS_GRANT_LIFETIME";
    pub const REFRESH_GRACE: &str = "PORTCULLIS_REFRESH_GRACE";
    pub const KEY_CACHE_TTL: &str = "PORTCULLIS_KEY_CACHE_TTL";
    pub const CONSENT_TTL: &str = "PORTCULLIS_CONSENT_TTL";
    pub const CLOCK_SKEW_LEEWAY: &str = "PORTCULLIS_CLOCK_SKEW_LEEWAY";
    pub const ASSERTION_MAX_LIFETIME: &str = "PORTCULLIS_ASSERTION_MAX_LIFETIME";
    pub const AUTH_FAILURE_LIMIT: &str = "PORTCULLIS_AUTH_FAILURE_LIMIT";
    /// Origins allowed to call the JSON endpoints cross-origin (never the authorization one).
    pub const CORS_ORIGINS: &str = "PORTCULLIS_CORS_ORIGINS";
    pub const AUTH_FAILURE_WINDOW: &str = "PORTCULLIS_AUTH_FAILURE_WINDOW";
    pub const DEV_LOGIN: &str = "DEV_LOGIN";
    /// The pages: the product's name, and its privacy policy and terms (footer links).
    pub const PRODUCT_NAME: &str = "PORTCULLIS_PRODUCT_NAME";
    pub const PRIVACY_URL: &str = "PORTCULLIS_PRIVACY_URL";
    pub const TERMS_URL: &str = "PORTCULLIS_TERMS_URL";
    /// Dynamic client registration (RFC 7591): `off`, `token` or `open`, its caps and the idle
    /// period after which an unused registered client expires.
    pub const DYNAMIC_REGISTRATION: &str = "PORTCULLIS_DYNAMIC_REGISTRATION";
    pub const REGISTRATIONS_PER_HOUR: &str = "PORTCULLIS_REGISTRATIONS_PER_HOUR";
    pub const REGISTRATIONS_PER_DAY: &str = "PORTCULLIS_REGISTRATIONS_PER_DAY";
    pub const REGISTRATION_IDLE_DAYS: &str = "PORTCULLIS_REGISTRATION_IDLE_DAYS";
    /// Client ID Metadata Documents (an https URL as `client_id`): `on` or `off`, and the
    /// development exception (loopback document hosts, a test CA).
    pub const CLIENT_METADATA_DOCUMENTS: &str = "PORTCULLIS_CLIENT_METADATA_DOCUMENTS";
    pub const METADATA_DOCUMENT_LOOPBACK_HOSTS: &str =
        "PORTCULLIS_METADATA_DOCUMENT_LOOPBACK_HOSTS";
    pub const METADATA_DOCUMENT_CA_FILE: &str = "PORTCULLIS_METADATA_DOCUMENT_CA_FILE";
    /// The local stack's ports (scripts and the CLI's `--local`).
    pub const PORT: &str = "PORTCULLIS_PORT";
    pub const AWS_PORT: &str = "PORTCULLIS_AWS_PORT";
    /// A protected resource's own URI (RFC 8707 audience, RFC 9728 `resource`), for
    /// `portcullis-resource`'s `Authenticator`.
    pub const RESOURCE_URI: &str = "PORTCULLIS_RESOURCE_URI";
}

/// Default port of `cargo lambda watch` in the local stack.
pub const LOCAL_PORT: u16 = 9000;
/// Default port of moto in the local stack.
pub const LOCAL_AWS_PORT: u16 = 5000;
/// The origin the local stack allows cross-origin calls from (`PORTCULLIS_CORS_ORIGINS`).
pub const LOCAL_CORS_ORIGIN: &str = "http://127.0.0.1:8976";
/// The path of the dev login form in the local stack.
pub const DEV_LOGIN_PATH: &str = "/auth/dev-login";

/// One environment variable: its name, its default (`None`: required, or unset means off) and
/// what it means. [`ENV_VARS`] lists every one; a test checks the README's configuration table
/// against it, and that every name in [`env`] is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    pub name: &'static str,
    /// The default, as the README shows it; `None` when the variable is required.
    pub default: Option<&'static str>,
    pub meaning: &'static str,
}

/// Every environment variable Portcullis reads, with its default and meaning.
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar { name: env::ISSUER, default: None, meaning: "Public base URL of the server (RFC 8414 `issuer`, RFC 9207 `iss`), no trailing slash" },
    EnvVar { name: env::CLIENTS_TABLE, default: None, meaning: "DynamoDB table of registered clients" },
    EnvVar { name: env::CODES_TABLE, default: None, meaning: "DynamoDB table of authorization codes" },
    EnvVar { name: env::TOKENS_TABLE, default: None, meaning: "DynamoDB table of tokens, grants and API keys" },
    EnvVar { name: env::BOOKINGS_TABLE, default: None, meaning: "The example `list-bookings` function's own table (not Portcullis's)" },
    EnvVar { name: env::SECRET_ID, default: None, meaning: "Secrets Manager secret holding the session and CSRF keys" },
    EnvVar { name: env::MINT_SECRET_ID, default: None, meaning: "Secrets Manager secret holding the mint key ring (`key`, `previous_key`), which derives the secret part of access and refresh tokens; read only by the functions that issue tokens" },
    EnvVar { name: env::TAG_SECRET_ID, default: None, meaning: "Secrets Manager secret holding the tag key ring (`key`, `previous_key`), which tags authorization codes and refresh tokens so forged ones are refused without a storage call" },
    EnvVar { name: env::ACCESS_TAG_SECRET_ID, default: None, meaning: "Secrets Manager secret holding the access-tag key ring (`key`, `previous_key`), which tags access tokens; the only key a product's API Lambda holds: it can check a tag, not mint or predict a token" },
    EnvVar { name: env::LOGIN_URL, default: None, meaning: "The host application's login page; users without a session go there with `return_to`" },
    EnvVar { name: env::SESSION_COOKIE, default: Some("session"), meaning: "Name of the host application's session cookie" },
    EnvVar { name: env::SCOPES, default: Some("READ_BOOKING, READ_PROFILE"), meaning: "Scope catalog: JSON array of `{\"name\", \"description\"}`; the description is the consent page's sentence" },
    EnvVar { name: env::CODE_TTL, default: Some("600"), meaning: "Authorization code lifetime, seconds" },
    EnvVar { name: env::ACCESS_TOKEN_TTL, default: Some("1800"), meaning: "Access token lifetime, seconds" },
    EnvVar { name: env::REFRESH_TOKEN_TTL, default: Some("2592000"), meaning: "Refresh token lifetime without use, seconds (30 days)" },
    EnvVar { name: env::GRANT_LIFETIME, default: Some("none"), meaning: "Optional absolute end of a grant from the code exchange, seconds" },
    EnvVar { name: env::REFRESH_GRACE, default: Some("30"), meaning: "Retry window: a code exchange or refresh retried by its client within it gets the same tokens, 0 (off) to 300 seconds" },
    EnvVar { name: env::KEY_CACHE_TTL, default: Some("300"), meaning: "How long keys read from Secrets Manager are cached, seconds (every function that reads a secret)" },
    EnvVar { name: env::CONSENT_TTL, default: Some("900"), meaning: "How long a consent page may stay open before its form is refused, seconds" },
    EnvVar { name: env::AUTH_FAILURE_LIMIT, default: Some("10"), meaning: "Failed client authentications of one client_id within the window, per function instance, after which further failures get 429 (OAuth 2.1 §2.4.1); a correct secret always authenticates" },
    EnvVar { name: env::AUTH_FAILURE_WINDOW, default: Some("300"), meaning: "The window failed client authentications are counted in, seconds (the longest Retry-After a failure gets)" },
    EnvVar { name: env::CLOCK_SKEW_LEEWAY, default: Some("30"), meaning: "Clock skew allowed on the session's and client assertions' `exp`, `nbf` and `iat`, seconds (0 allowed)" },
    EnvVar { name: env::ASSERTION_MAX_LIFETIME, default: Some("300"), meaning: "private_key_jwt (RFC 7523): the furthest ahead a client assertion's `exp` may be, seconds (its `jti` is remembered that long)" },
    EnvVar { name: env::DEV_LOGIN, default: Some("off"), meaning: "Local development only: `true` or `1` serves a login form that signs in anyone" },
    EnvVar { name: env::CORS_ORIGINS, default: Some("none"), meaning: "Comma-separated origins of browser-based public clients allowed to call the JSON endpoints cross-origin (never the authorization endpoint)" },
    EnvVar { name: env::PRODUCT_NAME, default: Some(DEFAULT_PRODUCT_NAME), meaning: "The product's name on the consent, login and error pages" },
    EnvVar { name: env::PRIVACY_URL, default: Some("none"), meaning: "Privacy policy link in the pages' footer (http(s) URL)" },
    EnvVar { name: env::TERMS_URL, default: Some("none"), meaning: "Terms of service link in the pages' footer (http(s) URL)" },
    EnvVar { name: env::DYNAMIC_REGISTRATION, default: Some("off"), meaning: "Dynamic client registration (RFC 7591) at `/api/auth/oauth/register`: `off` (404, not advertised), `token` (every registration needs an initial access token from `portcullis registration-token create`) or `open` (public clients register without one, as MCP clients do; confidential ones still need one)" },
    EnvVar { name: env::REGISTRATIONS_PER_HOUR, default: Some("100"), meaning: "Most dynamic registrations per hour for the whole deployment (identical re-registrations included); past it, 429 with Retry-After" },
    EnvVar { name: env::REGISTRATIONS_PER_DAY, default: Some("1000"), meaning: "Most dynamic registrations per UTC day for the whole deployment; past it, 429 with Retry-After" },
    EnvVar { name: env::REGISTRATION_IDLE_DAYS, default: Some("30"), meaning: "A dynamically registered client unused this many days expires (the clients table's TTL, pushed forward at authorization and refresh)" },
    EnvVar { name: env::CLIENT_METADATA_DOCUMENTS, default: Some("off"), meaning: "Client ID Metadata Documents: `on` lets a client whose `client_id` is an https URL (as MCP clients send) in without registration; the authorization endpoint fetches its document (hardened: https only, no redirects, 5 KB, 3 s, no private or special-use address) and stores it in the clients table for 5 minutes to 1 day, as its `Cache-Control` says" },
    EnvVar { name: env::METADATA_DOCUMENT_LOOPBACK_HOSTS, default: Some("none"), meaning: "Local development only: comma-separated loopback hosts (`127.0.0.1`, `[::1]`, `localhost`) whose metadata documents may be fetched from loopback; refused unless the issuer is a loopback URL" },
    EnvVar { name: env::METADATA_DOCUMENT_CA_FILE, default: Some("none"), meaning: "Local development only: a PEM root CA trusted, beside the system roots, for loopback document hosts (a local test server's certificate); needs `PORTCULLIS_METADATA_DOCUMENT_LOOPBACK_HOSTS`" },
    EnvVar { name: env::PORT, default: Some("9000"), meaning: "Local stack only: port of the HTTP entry (`cargo lambda watch`) on 127.0.0.1" },
    EnvVar { name: env::AWS_PORT, default: Some("5000"), meaning: "Local stack only: port of moto (DynamoDB, Secrets Manager) on 127.0.0.1" },
    EnvVar { name: env::RESOURCE_URI, default: Some("none"), meaning: "A product API or MCP server protected by `portcullis-resource`: its own URI (an https URL, no query or fragment); access tokens issued for another resource (RFC 8707 audience) are refused, and its 401s point to its protected-resource metadata (RFC 9728); needs `PORTCULLIS_ISSUER`" },
];

/// The local stack's environment for the given ports: every function setting, and the AWS SDK's
/// endpoint, region and credentials pointing at moto. `make dev`, the CLI's `--local`, the
/// end-to-end tests and the bench all use this one list.
pub fn local_stack(port: u16, aws_port: u16) -> Vec<(&'static str, String)> {
    let issuer = format!("http://127.0.0.1:{port}");
    vec![
        (env::PORT, port.to_string()),
        (env::AWS_PORT, aws_port.to_string()),
        (env::ISSUER, issuer.clone()),
        (env::CLIENTS_TABLE, "portcullis-clients".into()),
        (env::CODES_TABLE, "portcullis-codes".into()),
        (env::TOKENS_TABLE, "portcullis-tokens".into()),
        (env::BOOKINGS_TABLE, "portcullis-bookings".into()),
        (env::SECRET_ID, "portcullis-keys".into()),
        (env::MINT_SECRET_ID, "portcullis-mint-key".into()),
        (env::TAG_SECRET_ID, "portcullis-tag-key".into()),
        (
            env::ACCESS_TAG_SECRET_ID,
            "portcullis-access-tag-key".into(),
        ),
        (env::LOGIN_URL, format!("{issuer}{DEV_LOGIN_PATH}")),
        // A browser app on the demo app's port may call the JSON endpoints (`make dev`).
        (env::CORS_ORIGINS, LOCAL_CORS_ORIGIN.into()),
        // MCP clients register themselves in local development (`make dev`, the e2e suite).
        (env::DYNAMIC_REGISTRATION, "open".into()),
        // And present metadata documents (fetched from the internet; a local document server
        // needs `PORTCULLIS_METADATA_DOCUMENT_LOOPBACK_HOSTS` too, as the e2e suite sets).
        (env::CLIENT_METADATA_DOCUMENTS, "on".into()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{aws_port}")),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

/// A POSIX shell word for `s`, for printing settings as shell assignments (`portcullis env`, the
/// local stack's help): as it is when it is made only of characters no shell treats specially,
/// otherwise in single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+,=".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The default of `PORTCULLIS_KEY_CACHE_TTL`, seconds.
pub const DEFAULT_KEY_CACHE_TTL: u64 = 300;

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// Reads variables through a lookup (the process environment, or a map in tests): values are
/// trimmed, empty ones count as unset, and missing required ones are collected so that one
/// message names them all.
pub struct Reader<F> {
    get: F,
    missing: Vec<&'static str>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    pub fn new(get: F) -> Self {
        Self {
            get,
            missing: Vec::new(),
        }
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A required variable; when it is missing, the name is noted for [`Reader::finish`].
    pub fn required(&mut self, name: &'static str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.missing.push(name);
            String::new()
        })
    }

    /// Fails naming every missing required variable.
    pub fn finish(&self) -> Result<(), ConfigError> {
        if self.missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(format!(
                "missing environment variables: {}",
                self.missing.join(", ")
            )))
        }
    }

    /// OAuth 2.1 §2.4.1: `PORTCULLIS_AUTH_FAILURE_LIMIT` failures (default 10) within
    /// `PORTCULLIS_AUTH_FAILURE_WINDOW` seconds (default 300), after which further failures get
    /// 429 until the window ends ([`crate::throttle`]).
    pub fn lockout(&self) -> Result<LockoutPolicy, ConfigError> {
        let window = self.seconds(env::AUTH_FAILURE_WINDOW, 300)?;
        let max = self.seconds(env::AUTH_FAILURE_LIMIT, 10)?;
        let max = u32::try_from(max)
            .map_err(|_| ConfigError(format!("{} is too large", env::AUTH_FAILURE_LIMIT)))?;
        Ok(LockoutPolicy { max, window })
    }

    /// A positive number of seconds.
    pub fn seconds(&self, name: &str, default: u64) -> Result<u64, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConfigError(format!(
                    "{name} must be a positive number of seconds, got `{v}`"
                ))
            }),
        }
    }

    /// `PORTCULLIS_CLOCK_SKEW_LEEWAY`: 0 to 300 seconds, default 30.
    pub fn leeway(&self) -> Result<u64, ConfigError> {
        match self.optional(env::CLOCK_SKEW_LEEWAY) {
            None => Ok(30),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n <= 300).ok_or_else(|| {
                ConfigError(format!(
                    "{} must be 0 to 300 seconds, got `{v}`",
                    env::CLOCK_SKEW_LEEWAY
                ))
            }),
        }
    }

    /// `PORTCULLIS_KEY_CACHE_TTL`: how long keys read from Secrets Manager are used before they
    /// are read again, default [`DEFAULT_KEY_CACHE_TTL`] seconds.
    pub fn key_cache_ttl(&self) -> Result<u64, ConfigError> {
        self.seconds(env::KEY_CACHE_TTL, DEFAULT_KEY_CACHE_TTL)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.optional(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }

    /// `PORTCULLIS_ISSUER`, checked: an absolute URL without query or fragment (RFC 8414 §2),
    /// trailing `/` removed. Call [`Reader::finish`] first.
    pub fn issuer(&self, raw: String) -> Result<String, ConfigError> {
        let issuer = raw.trim_end_matches('/').to_string();
        let parsed = Url::parse(&issuer)
            .map_err(|e| ConfigError(format!("{} `{issuer}`: {e}", env::ISSUER)))?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(ConfigError(format!(
                "{} must have no query or fragment (RFC 8414 §2)",
                env::ISSUER
            )));
        }
        // RFC 8414 §2: the issuer "is a case-sensitive URL that uses the "https" scheme"; plain
        // http only on a loopback host (the local stack).
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if parsed.host().is_none()
            || !(parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback))
        {
            return Err(ConfigError(format!(
                "{} `{issuer}` must be an https URL (RFC 8414 §2); http only on a loopback host",
                env::ISSUER
            )));
        }
        Ok(issuer)
    }

    /// `PORTCULLIS_DYNAMIC_REGISTRATION`: `off` (default), `token` or `open`.
    pub fn registration_mode(&self) -> Result<crate::registration::RegistrationMode, ConfigError> {
        match self.optional(env::DYNAMIC_REGISTRATION) {
            None => Ok(crate::registration::RegistrationMode::Off),
            Some(v) => crate::registration::RegistrationMode::parse(&v).ok_or_else(|| {
                ConfigError(format!(
                    "{} must be off, token or open, got `{v}`",
                    env::DYNAMIC_REGISTRATION
                ))
            }),
        }
    }

    /// `PORTCULLIS_CLIENT_METADATA_DOCUMENTS`: `on` (or `true`, `1`) or `off` (default; or
    /// `false`, `0`).
    pub fn metadata_documents(&self) -> Result<bool, ConfigError> {
        match self.optional(env::CLIENT_METADATA_DOCUMENTS).as_deref() {
            None => Ok(false),
            Some(v)
                if ["on", "true", "1"]
                    .iter()
                    .any(|o| v.eq_ignore_ascii_case(o)) =>
            {
                Ok(true)
            }
            Some(v)
                if ["off", "false", "0"]
                    .iter()
                    .any(|o| v.eq_ignore_ascii_case(o)) =>
            {
                Ok(false)
            }
            Some(v) => Err(ConfigError(format!(
                "{} must be on or off, got `{v}`",
                env::CLIENT_METADATA_DOCUMENTS
            ))),
        }
    }

    /// `PORTCULLIS_REGISTRATION_IDLE_DAYS` (default 30, at most 3650), in seconds.
    pub fn registration_idle(&self) -> Result<u64, ConfigError> {
        let days = self.seconds(env::REGISTRATION_IDLE_DAYS, 30)?;
        if days > 3650 {
            return Err(ConfigError(format!(
                "{} must be 1 to 3650 days, got {days}",
                env::REGISTRATION_IDLE_DAYS
            )));
        }
        Ok(days * 86_400)
    }

    /// A positive count that fits a `u32`.
    pub fn count(&self, name: &str, default: u32) -> Result<u32, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConfigError(format!("{name} must be a positive whole number, got `{v}`"))
            }),
        }
    }

    /// `PORTCULLIS_SCOPES`: a JSON array of `{"name", "description"}`, or the default catalog.
    pub fn scopes(&self) -> Result<ScopeCatalog, ConfigError> {
        match self.optional(env::SCOPES) {
            None => Ok(ScopeCatalog::default()),
            Some(raw) => {
                let defs: Vec<ScopeDef> = serde_json::from_str(&raw).map_err(|e| {
                    ConfigError(format!(
                        "{} must be a JSON array of {{\"name\", \"description\"}}: {e}",
                        env::SCOPES
                    ))
                })?;
                ScopeCatalog::new(defs).map_err(|e| ConfigError(format!("{}: {e}", env::SCOPES)))
            }
        }
    }
}

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Settings read from variables: from a lookup (a map in tests) or from the process environment.
pub trait FromEnv: Sized {
    /// Reads the settings through `get`; a missing or malformed variable is named in the error.
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;

    /// Reads the settings from the process environment, once, at cold start.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }
}

/// The three table names (the CLI's `init` creates all three).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub clients: String,
    pub codes: String,
    pub tokens: String,
    /// The example bookings table, when configured (`list-bookings`; the local stack sets it).
    pub bookings: Option<String>,
}

impl TableNames {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(get);
        let names = Self {
            clients: r.required(env::CLIENTS_TABLE),
            codes: r.required(env::CODES_TABLE),
            tokens: r.required(env::TOKENS_TABLE),
            bookings: r.optional(env::BOOKINGS_TABLE),
        };
        r.finish()?;
        Ok(names)
    }
}

/// The authorize function's settings.
#[derive(Debug, Clone)]
pub struct AuthorizeSettings {
    /// The public base URL (RFC 8414 `issuer`; RFC 9207 `iss`), without a trailing slash.
    pub issuer: String,
    pub clients_table: String,
    pub codes_table: String,
    /// The Secrets Manager secret holding the keys.
    pub secret_id: String,
    /// The tag key ring's secret (`PORTCULLIS_TAG_SECRET_ID`): tags the codes it issues.
    pub tag_secret_id: String,
    /// Where users without a session are sent, with `return_to`.
    pub login_url: String,
    pub session_cookie: String,
    pub scopes: ScopeCatalog,
    pub code_ttl: u64,
    /// How long the keys read from Secrets Manager are used before they are read again.
    pub key_cache_ttl: u64,
    /// How long a consent page may stay open before its form is refused.
    pub consent_ttl: u64,
    /// Clock skew allowed on the session's `exp` and `nbf` (RFC 7519 §4.1.4), seconds.
    pub clock_skew_leeway: u64,
    /// Local development only: serve a login form at `login_url`.
    pub dev_login: bool,
    /// The pages' words and links.
    pub pages: PageSettings,
    /// `PORTCULLIS_REGISTRATION_IDLE_DAYS`, in seconds: a registered client's TTL is pushed
    /// forward when a code is issued to it.
    pub registration_idle: u64,
    /// `PORTCULLIS_CLIENT_METADATA_DOCUMENTS`: whether an https URL `client_id` is a Client ID
    /// Metadata Document (fetched, validated, stored) or refused.
    pub metadata_documents: bool,
    /// The fetch's development exception (empty in production).
    pub metadata_document_dev: MetadataDocumentDev,
}

/// What the authorize function's pages show about the product: its name, and the footer links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSettings {
    pub product_name: String,
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
}

/// The default of `PORTCULLIS_PRODUCT_NAME`.
pub const DEFAULT_PRODUCT_NAME: &str = "Portcullis";

impl PageSettings {
    fn read<F: Fn(&str) -> Option<String>>(r: &Reader<F>) -> Result<Self, ConfigError> {
        let link = |name: &str| match r.optional(name) {
            None => Ok(None),
            Some(v) => match Url::parse(&v) {
                Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(Some(v)),
                _ => Err(ConfigError(format!(
                    "{name} must be an absolute http(s) URL, got `{v}`"
                ))),
            },
        };
        Ok(Self {
            product_name: r
                .optional(env::PRODUCT_NAME)
                .unwrap_or_else(|| DEFAULT_PRODUCT_NAME.into()),
            privacy_url: link(env::PRIVACY_URL)?,
            terms_url: link(env::TERMS_URL)?,
        })
    }
}

impl FromEnv for AuthorizeSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(get);
        let issuer = r.required(env::ISSUER);
        let clients_table = r.required(env::CLIENTS_TABLE);
        let codes_table = r.required(env::CODES_TABLE);
        let secret_id = r.required(env::SECRET_ID);
        let tag_secret_id = r.required(env::TAG_SECRET_ID);
        let login_url = r.required(env::LOGIN_URL);
        r.finish()?;
        Url::parse(&login_url)
            .map_err(|e| ConfigError(format!("{} `{login_url}`: {e}", env::LOGIN_URL)))?;
        let issuer = r.issuer(issuer)?;
        let dev_login = r.flag(env::DEV_LOGIN);
        refuse_dev_login_off_loopback(dev_login, &issuer)?;
        Ok(Self {
            clients_table,
            codes_table,
            secret_id,
            tag_secret_id,
            login_url,
            session_cookie: session_cookie(&r),
            scopes: r.scopes()?,
            code_ttl: r.seconds(env::CODE_TTL, 600)?,
            key_cache_ttl: r.key_cache_ttl()?,
            consent_ttl: r.seconds(env::CONSENT_TTL, 900)?,
            clock_skew_leeway: r.leeway()?,
            dev_login,
            pages: PageSettings::read(&r)?,
            registration_idle: r.registration_idle()?,
            metadata_documents: r.metadata_documents()?,
            metadata_document_dev: metadata_document_dev(
                r.optional(env::METADATA_DOCUMENT_LOOPBACK_HOSTS).as_deref(),
                r.optional(env::METADATA_DOCUMENT_CA_FILE).as_deref(),
                &issuer,
            )?,
            issuer,
        })
    }
}

/// `DEV_LOGIN=true` signs anyone in as anyone, so it is refused unless the issuer is a loopback
/// URL (`localhost`, `127.0.0.0/8`, `[::1]`): a deployed function with it set does not start.
fn refuse_dev_login_off_loopback(dev_login: bool, issuer: &str) -> Result<(), ConfigError> {
    let loopback = Url::parse(issuer).ok().is_some_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    });
    if dev_login && !loopback {
        return Err(ConfigError(format!(
            "{} is set, but {} `{issuer}` is not a loopback URL: the dev login is for local \
             development only",
            env::DEV_LOGIN,
            env::ISSUER
        )));
    }
    Ok(())
}

/// The development exception of the client metadata document fetch, as read from the
/// environment: the hosts (`127.0.0.1`, `[::1]`, `localhost`) whose documents may be fetched
/// from loopback addresses, and a test root CA file. Empty in production.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataDocumentDev {
    pub loopback_hosts: Vec<String>,
    pub ca_file: Option<String>,
}

/// Checks the metadata document fetch's development exception (draft-ietf-oauth-client-id-
/// metadata-document §6.5: an AS MAY fetch from loopback only when it runs on loopback itself,
/// never in production), from `PORTCULLIS_METADATA_DOCUMENT_LOOPBACK_HOSTS` (comma-separated)
/// and `PORTCULLIS_METADATA_DOCUMENT_CA_FILE`:
/// - each host is a loopback one: `127.0.0.1` (any of 127.0.0.0/8), `[::1]` or `::1`, or
///   `localhost`;
/// - either is refused unless the issuer is a loopback URL (as `DEV_LOGIN` is), so a deployed
///   function with it set does not start;
/// - the CA file only together with loopback hosts (a test CA is for the local document server).
pub fn metadata_document_dev(
    loopback_hosts: Option<&str>,
    ca_file: Option<&str>,
    issuer: &str,
) -> Result<MetadataDocumentDev, ConfigError> {
    const HOSTS: &str = env::METADATA_DOCUMENT_LOOPBACK_HOSTS;
    const CA_FILE: &str = env::METADATA_DOCUMENT_CA_FILE;
    let hosts: Vec<String> = loopback_hosts
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let ca_file = ca_file.map(str::trim).filter(|f| !f.is_empty());
    for h in &hosts {
        let loopback = h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(ConfigError(format!(
                "{HOSTS}: `{h}` is not a loopback host (127.0.0.1, [::1] or localhost)"
            )));
        }
    }
    if ca_file.is_some() && hosts.is_empty() {
        return Err(ConfigError(format!(
            "{CA_FILE} is set without {HOSTS}: the test CA is only for a local document server"
        )));
    }
    let issuer_loopback = Url::parse(issuer).ok().is_some_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    });
    if !hosts.is_empty() && !issuer_loopback {
        return Err(ConfigError(format!(
            "{HOSTS} is set, but {} `{issuer}` is not a loopback URL: fetching client metadata \
             documents from loopback is for local development only",
            env::ISSUER
        )));
    }
    Ok(MetadataDocumentDev {
        loopback_hosts: hosts,
        ca_file: ca_file.map(str::to_string),
    })
}

impl AuthorizeSettings {
    /// The authorization endpoint's public URL.
    pub fn authorize_url(&self) -> String {
        format!("{}/auth/oauth2/authorize", self.issuer)
    }
}

/// `PORTCULLIS_SESSION_COOKIE`, default `session`.
pub fn session_cookie<F: Fn(&str) -> Option<String>>(r: &Reader<F>) -> String {
    r.optional(env::SESSION_COOKIE)
        .unwrap_or_else(|| "session".into())
}

/// Token lifetimes and the refresh rules, shared by the token and refresh functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifetimes {
    /// Access tokens: `PORTCULLIS_ACCESS_TOKEN_TTL`, default 1800 s (Cal.com's).
    pub access_ttl: u64,
    /// Refresh tokens, sliding: each refresh starts a new period. `PORTCULLIS_REFRESH_TOKEN_TTL`,
    /// default 30 days without use.
    pub refresh_ttl: u64,
    /// Optional absolute end of a grant, counted from the code exchange:
    /// `PORTCULLIS_GRANT_LIFETIME`, default none.
    pub grant_lifetime: Option<u64>,
    /// The retry window: `PORTCULLIS_REFRESH_GRACE`, default [`DEFAULT_REFRESH_GRACE`], 0 (off)
    /// to [`MAX_REFRESH_GRACE`] seconds. A code exchange or refresh retried by its own client
    /// within it (its first answer lost) gets the same tokens; 0 makes every second use of a
    /// code a replay and every use of an earlier refresh token reuse (RFC 6749 §4.1.2 strictly).
    pub refresh_grace: u64,
    /// `PORTCULLIS_REGISTRATION_IDLE_DAYS`, in seconds: a registered client's TTL is pushed
    /// forward at a refresh too, so a client that only refreshes lives on
    /// ([`crate::ports::touch_if_due`]).
    pub registration_idle: u64,
}

/// Long enough for a client's retry after a lost answer (the SDK's 8 s operation timeout, a
/// 503 and a backoff), short enough that a stolen earlier token is useless soon after.
pub const DEFAULT_REFRESH_GRACE: u64 = 30;

/// The longest retry window a deployment may set.
pub const MAX_REFRESH_GRACE: u64 = 300;

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access_ttl: 1800,
            refresh_ttl: 30 * 24 * 3600,
            grant_lifetime: None,
            refresh_grace: DEFAULT_REFRESH_GRACE,
            registration_idle: 30 * 86_400,
        }
    }
}

impl Lifetimes {
    fn read<F: Fn(&str) -> Option<String>>(r: &Reader<F>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let grace = match r.optional(env::REFRESH_GRACE) {
            None => d.refresh_grace,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= MAX_REFRESH_GRACE)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{} must be 0 to {MAX_REFRESH_GRACE} seconds, got `{v}`",
                        env::REFRESH_GRACE
                    ))
                })?,
        };
        Ok(Self {
            access_ttl: r.seconds(env::ACCESS_TOKEN_TTL, d.access_ttl)?,
            refresh_ttl: r.seconds(env::REFRESH_TOKEN_TTL, d.refresh_ttl)?,
            grant_lifetime: match r.optional(env::GRANT_LIFETIME) {
                None => None,
                Some(_) => Some(r.seconds(env::GRANT_LIFETIME, 1)?),
            },
            refresh_grace: grace,
            registration_idle: r.registration_idle()?,
        })
    }
}

/// What checking a private_key_jwt client assertion (RFC 7523) needs: the issuer (an accepted
/// `aud`, with the endpoint URLs), the codes table (where each `jti` is recorded once), the
/// furthest ahead an `exp` may be and the clock skew allowed.
#[derive(Debug, Clone)]
pub struct AssertionSettings {
    pub issuer: String,
    pub codes_table: String,
    pub max_lifetime: u64,
    pub leeway: u64,
}

impl AssertionSettings {
    /// The most `PORTCULLIS_ASSERTION_MAX_LIFETIME` may be: an hour (Authlib's default).
    pub const MAX: u64 = 3600;

    fn read<F: Fn(&str) -> Option<String>>(r: &mut Reader<F>) -> Result<Self, ConfigError> {
        let issuer = r.required(env::ISSUER);
        let codes_table = r.required(env::CODES_TABLE);
        r.finish()?;
        let max_lifetime = r.seconds(env::ASSERTION_MAX_LIFETIME, 300)?;
        if max_lifetime > Self::MAX {
            return Err(ConfigError(format!(
                "{} must be at most {} seconds, got {max_lifetime}",
                env::ASSERTION_MAX_LIFETIME,
                Self::MAX
            )));
        }
        Ok(Self {
            issuer: r.issuer(issuer)?,
            codes_table,
            max_lifetime,
            leeway: r.leeway()?,
        })
    }

    /// The accepted `aud` values at the endpoint at `path`: the issuer, the token endpoint's URL
    /// (RFC 7523 §3, OpenID Connect Core §9) and the URL of the endpoint called.
    pub fn audiences(&self, path: &str) -> Vec<String> {
        let mut a = vec![
            self.issuer.clone(),
            format!("{}{}", self.issuer, crate::metadata::paths::TOKEN),
        ];
        let called = format!("{}{path}", self.issuer);
        if !a.contains(&called) {
            a.push(called);
        }
        a
    }
}

/// The token function's settings.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Named in the issuance's condition check; read only on failure paths.
    pub clients_table: String,
    pub codes_table: String,
    pub tokens_table: String,
    /// The key secrets it reads (it issues tokens): mint, tag and access tag.
    pub mint_secret_id: String,
    pub tag_secret_id: String,
    pub access_tag_secret_id: String,
    /// How long the key rings read from Secrets Manager are used before they are read again.
    pub key_cache_ttl: u64,
    pub lifetimes: Lifetimes,
    /// Brute-force protection for client authentication (OAuth 2.1 §2.4.1).
    /// `PORTCULLIS_SCOPES`: a refresh keeps only the scopes still in the catalogue.
    pub scopes: ScopeCatalog,
    pub lockout: FailureLimit,
    /// private_key_jwt client assertions (RFC 7523).
    pub assertions: AssertionSettings,
}

impl FromEnv for TokenSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(get);
        let clients_table = r.required(env::CLIENTS_TABLE);
        let codes_table = r.required(env::CODES_TABLE);
        let tokens_table = r.required(env::TOKENS_TABLE);
        let mint_secret_id = r.required(env::MINT_SECRET_ID);
        let tag_secret_id = r.required(env::TAG_SECRET_ID);
        let access_tag_secret_id = r.required(env::ACCESS_TAG_SECRET_ID);
        r.finish()?;
        let assertions = AssertionSettings::read(&mut r)?;
        Ok(Self {
            assertions,
            scopes: r.scopes()?,
            lockout: FailureLimit::new(r.lockout()?),
            clients_table,
            codes_table,
            tokens_table,
            mint_secret_id,
            tag_secret_id,
            access_tag_secret_id,
            key_cache_ttl: r.key_cache_ttl()?,
            lifetimes: Lifetimes::read(&r)?,
        })
    }
}

/// The refresh function's settings: no codes table.
#[derive(Debug, Clone)]
pub struct RefreshSettings {
    /// Named in the refresh's condition check; read only on failure paths.
    pub clients_table: String,
    pub tokens_table: String,
    /// The key secrets it reads (it issues tokens): mint, tag and access tag.
    pub mint_secret_id: String,
    pub tag_secret_id: String,
    pub access_tag_secret_id: String,
    /// How long the key rings read from Secrets Manager are used before they are read again.
    pub key_cache_ttl: u64,
    pub lifetimes: Lifetimes,
    /// Brute-force protection for client authentication (OAuth 2.1 §2.4.1).
    /// `PORTCULLIS_SCOPES`: a refresh keeps only the scopes still in the catalogue.
    pub scopes: ScopeCatalog,
    pub lockout: FailureLimit,
    /// private_key_jwt client assertions (RFC 7523).
    pub assertions: AssertionSettings,
}

impl FromEnv for RefreshSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(get);
        let clients_table = r.required(env::CLIENTS_TABLE);
        let tokens_table = r.required(env::TOKENS_TABLE);
        let mint_secret_id = r.required(env::MINT_SECRET_ID);
        let tag_secret_id = r.required(env::TAG_SECRET_ID);
        let access_tag_secret_id = r.required(env::ACCESS_TAG_SECRET_ID);
        r.finish()?;
        let assertions = AssertionSettings::read(&mut r)?;
        Ok(Self {
            assertions,
            scopes: r.scopes()?,
            lockout: FailureLimit::new(r.lockout()?),
            clients_table,
            tokens_table,
            mint_secret_id,
            tag_secret_id,
            access_tag_secret_id,
            key_cache_ttl: r.key_cache_ttl()?,
            lifetimes: Lifetimes::read(&r)?,
        })
    }
}

/// The revoke function's settings: the clients table (authentication), the tokens table, and
/// the tag and access-tag key rings (a token whose tag does not verify is not looked up).
#[derive(Debug, Clone)]
pub struct RevokeSettings {
    pub clients_table: String,
    pub tokens_table: String,
    pub tag_secret_id: String,
    pub access_tag_secret_id: String,
    /// How long the key rings read from Secrets Manager are used before they are read again.
    pub key_cache_ttl: u64,
    /// Brute-force protection for client authentication (OAuth 2.1 §2.4.1).
    pub lockout: FailureLimit,
    /// private_key_jwt client assertions (RFC 7523).
    pub assertions: AssertionSettings,
}

impl FromEnv for RevokeSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(get);
        let clients_table = r.required(env::CLIENTS_TABLE);
        let tokens_table = r.required(env::TOKENS_TABLE);
        let tag_secret_id = r.required(env::TAG_SECRET_ID);
        let access_tag_secret_id = r.required(env::ACCESS_TAG_SECRET_ID);
        r.finish()?;
        let assertions = AssertionSettings::read(&mut r)?;
        Ok(Self {
            assertions,
            lockout: FailureLimit::new(r.lockout()?),
            clients_table,
            tokens_table,
            tag_secret_id,
            access_tag_secret_id,
            key_cache_ttl: r.key_cache_ttl()?,
        })
    }
}

/// The introspect function's settings: the issuer (`iss` in answers), the clients table
/// (authentication), the tokens table, and the tag and access-tag key rings (a token whose tag
/// does not verify is inactive without a lookup).
#[derive(Debug, Clone)]
pub struct IntrospectSettings {
    pub issuer: String,
    pub clients_table: String,
    pub tokens_table: String,
    pub tag_secret_id: String,
    pub access_tag_secret_id: String,
    /// How long the key rings read from Secrets Manager are used before they are read again.
    pub key_cache_ttl: u64,
    /// Brute-force protection for client authentication (OAuth 2.1 §2.4.1).
    pub lockout: FailureLimit,
    /// private_key_jwt client assertions (RFC 7523).
    pub assertions: AssertionSettings,
}

impl FromEnv for IntrospectSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(get);
        let issuer = r.required(env::ISSUER);
        let clients_table = r.required(env::CLIENTS_TABLE);
        let tokens_table = r.required(env::TOKENS_TABLE);
        let tag_secret_id = r.required(env::TAG_SECRET_ID);
        let access_tag_secret_id = r.required(env::ACCESS_TAG_SECRET_ID);
        r.finish()?;
        let assertions = AssertionSettings::read(&mut r)?;
        Ok(Self {
            assertions,
            lockout: FailureLimit::new(r.lockout()?),
            issuer: r.issuer(issuer)?,
            clients_table,
            tokens_table,
            tag_secret_id,
            access_tag_secret_id,
            key_cache_ttl: r.key_cache_ttl()?,
        })
    }
}

/// The metadata function's settings: the issuer and the scope catalog, no table.
#[derive(Debug, Clone)]
pub struct MetadataSettings {
    pub issuer: String,
    pub scopes: ScopeCatalog,
    /// What the deployment lets in beyond operator-registered clients (advertised):
    /// `registration` from `PORTCULLIS_DYNAMIC_REGISTRATION` (advertised unless `off`),
    /// `metadata_documents` from `PORTCULLIS_CLIENT_METADATA_DOCUMENTS`.
    pub openings: crate::metadata::Openings,
}

impl FromEnv for MetadataSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(get);
        let issuer = r.required(env::ISSUER);
        r.finish()?;
        Ok(Self {
            issuer: r.issuer(issuer)?,
            scopes: r.scopes()?,
            openings: crate::metadata::Openings {
                registration: r.registration_mode()? != crate::registration::RegistrationMode::Off,
                metadata_documents: r.metadata_documents()?,
            },
        })
    }
}

/// The register function's settings (RFC 7591): the clients table (it writes `dcr_…` clients),
/// the codes table (its counters and initial access tokens), the scope catalogue, the mode and
/// the caps.
#[derive(Debug, Clone)]
pub struct RegisterSettings {
    pub clients_table: String,
    pub codes_table: String,
    pub scopes: ScopeCatalog,
    pub mode: crate::registration::RegistrationMode,
    pub per_hour: u32,
    pub per_day: u32,
    /// An unused registered client's lifetime, seconds.
    pub idle: u64,
}

impl FromEnv for RegisterSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(get);
        let clients_table = r.required(env::CLIENTS_TABLE);
        let codes_table = r.required(env::CODES_TABLE);
        r.finish()?;
        Ok(Self {
            clients_table,
            codes_table,
            scopes: r.scopes()?,
            mode: r.registration_mode()?,
            per_hour: r.count(env::REGISTRATIONS_PER_HOUR, 100)?,
            per_day: r.count(env::REGISTRATIONS_PER_DAY, 1000)?,
            idle: r.registration_idle()?,
        })
    }
}

/// A resource server's settings (`me`, and a product's own API Lambdas): the tokens and clients
/// tables, and the access-tag key ring (the only key it holds: it can check an access token's
/// tag, not mint or predict a token); optionally its own URI, with the issuer and the scope
/// catalogue for its protected-resource metadata (RFC 9728).
#[derive(Debug, Clone)]
pub struct ResourceSettings {
    pub tokens_table: String,
    /// Read beside each access token: a disabled client's tokens stop working at once.
    pub clients_table: String,
    pub access_tag_secret_id: String,
    /// How long the key ring read from Secrets Manager is used before it is read again.
    pub key_cache_ttl: u64,
    /// `PORTCULLIS_RESOURCE_URI`: the resource's own URI ([`check_resource_uri`]); `None`: the
    /// audience of tokens is not checked.
    pub resource_uri: Option<String>,
    /// `PORTCULLIS_ISSUER`, when set: the authorization server the metadata names (required
    /// with a resource URI).
    pub issuer: Option<String>,
    pub scopes: ScopeCatalog,
}

impl FromEnv for ResourceSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(get);
        let tokens_table = r.required(env::TOKENS_TABLE);
        let clients_table = r.required(env::CLIENTS_TABLE);
        let access_tag_secret_id = r.required(env::ACCESS_TAG_SECRET_ID);
        r.finish()?;
        let issuer = r.optional(env::ISSUER).map(|i| r.issuer(i)).transpose()?;
        let resource_uri = r
            .optional(env::RESOURCE_URI)
            .map(|u| check_resource_uri(env::RESOURCE_URI, &u))
            .transpose()?;
        if resource_uri.is_some() && issuer.is_none() {
            return Err(ConfigError(format!(
                "{} needs {}: the protected-resource metadata names the authorization server (RFC 9728 §2)",
                env::RESOURCE_URI,
                env::ISSUER
            )));
        }
        Ok(Self {
            tokens_table,
            clients_table,
            access_tag_secret_id,
            key_cache_ttl: r.key_cache_ttl()?,
            resource_uri,
            issuer,
            scopes: r.scopes()?,
        })
    }
}

/// A protected resource's URI, checked (`what` names it in the error): RFC 8707 §2, an
/// absolute URI without a fragment (and, as it recommends, without a query); RFC 9728 §1.2, an
/// https URL (plain http only on a loopback host, the local stack); no user information; at
/// most [`crate::model::MAX_RESOURCE_URI`] bytes of printable ASCII, so it can be stored in a
/// grant and quoted in a `WWW-Authenticate` header as it is. Kept exactly as written: an
/// audience is compared byte for byte.
pub fn check_resource_uri(what: &str, raw: &str) -> Result<String, ConfigError> {
    crate::resource::check_registered_uri(raw)
        .map(|()| raw.to_string())
        .map_err(|why| ConfigError(format!("{what} `{raw}`: {why}")))
}

/// Cross-origin access for browser-based public clients (`PORTCULLIS_CORS_ORIGINS`): the
/// functions of the JSON endpoints read it; the authorization endpoint never does (RFC 9700
/// §2.6: it is navigated to, not fetched).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsSettings {
    /// Exact origins (`scheme://host[:port]`), compared as strings; empty: no cross-origin
    /// access.
    pub origins: Vec<String>,
}

impl FromEnv for CorsSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let r = Reader::new(get);
        let Some(raw) = r.optional(env::CORS_ORIGINS) else {
            return Ok(Self::default());
        };
        let mut origins = Vec::new();
        for o in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let url = Url::parse(o)
                .map_err(|e| ConfigError(format!("{} `{o}`: {e}", env::CORS_ORIGINS)))?;
            let origin = url.origin().ascii_serialization();
            if !matches!(url.scheme(), "http" | "https") || origin != o.trim_end_matches('/') {
                return Err(ConfigError(format!(
                    "{} `{o}` is not an origin: give scheme://host[:port], no path (e.g. https://app.example)",
                    env::CORS_ORIGINS
                )));
            }
            origins.push(origin);
        }
        Ok(Self { origins })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut m: HashMap<String, String> = local_stack(9000, 5000)
            .into_iter()
            .map(|(a, b)| (a.to_string(), b))
            .collect();
        m.insert(env::ISSUER.into(), "http://127.0.0.1:9000/".into());
        for (a, b) in extra {
            m.insert(a.to_string(), b.to_string());
        }
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults_follow_calcom_lifetimes() {
        let a = AuthorizeSettings::from_lookup(vars(&[])).unwrap();
        assert_eq!(a.issuer, "http://127.0.0.1:9000");
        assert_eq!(a.code_ttl, 600);
        assert_eq!(a.session_cookie, "session");
        assert!(!a.dev_login);
        let t = TokenSettings::from_lookup(vars(&[])).unwrap();
        assert_eq!(
            (t.lifetimes.access_ttl, t.lifetimes.refresh_ttl),
            (1800, 2_592_000)
        );
        assert_eq!(t.lifetimes.grant_lifetime, None);
        assert_eq!(t.lifetimes.refresh_grace, DEFAULT_REFRESH_GRACE);
    }

    /// Draft §6.5: loopback document hosts only on a loopback issuer, only loopback hosts, and
    /// the test CA only with them.
    #[test]
    fn metadata_document_loopback_hosts_are_refused_unless_the_issuer_is_loopback() {
        let local = "http://127.0.0.1:9000";
        let dev = metadata_document_dev(
            Some(" 127.0.0.1, localhost ,[::1]"),
            Some("/tmp/ca.pem"),
            local,
        )
        .unwrap();
        assert_eq!(dev.loopback_hosts, vec!["127.0.0.1", "localhost", "[::1]"]);
        assert_eq!(dev.ca_file.as_deref(), Some("/tmp/ca.pem"));
        assert_eq!(
            metadata_document_dev(None, None, "https://auth.example.com").unwrap(),
            MetadataDocumentDev::default()
        );
        assert_eq!(
            metadata_document_dev(Some(""), Some(" "), "https://auth.example.com").unwrap(),
            MetadataDocumentDev::default()
        );
        for issuer in ["https://auth.example.com", "http://10.0.0.1:9000"] {
            let e = metadata_document_dev(Some("127.0.0.1"), None, issuer).unwrap_err();
            assert!(
                e.to_string().contains("not a loopback URL"),
                "{issuer}: {e}"
            );
        }
        for host in [
            "10.0.0.1",
            "example.com",
            "169.254.169.254",
            "app.localhost",
        ] {
            assert!(
                metadata_document_dev(Some(host), None, local).is_err(),
                "{host}"
            );
        }
        assert!(metadata_document_dev(None, Some("/tmp/ca.pem"), local).is_err());
    }

    /// The dev login signs anyone in as anyone: it starts only on a loopback issuer.
    #[test]
    fn dev_login_is_refused_unless_the_issuer_is_a_loopback_url() {
        for issuer in [
            "https://auth.example.com",
            "https://10.0.0.1:9000",
            "https://localhost.example",
        ] {
            let e = AuthorizeSettings::from_lookup(vars(&[
                (env::DEV_LOGIN, "true"),
                (env::ISSUER, issuer),
            ]))
            .unwrap_err();
            assert!(e.to_string().contains(env::DEV_LOGIN), "{issuer}: {e}");
        }
        for issuer in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            let a = AuthorizeSettings::from_lookup(vars(&[
                (env::DEV_LOGIN, "true"),
                (env::ISSUER, issuer),
            ]))
            .unwrap();
            assert!(a.dev_login, "{issuer}");
        }
        let off =
            AuthorizeSettings::from_lookup(vars(&[(env::ISSUER, "https://auth.example.com")]));
        assert!(!off.unwrap().dev_login);
    }

    /// RFC 8414 §2: the issuer uses https; plain http only on a loopback host.
    #[test]
    fn the_issuer_must_be_https_except_on_loopback() {
        for bad in [
            "http://auth.example.com",
            "http://10.0.0.1:9000",
            "ftp://auth.example.com",
            "http://localhost.example",
        ] {
            let e = MetadataSettings::from_lookup(vars(&[(env::ISSUER, bad)])).unwrap_err();
            assert!(e.to_string().contains("https"), "{bad}: {e}");
        }
        for good in [
            "https://auth.example.com",
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            assert!(
                MetadataSettings::from_lookup(vars(&[(env::ISSUER, good)])).is_ok(),
                "{good}"
            );
        }
    }

    /// RFC 7519 §4.1.4: a small clock-skew leeway, 30 s by default, 0 allowed.
    #[test]
    fn the_clock_skew_leeway_defaults_to_30_seconds() {
        let a = AuthorizeSettings::from_lookup(vars(&[])).unwrap();
        assert_eq!(a.clock_skew_leeway, 30);
        let a = AuthorizeSettings::from_lookup(vars(&[(env::CLOCK_SKEW_LEEWAY, "0")])).unwrap();
        assert_eq!(a.clock_skew_leeway, 0);
        let e =
            AuthorizeSettings::from_lookup(vars(&[(env::CLOCK_SKEW_LEEWAY, "1h")])).unwrap_err();
        assert!(e.to_string().contains(env::CLOCK_SKEW_LEEWAY), "{e}");
    }

    #[test]
    fn missing_variables_are_named() {
        let e = AuthorizeSettings::from_lookup(|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(env::ISSUER) && e.contains(env::LOGIN_URL) && e.contains(env::SECRET_ID),
            "{e}"
        );
        let e = TokenSettings::from_lookup(|_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(env::TOKENS_TABLE), "{e}");
    }

    /// A resource server (`me`, a product's Lambda) needs only the tokens and clients tables
    /// and the access-tag secret (no issuer, no other secret).
    #[test]
    fn each_function_reads_only_its_own_settings() {
        let resource = |k: &str| match k {
            env::TOKENS_TABLE => Some("t".to_string()),
            env::CLIENTS_TABLE => Some("c".to_string()),
            env::ACCESS_TAG_SECRET_ID => Some("a".to_string()),
            _ => None,
        };
        let r = ResourceSettings::from_lookup(resource).unwrap();
        assert_eq!(
            (
                r.tokens_table.as_str(),
                r.clients_table.as_str(),
                r.access_tag_secret_id.as_str()
            ),
            ("t", "c", "a")
        );
        let token_only = |k: &str| match k {
            env::CLIENTS_TABLE
            | env::CODES_TABLE
            | env::TOKENS_TABLE
            | env::MINT_SECRET_ID
            | env::TAG_SECRET_ID
            | env::ACCESS_TAG_SECRET_ID => Some("x".to_string()),
            // private_key_jwt: an accepted `aud`.
            env::ISSUER => Some("https://auth.example".to_string()),
            _ => None,
        };
        assert!(TokenSettings::from_lookup(token_only).is_ok());
        assert!(AuthorizeSettings::from_lookup(token_only).is_err());
    }

    /// The secrets each settings type reads, by name: a function holds only the keys it uses
    /// (only the functions that issue tokens hold the mint key; a resource server holds only the
    /// access-tag key).
    #[test]
    fn each_settings_type_reads_exactly_the_key_secrets_it_uses() {
        use std::cell::RefCell;
        const SECRETS: [&str; 4] = [
            env::SECRET_ID,
            env::MINT_SECRET_ID,
            env::TAG_SECRET_ID,
            env::ACCESS_TAG_SECRET_ID,
        ];
        fn read<T>(
            settings: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, ConfigError>,
        ) -> Vec<&'static str> {
            let asked = RefCell::new(Vec::new());
            let all = vars(&[]);
            let get = |k: &str| {
                asked.borrow_mut().push(k.to_string());
                all(k)
            };
            assert!(settings(&get).is_ok());
            let asked = asked.into_inner();
            SECRETS
                .into_iter()
                .filter(|s| asked.iter().any(|a| a == s))
                .collect()
        }
        use env::{ACCESS_TAG_SECRET_ID as ACCESS, MINT_SECRET_ID as MINT, TAG_SECRET_ID as TAG};
        assert_eq!(
            read(|g| AuthorizeSettings::from_lookup(g)),
            [env::SECRET_ID, TAG]
        );
        assert_eq!(read(|g| TokenSettings::from_lookup(g)), [MINT, TAG, ACCESS]);
        assert_eq!(
            read(|g| RefreshSettings::from_lookup(g)),
            [MINT, TAG, ACCESS]
        );
        assert_eq!(read(|g| RevokeSettings::from_lookup(g)), [TAG, ACCESS]);
        assert_eq!(read(|g| IntrospectSettings::from_lookup(g)), [TAG, ACCESS]);
        assert_eq!(read(|g| ResourceSettings::from_lookup(g)), [ACCESS]);
        assert!(read(|g| MetadataSettings::from_lookup(g)).is_empty());
    }

    /// The key secrets are required: a function that would hold a key does not start without it,
    /// and the message names every missing one.
    #[test]
    fn a_missing_key_secret_is_named() {
        let without = |names: &'static [&'static str]| {
            let all = vars(&[]);
            move |k: &str| (!names.contains(&k)).then(|| all(k)).flatten()
        };
        let e = TokenSettings::from_lookup(without(&[env::MINT_SECRET_ID, env::TAG_SECRET_ID]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(env::MINT_SECRET_ID) && e.contains(env::TAG_SECRET_ID),
            "{e}"
        );
        let e = ResourceSettings::from_lookup(without(&[env::ACCESS_TAG_SECRET_ID])).unwrap_err();
        assert!(e.to_string().contains(env::ACCESS_TAG_SECRET_ID), "{e}");
        let e = AuthorizeSettings::from_lookup(without(&[env::TAG_SECRET_ID])).unwrap_err();
        assert!(e.to_string().contains(env::TAG_SECRET_ID), "{e}");
    }

    /// `PORTCULLIS_KEY_CACHE_TTL` (default 300 s) applies to every function that reads a secret.
    #[test]
    fn every_function_that_reads_a_secret_caches_its_keys_for_the_key_cache_ttl() {
        let ttls = |extra: &[(&str, &str)]| -> Result<[u64; 6], ConfigError> {
            Ok([
                AuthorizeSettings::from_lookup(vars(extra))?.key_cache_ttl,
                TokenSettings::from_lookup(vars(extra))?.key_cache_ttl,
                RefreshSettings::from_lookup(vars(extra))?.key_cache_ttl,
                RevokeSettings::from_lookup(vars(extra))?.key_cache_ttl,
                IntrospectSettings::from_lookup(vars(extra))?.key_cache_ttl,
                ResourceSettings::from_lookup(vars(extra))?.key_cache_ttl,
            ])
        };
        assert_eq!(ttls(&[]).unwrap(), [DEFAULT_KEY_CACHE_TTL; 6]);
        assert_eq!(ttls(&[(env::KEY_CACHE_TTL, "60")]).unwrap(), [60; 6]);
        let e = ResourceSettings::from_lookup(vars(&[(env::KEY_CACHE_TTL, "0")])).unwrap_err();
        assert!(e.to_string().contains(env::KEY_CACHE_TTL), "{e}");
    }

    /// Revocation, introspection and metadata read only what they use: metadata no table; revoke
    /// and introspect the issuer and the codes table for private_key_jwt (an accepted `aud`, and
    /// where each `jti` is recorded).
    #[test]
    fn revoke_introspect_and_metadata_read_only_their_own_settings() {
        let only = |names: &'static [&'static str]| {
            move |k: &str| names.contains(&k).then(|| "https://x".to_string())
        };
        let m = MetadataSettings::from_lookup(only(&[env::ISSUER])).unwrap();
        assert_eq!(m.issuer, "https://x");
        assert!(m.scopes.contains("READ_BOOKING"));
        const REVOKE: &[&str] = &[
            env::CLIENTS_TABLE,
            env::TOKENS_TABLE,
            env::TAG_SECRET_ID,
            env::ACCESS_TAG_SECRET_ID,
            env::ISSUER,
            env::CODES_TABLE,
        ];
        assert!(RevokeSettings::from_lookup(only(REVOKE)).is_ok());
        assert!(IntrospectSettings::from_lookup(only(REVOKE)).is_ok());
        let e = IntrospectSettings::from_lookup(only(&REVOKE[..5])).unwrap_err();
        assert!(e.to_string().contains(env::CODES_TABLE), "{e}");
        let e = RevokeSettings::from_lookup(only(&REVOKE[..4])).unwrap_err();
        assert!(e.to_string().contains(env::ISSUER), "{e}");
        let i = IntrospectSettings::from_lookup(vars(&[])).unwrap();
        assert_eq!(i.issuer, "http://127.0.0.1:9000");
    }

    #[test]
    fn bad_numbers_and_scopes_are_refused_with_the_variable_name() {
        let e = AuthorizeSettings::from_lookup(vars(&[(env::CODE_TTL, "ten")])).unwrap_err();
        assert!(e.to_string().contains(env::CODE_TTL));
        let e = TokenSettings::from_lookup(vars(&[(env::ACCESS_TOKEN_TTL, "0")])).unwrap_err();
        assert!(e.to_string().contains(env::ACCESS_TOKEN_TTL));
        let e = RefreshSettings::from_lookup(vars(&[(env::REFRESH_GRACE, "301")])).unwrap_err();
        assert!(e.to_string().contains(env::REFRESH_GRACE));
        let ok = RefreshSettings::from_lookup(vars(&[
            (env::REFRESH_GRACE, "300"),
            (env::GRANT_LIFETIME, "7776000"),
        ]))
        .unwrap();
        assert_eq!(ok.lifetimes.refresh_grace, 300);
        assert_eq!(ok.lifetimes.grant_lifetime, Some(7_776_000));
        let e = AuthorizeSettings::from_lookup(vars(&[(
            env::SCOPES,
            "[{\"name\":\"a b\",\"description\":\"x\"}]",
        )]))
        .unwrap_err();
        assert!(e.to_string().contains(env::SCOPES));
        let c = AuthorizeSettings::from_lookup(vars(&[(
            env::SCOPES,
            "[{\"name\":\"WRITE\",\"description\":\"Change things\"}]",
        )]))
        .unwrap();
        assert!(c.scopes.contains("WRITE") && !c.scopes.contains("READ_BOOKING"));
    }

    #[test]
    fn every_variable_in_the_env_module_is_listed_with_a_meaning() {
        let source = include_str!("settings.rs");
        let module = source
            .split("pub mod env {")
            .nth(1)
            .and_then(|rest| rest.split("\n}").next())
            .unwrap();
        let names: Vec<&str> = module
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        assert!(names.len() >= 20, "{names:?}");
        for name in names {
            let listed = ENV_VARS.iter().find(|v| v.name == name);
            assert!(
                listed.is_some_and(|v| !v.meaning.is_empty()),
                "{name} is in settings::env but not in ENV_VARS"
            );
        }
    }

    #[test]
    fn page_settings_default_to_the_product_name_and_no_footer_links() {
        let s = AuthorizeSettings::from_lookup(vars(&[])).unwrap();
        assert_eq!(s.pages.product_name, DEFAULT_PRODUCT_NAME);
        assert_eq!(s.pages.privacy_url, None);
        let s = AuthorizeSettings::from_lookup(vars(&[
            (env::PRODUCT_NAME, "Acme Calendar"),
            (env::PRIVACY_URL, "https://acme.example/privacy"),
            (env::TERMS_URL, "https://acme.example/terms"),
        ]))
        .unwrap();
        assert_eq!(s.pages.product_name, "Acme Calendar");
        assert_eq!(
            s.pages.terms_url.as_deref(),
            Some("https://acme.example/terms")
        );
        let e = AuthorizeSettings::from_lookup(vars(&[(env::PRIVACY_URL, "javascript:alert(1)")]))
            .unwrap_err();
        assert!(e.to_string().contains(env::PRIVACY_URL), "{e}");
    }

    /// The CORS origins are exact origins, checked at cold start.
    #[test]
    fn cors_origins_are_exact_origins() {
        let with = |v: &str| {
            let v = v.to_string();
            CorsSettings::from_lookup(move |k| (k == env::CORS_ORIGINS).then(|| v.clone()))
        };
        assert_eq!(
            CorsSettings::from_lookup(|_| None).unwrap().origins.len(),
            0
        );
        assert_eq!(
            with("https://app.example, http://127.0.0.1:8976")
                .unwrap()
                .origins,
            vec!["https://app.example", "http://127.0.0.1:8976"]
        );
        for bad in [
            "https://app.example/path",
            "app.example",
            "ftp://x.example",
            "*",
        ] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }
    /// RFC 8707 §2 / RFC 9728 §1.2: a resource URI is an absolute https URL (http on loopback),
    /// with no fragment, query or user information, short enough for a grant; kept as written.
    #[test]
    fn a_resource_uri_is_an_https_url_without_query_or_fragment() {
        for good in [
            "https://api.example.com/mcp",
            "https://api.example.com",
            "https://api.example.com/",
            "http://127.0.0.1:9000/mcp",
        ] {
            assert_eq!(check_resource_uri("R", good).unwrap(), good);
        }
        let long = format!("https://api.example.com/{}", "a".repeat(200));
        for bad in [
            "http://api.example.com/mcp",
            "https://api.example.com/mcp#x",
            "https://api.example.com/mcp?tenant=1",
            "https://user@api.example.com/mcp",
            "/mcp",
            "https://api.example.com/m\"cp",
            "https://api.example.com/m cp",
            long.as_str(),
        ] {
            assert!(check_resource_uri("R", bad).is_err(), "{bad}");
        }
    }

    /// `PORTCULLIS_RESOURCE_URI` is optional; with it the issuer is required (the metadata's
    /// `authorization_servers`, RFC 9728 §2).
    #[test]
    fn a_resource_uri_needs_the_issuer() {
        let r = ResourceSettings::from_lookup(vars(&[])).unwrap();
        assert_eq!(r.resource_uri, None);
        let r = ResourceSettings::from_lookup(vars(&[(
            env::RESOURCE_URI,
            "http://127.0.0.1:9000/mcp",
        )]))
        .unwrap();
        assert_eq!(r.resource_uri.as_deref(), Some("http://127.0.0.1:9000/mcp"));
        assert_eq!(r.issuer.as_deref(), Some("http://127.0.0.1:9000"));
        let no_issuer = |k: &str| match k {
            env::ISSUER => None,
            env::RESOURCE_URI => Some("https://api.example.com/mcp".to_string()),
            other => vars(&[])(other),
        };
        let e = ResourceSettings::from_lookup(no_issuer).unwrap_err();
        assert!(e.to_string().contains(env::ISSUER), "{e}");
        let e = ResourceSettings::from_lookup(vars(&[(env::RESOURCE_URI, "https://x/#f")]))
            .unwrap_err();
        assert!(e.to_string().contains(env::RESOURCE_URI), "{e}");
    }
}
