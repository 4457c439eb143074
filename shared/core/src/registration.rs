//! Dynamic client registration (RFC 7591): the request body parsed once into a
//! [`RegistrationRequest`] of normalised metadata, the client it registers, its derived id
//! (identical registrations name one client) and the response (RFC 7591 §3.2.1). No I/O; the
//! endpoint is `portcullis_lambda::endpoints::register`.
//!
//! What is accepted, and why:
//! - `redirect_uris` (required, 1 to [`MAX_REDIRECT_URIS`]): https, loopback http (any port at
//!   use, RFC 8252 §7.3) or a private-use scheme ([`crate::redirect::validate_registration`]).
//! - `token_endpoint_auth_method`: `none` (a public client, PKCE required) without an initial
//!   access token; `client_secret_basic`, `client_secret_post` or `private_key_jwt` (with
//!   `jwks`) only with one ([`Authorisation`]).
//! - `grant_types` ⊆ {`authorization_code`, `refresh_token`}; `response_types` = [`code`].
//! - `scope`: each in the catalogue; absent, every catalogue scope (Claude Code sends none, and a
//!   client registered without scopes could never get any, appstrate/appstrate#1267).
//! - Unknown members are ignored (RFC 7591 §2: "the authorization server MUST ignore any client
//!   metadata sent by the client that it does not understand").
use crate::assertion::ClientKeys;
use crate::clock::Entropy;
use crate::error::{echo, OAuthError};
use crate::ids::{ClientId, RedirectUri};
use crate::model::{Client, ClientOrigin, GrantType, SoftwareMetadata};
use crate::scope::{is_scope_token, join_scope, ScopeCatalog};
use crate::secret::{ClientSecret, SecretHash};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The largest registration body read, in bytes: the metadata of any real client is a few
/// hundred bytes (a JWKS of two RSA keys some 1.5 KB); larger is refused before parsing.
pub const MAX_BODY: usize = 16 * 1024;
/// At most this many redirect URIs (the CLI's limit too).
pub const MAX_REDIRECT_URIS: usize = 10;
/// The longest `client_name`, in characters after trimming (the CLI's limit too).
pub const MAX_NAME_CHARS: usize = 100;
/// The longest URI (`redirect_uris` each, `client_uri`, `logo_uri`), in bytes.
pub const MAX_URI: usize = 512;
/// The longest `software_id` / `software_version`, in characters.
pub const MAX_SOFTWARE_CHARS: usize = 100;

/// `PORTCULLIS_DYNAMIC_REGISTRATION`: who may register a client at the registration endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationMode {
    /// No dynamic registration (the default): the endpoint answers 404, as an unknown path, and
    /// the server metadata has no `registration_endpoint`.
    #[default]
    Off,
    /// Every registration needs an operator's initial access token (RFC 7591 §3).
    Token,
    /// Public clients register without one (what MCP clients do); confidential ones still need
    /// one.
    Open,
}

impl RegistrationMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Self::Off),
            "token" => Some(Self::Token),
            "open" => Some(Self::Open),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Token => "token",
            Self::Open => "open",
        }
    }
    /// Whether the server advertises and serves `registration_endpoint`.
    pub fn enabled(self) -> bool {
        self != Self::Off
    }
}

/// RFC 7591 §2 `token_endpoint_auth_method`, as far as Portcullis supports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl AuthMethod {
    const ALL: [AuthMethod; 4] = [
        Self::None,
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::PrivateKeyJwt,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// OpenID Connect Dynamic Client Registration §2 `application_type`, which the MCP
/// specification (2026-07-28, client registration) requires clients to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    Native,
    Web,
}

/// A registration request, parsed and normalised: what [`RegistrationRequest::client_id`]
/// hashes, so its field order and contents are the canonical form of a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationRequest {
    /// In the order sent, repeats dropped.
    pub redirect_uris: Vec<RedirectUri>,
    /// Trimmed; when none was sent, the first redirect URI's host (or scheme).
    pub client_name: String,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    /// In catalogue order, each once.
    pub scopes: Vec<String>,
    /// In [`GrantType::ALL`] order; `authorization_code` is always there.
    pub grant_types: Vec<GrantType>,
    pub auth_method: AuthMethod,
    /// Compact JWKS JSON, for `private_key_jwt`.
    #[serde(skip)]
    pub jwks: Option<ClientKeys>,
    /// The keys, for the canonical form (the same keys are the same registration).
    jwks_json: Option<String>,
    pub application_type: Option<ApplicationType>,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
}

/// Whether the request carried a valid initial access token (RFC 7591 §3): the endpoint checks
/// the token, this module the rule of what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorisation {
    /// No token (the open endpoint).
    Anonymous,
    /// A live operator-issued initial access token.
    InitialAccessToken,
}

fn metadata_error(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_client_metadata(d)
}

/// An optional string member: absent or `null` is `None`; anything but a string is refused.
fn opt_string(m: &Map<String, Value>, key: &'static str) -> Result<Option<String>, OAuthError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(_) => Err(metadata_error(format!("`{key}` must be a string"))),
    }
}

/// An optional array of strings.
fn opt_strings(
    m: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<Vec<String>>, OAuthError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(metadata_error(format!(
                    "`{key}` must be an array of strings"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(metadata_error(format!(
            "`{key}` must be an array of strings"
        ))),
    }
}

/// RFC 7591 §2 `client_uri` / `logo_uri`: an https URL of at most [`MAX_URI`] bytes (a logo is
/// loaded by the user's browser on the consent page; plain http would be mixed content).
fn https_uri(m: &Map<String, Value>, key: &'static str) -> Result<Option<String>, OAuthError> {
    let Some(v) = opt_string(m, key)? else {
        return Ok(None);
    };
    if v.len() > MAX_URI {
        return Err(metadata_error(format!(
            "`{key}` is longer than {MAX_URI} bytes"
        )));
    }
    match url::Url::parse(&v) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() && u.username().is_empty() => {
            Ok(Some(v))
        }
        _ => Err(metadata_error(format!(
            "`{key}` must be an https URL, got `{}`",
            echo(&v)
        ))),
    }
}

/// A short free-text member (`software_id`, `software_version`).
fn short_text(m: &Map<String, Value>, key: &'static str) -> Result<Option<String>, OAuthError> {
    let v = opt_string(m, key)?;
    if let Some(v) = &v {
        if v.chars().count() > MAX_SOFTWARE_CHARS || v.chars().any(char::is_control) {
            return Err(metadata_error(format!(
                "`{key}` must be at most {MAX_SOFTWARE_CHARS} printable characters"
            )));
        }
    }
    Ok(v)
}

impl RegistrationRequest {
    /// RFC 7591 §2, §3.1: parses a registration body (a JSON object) against the scope
    /// catalogue. A body over [`MAX_BODY`] is the caller's to refuse (413) before this runs;
    /// here it is refused too, as `invalid_client_metadata`.
    pub fn parse(body: &[u8], catalog: &ScopeCatalog) -> Result<Self, OAuthError> {
        if body.len() > MAX_BODY {
            return Err(metadata_error(format!(
                "the registration is larger than {MAX_BODY} bytes"
            )));
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| {
            metadata_error("the body must be a JSON object of client metadata (RFC 7591 §3.1)")
        })?;
        let Value::Object(m) = value else {
            return Err(metadata_error(
                "the body must be a JSON object of client metadata (RFC 7591 §3.1)",
            ));
        };
        let redirect_uris = Self::redirect_uris(&m)?;
        let client_name = Self::client_name(&m, &redirect_uris)?;
        let client_uri = https_uri(&m, "client_uri")?;
        let logo_uri = https_uri(&m, "logo_uri")?;
        let scopes = Self::scopes(&m, catalog)?;
        let grant_types = Self::grant_types(&m)?;
        Self::response_types(&m)?;
        let (auth_method, jwks) = Self::auth_method(&m)?;
        let application_type = match opt_string(&m, "application_type")?.as_deref() {
            None => None,
            Some("native") => Some(ApplicationType::Native),
            Some("web") => Some(ApplicationType::Web),
            Some(other) => {
                return Err(metadata_error(format!(
                    "`application_type` must be `native` or `web`, got `{}`",
                    echo(other)
                )))
            }
        };
        Ok(Self {
            redirect_uris,
            client_name,
            client_uri,
            logo_uri,
            scopes,
            grant_types,
            auth_method,
            jwks_json: jwks.as_ref().map(|k| k.as_json().to_string()),
            jwks,
            application_type,
            software_id: short_text(&m, "software_id")?,
            software_version: short_text(&m, "software_version")?,
        })
    }

    /// RFC 7591 §2 `redirect_uris`: required for the authorization code grant (the only one a
    /// registered client may use), 1 to [`MAX_REDIRECT_URIS`], each valid
    /// ([`crate::redirect::validate_registration`]) and at most [`MAX_URI`] bytes.
    fn redirect_uris(m: &Map<String, Value>) -> Result<Vec<RedirectUri>, OAuthError> {
        let uris = match m.get("redirect_uris") {
            None | Some(Value::Null) => {
                return Err(OAuthError::invalid_redirect_uri(
                    "`redirect_uris` is required (RFC 7591 §2)",
                ))
            }
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(OAuthError::invalid_redirect_uri(
                    "`redirect_uris` must be an array of strings",
                ))
            }
        };
        if uris.is_empty() || uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::invalid_redirect_uri(format!(
                "`redirect_uris` must have 1 to {MAX_REDIRECT_URIS} URIs, got {}",
                uris.len()
            )));
        }
        let mut out: Vec<RedirectUri> = Vec::new();
        for u in uris {
            let Value::String(u) = u else {
                return Err(OAuthError::invalid_redirect_uri(
                    "`redirect_uris` must be an array of strings",
                ));
            };
            if u.len() > MAX_URI {
                return Err(OAuthError::invalid_redirect_uri(format!(
                    "a redirect URI is longer than {MAX_URI} bytes: `{}`",
                    echo(u)
                )));
            }
            crate::redirect::validate_registration(u).map_err(OAuthError::invalid_redirect_uri)?;
            if !out.iter().any(|x| x.as_str() == u) {
                out.push(RedirectUri::from(u.as_str()));
            }
        }
        Ok(out)
    }

    /// RFC 7591 §2 `client_name`: 1 to [`MAX_NAME_CHARS`] characters after trimming, no control
    /// characters; absent, the first redirect URI's host (what the consent page would show
    /// anyway), or its scheme for a private-use URI.
    fn client_name(m: &Map<String, Value>, uris: &[RedirectUri]) -> Result<String, OAuthError> {
        if let Some(name) = opt_string(m, "client_name")? {
            let n = name.chars().count();
            if n > MAX_NAME_CHARS {
                return Err(metadata_error(format!(
                    "`client_name` must be at most {MAX_NAME_CHARS} characters, got {n}"
                )));
            }
            if name.chars().any(char::is_control) {
                return Err(metadata_error(
                    "`client_name` must not contain control characters",
                ));
            }
            return Ok(name);
        }
        let first =
            uris.first()
                .and_then(|u| url::Url::parse(u).ok())
                .map(|u| match u.host_str() {
                    Some(h) if !h.is_empty() => h.to_string(),
                    _ => u.scheme().to_string(),
                });
        Ok(first.unwrap_or_else(|| "Unnamed client".into()))
    }

    /// RFC 7591 §2 `scope`: space-separated, each in the catalogue; absent, every catalogue
    /// scope. Stored in catalogue order, each once.
    fn scopes(m: &Map<String, Value>, catalog: &ScopeCatalog) -> Result<Vec<String>, OAuthError> {
        let Some(raw) = opt_string(m, "scope")? else {
            return Ok(catalog.names().map(str::to_string).collect());
        };
        let asked: Vec<&str> = raw.split(' ').filter(|s| !s.is_empty()).collect();
        for s in &asked {
            if !is_scope_token(s) || !catalog.contains(s) {
                let known: Vec<&str> = catalog.names().collect();
                return Err(metadata_error(format!(
                    "unknown scope `{}` (this server has: {})",
                    echo(s),
                    known.join(" ")
                )));
            }
        }
        Ok(catalog
            .names()
            .filter(|n| asked.contains(n))
            .map(str::to_string)
            .collect())
    }

    /// RFC 7591 §2 `grant_types`: a subset of `authorization_code` and `refresh_token`
    /// (default both). `client_credentials` is the operator's to grant (`portcullis client
    /// create --grant-type client_credentials`): a registered client acts for users only. A
    /// code exchange always issues a refresh token, so `authorization_code` brings
    /// `refresh_token` (RFC 7591 §3.2.1 lets the server say what it registered).
    fn grant_types(m: &Map<String, Value>) -> Result<Vec<GrantType>, OAuthError> {
        let Some(given) = opt_strings(m, "grant_types")? else {
            return Ok(crate::model::user_grant_types());
        };
        for g in &given {
            match GrantType::parse(g) {
                Some(GrantType::AuthorizationCode | GrantType::RefreshToken) => {}
                Some(GrantType::ClientCredentials) => {
                    return Err(metadata_error(
                        "`grant_types`: client_credentials cannot be registered here; ask the operator for a client (portcullis client create --grant-type client_credentials)",
                    ))
                }
                None => {
                    return Err(metadata_error(format!(
                        "`grant_types`: `{}` is not supported (use authorization_code and refresh_token)",
                        echo(g)
                    )))
                }
            }
        }
        if !given.is_empty() && !given.iter().any(|g| g == "authorization_code") {
            return Err(metadata_error(
                "`grant_types` must include authorization_code: refresh tokens come only from a code exchange",
            ));
        }
        Ok(crate::model::user_grant_types())
    }

    /// RFC 7591 §2 `response_types`: `code` only (OAuth 2.1 has no implicit grant).
    fn response_types(m: &Map<String, Value>) -> Result<(), OAuthError> {
        match opt_strings(m, "response_types")? {
            None => Ok(()),
            Some(r) if r.iter().all(|t| t == "code") => Ok(()),
            Some(r) => Err(metadata_error(format!(
                "`response_types` must be [\"code\"], got `{}`",
                echo(&r.join(" "))
            ))),
        }
    }

    /// RFC 7591 §2 `token_endpoint_auth_method` (default `none`: the open endpoint registers
    /// public clients) and `jwks` (RFC 7591 §2: for `private_key_jwt`; `jwks_uri` is not
    /// supported, the keys must be given by value).
    fn auth_method(m: &Map<String, Value>) -> Result<(AuthMethod, Option<ClientKeys>), OAuthError> {
        let method = match opt_string(m, "token_endpoint_auth_method")? {
            None => AuthMethod::None,
            Some(s) => AuthMethod::parse(&s).ok_or_else(|| {
                metadata_error(format!(
                    "`token_endpoint_auth_method` `{}` is not supported (use none, client_secret_basic, client_secret_post or private_key_jwt)",
                    echo(&s)
                ))
            })?,
        };
        if m.get("jwks_uri").is_some_and(|v| !v.is_null()) {
            return Err(metadata_error(
                "`jwks_uri` is not supported: give the keys as `jwks`",
            ));
        }
        let jwks = match m.get("jwks") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(
                ClientKeys::from_jwks_json(&v.to_string())
                    .map_err(|e| metadata_error(format!("`jwks`: {e}")))?,
            ),
            Some(_) => return Err(metadata_error("`jwks` must be a JWK Set object")),
        };
        match (method, &jwks) {
            (AuthMethod::PrivateKeyJwt, None) => Err(metadata_error(
                "`token_endpoint_auth_method` private_key_jwt needs `jwks`",
            )),
            (AuthMethod::PrivateKeyJwt, Some(_)) => Ok((method, jwks)),
            (_, Some(_)) => Err(metadata_error(
                "`jwks` is only for `token_endpoint_auth_method` private_key_jwt",
            )),
            (_, None) => Ok((method, None)),
        }
    }

    /// A public client (`none`): no secret, PKCE required (OAuth 2.1 §2.1).
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// RFC 7591 §3: what the request may register without, or with, an initial access token.
    /// `Token` mode: every registration needs one; `Open`: public clients do not, confidential
    /// ones do (a secret handed to anyone who asks identifies nobody). `Off` never reaches
    /// here.
    pub fn authorised(&self, mode: RegistrationMode, by: Authorisation) -> Result<(), OAuthError> {
        match (mode, by) {
            (_, Authorisation::InitialAccessToken) => Ok(()),
            (RegistrationMode::Open, Authorisation::Anonymous) if self.is_public() => Ok(()),
            (RegistrationMode::Open, Authorisation::Anonymous) => Err(metadata_error(format!(
                "`token_endpoint_auth_method` {} registers a confidential client, which needs an initial access token from the operator (Authorization: Bearer); register with `none` (a public client with PKCE) instead",
                self.auth_method.as_str()
            ))),
            _ => Err(OAuthError::invalid_token(
                "this server registers clients only with an initial access token (Authorization: Bearer, RFC 7591 §3)",
            )),
        }
    }

    /// The canonical form of the registration: the normalised metadata as JSON, fields in a
    /// fixed order. Two requests that differ only in member order, whitespace, repeats, scope
    /// order, unknown members or defaults spelt out have the same canonical form.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The client id of a public registration: `dcr_` and the SHA-256 of the canonical form
    /// (base64url, 43 characters), so an identical re-registration from the same software (a
    /// claude.ai connector re-registers at every connection) names the same client instead of
    /// adding a row.
    ///
    /// Not keyed, on purpose: a public client's id is not a secret (RFC 6749 §2.2; it is in
    /// every authorization URL), and anyone who can predict it can only register the very same
    /// metadata, which yields that same client with the same redirect URIs: a predicted id gives
    /// no way to a client with other redirect URIs, and the redirect URIs and PKCE are what
    /// protect a public client's codes. A deployment key would also tie the ids to that key (a
    /// rotation would re-register every client). Confidential registrations never use this: they
    /// get a random id ([`random_client_id`]).
    pub fn client_id(&self) -> ClientId {
        let mut h = Sha256::new();
        h.update(b"portcullis-dcr-v1:");
        h.update(self.canonical().as_bytes());
        ClientId::new(format!(
            "{}{}",
            REGISTRATION_PREFIX,
            URL_SAFE_NO_PAD.encode(h.finalize())
        ))
    }

    /// The client to store: for a public registration its derived id and no secret, for a
    /// confidential one a random id and `secret_hash` (or only keys, for private_key_jwt). It
    /// expires `idle` seconds from `now` unless used ([`Client::needs_touch`]); it is never
    /// trusted, never PKCE-optional, always rotates refresh tokens.
    pub fn into_client(
        self,
        client_id: ClientId,
        secret_hash: Option<SecretHash>,
        now: u64,
        idle: u64,
    ) -> Client {
        let software = SoftwareMetadata {
            client_uri: self.client_uri,
            application_type: self.application_type.map(|a| match a {
                ApplicationType::Native => "native".to_string(),
                ApplicationType::Web => "web".to_string(),
            }),
            software_id: self.software_id,
            software_version: self.software_version,
            token_endpoint_auth_method: Some(self.auth_method.as_str().to_string()),
        };
        Client {
            client_id,
            name: self.client_name,
            logo_uri: self.logo_uri,
            redirect_uris: self.redirect_uris,
            scopes: self.scopes,
            public: self.auth_method == AuthMethod::None,
            trusted: false,
            pkce_optional: false,
            disabled: false,
            disabled_at: None,
            secret_hashes: secret_hash.into_iter().collect(),
            secret_retiring: None,
            refresh_rotation: true,
            resource_server: false,
            grant_types: self.grant_types,
            jwks: self.jwks,
            jwks_retiring: None,
            token_rate: None,
            created_at: now,
            origin: ClientOrigin::Registration,
            expires_at: Some(now.saturating_add(idle)),
            software: Some(software),
            document: None,
        }
    }
}

/// The prefix of every dynamically registered client's id ([`ClientOrigin::id_prefix`]); the
/// registration function's IAM policy may write only keys that start with it.
pub const REGISTRATION_PREFIX: &str = "dcr_";

/// A confidential registration's id: `dcr_` and 128 random bits in hex.
pub fn random_client_id(entropy: &dyn Entropy) -> ClientId {
    let mut b = [0u8; 16];
    entropy.fill(&mut b);
    ClientId::new(format!(
        "{REGISTRATION_PREFIX}{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// RFC 7591 §3.2.1: the client information response, the metadata as registered. The stored
/// client is the source (an identical re-registration answers the client as it was first
/// registered, `client_id_issued_at` included); the secret only when one was just issued.
pub fn response(client: &Client, secret: Option<&ClientSecret>) -> Value {
    let software = client.software.clone().unwrap_or_default();
    let method = software
        .token_endpoint_auth_method
        .clone()
        .unwrap_or_else(|| {
            if client.public {
                "none"
            } else {
                "client_secret_basic"
            }
            .to_string()
        });
    let mut out = serde_json::json!({
        "client_id": client.client_id.as_str(),
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "scope": join_scope(&client.scopes),
    });
    let put = |out: &mut Value, k: &str, v: Option<&str>| {
        if let (Some(v), Some(o)) = (v, out.as_object_mut()) {
            o.insert(k.to_string(), Value::String(v.to_string()));
        }
    };
    put(&mut out, "logo_uri", client.logo_uri.as_deref());
    put(&mut out, "client_uri", software.client_uri.as_deref());
    put(
        &mut out,
        "application_type",
        software.application_type.as_deref(),
    );
    put(&mut out, "software_id", software.software_id.as_deref());
    put(
        &mut out,
        "software_version",
        software.software_version.as_deref(),
    );
    if let Some(o) = out.as_object_mut() {
        if let Some(keys) = &client.jwks {
            if let Ok(v) = serde_json::from_str::<Value>(keys.as_json()) {
                o.insert("jwks".into(), v);
            }
        }
        if let Some(s) = secret {
            o.insert(
                "client_secret".into(),
                Value::String(s.secret().to_string()),
            );
            // RFC 7591 §3.2.1: 0, the secret does not expire.
            o.insert("client_secret_expires_at".into(), Value::from(0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn catalog() -> ScopeCatalog {
        ScopeCatalog::default()
    }

    fn parse(v: Value) -> Result<RegistrationRequest, OAuthError> {
        RegistrationRequest::parse(v.to_string().as_bytes(), &catalog())
    }

    fn code(v: Value) -> ErrorCode {
        parse(v).unwrap_err().code
    }

    /// What the Python MCP SDK sends (reference §1.7): native, loopback redirect, grant types,
    /// response types, a scope.
    fn python_sdk() -> Value {
        serde_json::json!({
            "redirect_uris": ["http://localhost:3030/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "READ_BOOKING",
            "client_name": "Example MCP client",
            "application_type": "native",
            "software_id": "mcp-python"
        })
    }

    /// RFC 7591 §2: the MCP Python SDK's registration is a public client with its scope.
    #[test]
    fn a_python_sdk_registration_is_a_public_client_with_its_scope() {
        let r = parse(python_sdk()).unwrap();
        assert!(r.is_public());
        assert_eq!(r.scopes, vec!["READ_BOOKING".to_string()]);
        assert_eq!(r.application_type, Some(ApplicationType::Native));
        assert_eq!(r.client_name, "Example MCP client");
    }

    /// reference §1.7: Claude Code sends no `scope`; it gets every catalogue scope.
    #[test]
    fn a_registration_without_scope_gets_every_catalogue_scope() {
        let r = parse(serde_json::json!({
            "client_name": "Claude Code",
            "redirect_uris": ["http://localhost:54545/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none"
        }))
        .unwrap();
        let all: Vec<String> = catalog().names().map(str::to_string).collect();
        assert_eq!(r.scopes, all);
    }

    /// RFC 7591 §2: `redirect_uris` is required; at most ten.
    #[test]
    fn redirect_uris_are_required_and_at_most_ten() {
        assert_eq!(code(serde_json::json!({})), ErrorCode::InvalidRedirectUri);
        assert_eq!(
            code(serde_json::json!({"redirect_uris": []})),
            ErrorCode::InvalidRedirectUri
        );
        let eleven: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
        assert_eq!(
            code(serde_json::json!({ "redirect_uris": eleven })),
            ErrorCode::InvalidRedirectUri
        );
        assert_eq!(
            code(serde_json::json!({"redirect_uris": "https://a.example/cb"})),
            ErrorCode::InvalidRedirectUri
        );
    }

    /// RFC 7591 §3.2.2, RFC 9700 §4.1: a `javascript:` or plain-http redirect is
    /// `invalid_redirect_uri`, saying which.
    #[test]
    fn a_javascript_or_non_loopback_http_redirect_is_invalid_redirect_uri() {
        let e = parse(serde_json::json!({"redirect_uris": ["javascript:alert(1)"]})).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRedirectUri);
        assert!(e.description.contains("javascript:"), "{}", e.description);
        let e =
            parse(serde_json::json!({"redirect_uris": ["http://evil.example/cb"]})).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRedirectUri);
        assert!(e.description.contains("not loopback"), "{}", e.description);
    }

    /// RFC 7591 §2: the name is bounded; a 10 KB name is refused, not stored.
    #[test]
    fn a_client_name_over_100_characters_is_invalid_client_metadata() {
        let mut v = python_sdk();
        v["client_name"] = Value::String("n".repeat(10 * 1024));
        let e = parse(v).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClientMetadata);
        assert!(e.description.contains("at most 100"), "{}", e.description);
        let mut v = python_sdk();
        v["client_name"] = Value::String(format!("  {}  ", "n".repeat(100)));
        assert_eq!(parse(v).unwrap().client_name.len(), 100);
    }

    /// Without `client_name`, the first redirect URI's host names the client.
    #[test]
    fn a_missing_client_name_defaults_to_the_redirect_host() {
        let r = parse(
            serde_json::json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]}),
        )
        .unwrap();
        assert_eq!(r.client_name, "claude.ai");
    }

    /// The body is bounded before it is parsed.
    #[test]
    fn a_body_over_16_kb_is_invalid_client_metadata() {
        let body = format!(
            "{{\"redirect_uris\":[\"https://a.example/cb\"],\"x\":\"{}\"}}",
            "x".repeat(MAX_BODY)
        );
        let e = RegistrationRequest::parse(body.as_bytes(), &catalog()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClientMetadata);
        let e = RegistrationRequest::parse(b"[1]", &catalog()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClientMetadata);
        let e = RegistrationRequest::parse(b"not json", &catalog()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClientMetadata);
    }

    /// RFC 7591 §2: logo and client URIs are https URLs.
    #[test]
    fn logo_and_client_uri_must_be_https() {
        for key in ["logo_uri", "client_uri"] {
            let mut v = python_sdk();
            v[key] = Value::String("http://a.example/logo.png".into());
            assert_eq!(code(v), ErrorCode::InvalidClientMetadata, "{key}");
            let mut v = python_sdk();
            v[key] = Value::String(format!("https://a.example/{}", "l".repeat(600)));
            assert_eq!(code(v), ErrorCode::InvalidClientMetadata, "{key}");
        }
    }

    /// RFC 7591 §2 `scope`: each scope must be in the catalogue.
    #[test]
    fn an_unknown_scope_is_invalid_client_metadata() {
        let mut v = python_sdk();
        v["scope"] = Value::String("READ_BOOKING ADMIN".into());
        let e = parse(v).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClientMetadata);
        assert!(e.description.contains("`ADMIN`"), "{}", e.description);
    }

    /// RFC 7591 §2 `grant_types`, `response_types`: the user grants only, `code` only.
    #[test]
    fn only_the_code_and_refresh_grants_and_the_code_response_type_register() {
        let mut v = python_sdk();
        v["grant_types"] = serde_json::json!(["client_credentials"]);
        assert_eq!(code(v), ErrorCode::InvalidClientMetadata);
        let mut v = python_sdk();
        v["grant_types"] = serde_json::json!(["implicit"]);
        assert_eq!(code(v), ErrorCode::InvalidClientMetadata);
        let mut v = python_sdk();
        v["grant_types"] = serde_json::json!(["refresh_token"]);
        assert_eq!(code(v), ErrorCode::InvalidClientMetadata);
        let mut v = python_sdk();
        v["response_types"] = serde_json::json!(["token"]);
        assert_eq!(code(v), ErrorCode::InvalidClientMetadata);
        let mut v = python_sdk();
        v["grant_types"] = serde_json::json!(["authorization_code"]);
        assert_eq!(
            parse(v).unwrap().grant_types,
            crate::model::user_grant_types()
        );
    }

    /// RFC 7591 §2: unknown members are ignored.
    #[test]
    fn unknown_members_are_ignored() {
        let mut v = python_sdk();
        v["tos_uri"] = Value::String("https://a.example/tos".into());
        v["x_vendor"] = serde_json::json!({"nested": [1, 2]});
        assert_eq!(parse(v).unwrap(), parse(python_sdk()).unwrap());
    }

    /// RFC 7591 §3: confidential registrations need an initial access token; `token` mode needs
    /// one for every registration.
    #[test]
    fn a_confidential_registration_needs_an_initial_access_token() {
        let public = parse(python_sdk()).unwrap();
        let mut v = python_sdk();
        v["token_endpoint_auth_method"] = Value::String("client_secret_basic".into());
        let confidential = parse(v).unwrap();
        use Authorisation::*;
        use RegistrationMode::*;
        assert!(public.authorised(Open, Anonymous).is_ok());
        assert_eq!(
            confidential.authorised(Open, Anonymous).unwrap_err().code,
            ErrorCode::InvalidClientMetadata
        );
        assert!(confidential.authorised(Open, InitialAccessToken).is_ok());
        assert_eq!(
            public.authorised(Token, Anonymous).unwrap_err().code,
            ErrorCode::InvalidToken
        );
        assert!(public.authorised(Token, InitialAccessToken).is_ok());
    }

    /// RFC 7591 §2: private_key_jwt needs keys by value; keys need private_key_jwt.
    #[test]
    fn private_key_jwt_needs_jwks_and_jwks_needs_private_key_jwt() {
        let mut v = python_sdk();
        v["token_endpoint_auth_method"] = Value::String("private_key_jwt".into());
        assert_eq!(code(v), ErrorCode::InvalidClientMetadata);
        let mut v = python_sdk();
        v["jwks_uri"] = Value::String("https://a.example/jwks".into());
        assert_eq!(code(v), ErrorCode::InvalidClientMetadata);
        let mut v = python_sdk();
        v["token_endpoint_auth_method"] = Value::String("tls_client_auth".into());
        assert_eq!(code(v), ErrorCode::InvalidClientMetadata);
    }

    /// Idempotency: the same metadata, however written, derives the same `dcr_` id; other
    /// metadata another.
    #[test]
    fn identical_registrations_derive_the_same_client_id_and_others_another() {
        let a = parse(python_sdk()).unwrap();
        let b = parse(serde_json::json!({
            "software_id": "mcp-python",
            "application_type": "native",
            "client_name": " Example MCP client ",
            "scope": "READ_BOOKING READ_BOOKING",
            "response_types": ["code"],
            "grant_types": ["refresh_token", "authorization_code"],
            "redirect_uris": ["http://localhost:3030/callback", "http://localhost:3030/callback"],
            "unknown": true
        }))
        .unwrap();
        assert_eq!(a.client_id(), b.client_id());
        assert!(a.client_id().starts_with("dcr_"));
        assert!(a.client_id().is_well_formed());
        let mut v = python_sdk();
        v["redirect_uris"] = serde_json::json!(["http://localhost:3031/callback"]);
        assert_ne!(parse(v).unwrap().client_id(), a.client_id());
    }

    /// A registered client is never trusted, always uses PKCE, and expires when idle.
    #[test]
    fn a_registered_client_is_untrusted_uses_pkce_and_expires_when_idle() {
        let r = parse(python_sdk()).unwrap();
        let id = r.client_id();
        let c = r.into_client(id, None, 1_000, 30 * 86_400);
        assert_eq!(c.origin, ClientOrigin::Registration);
        assert!(c.public && !c.trusted && !c.pkce_optional && c.refresh_rotation);
        assert_eq!(c.expires_at, Some(1_000 + 30 * 86_400));
        assert!(c.secret_hashes.is_empty());
    }

    /// RFC 7591 §3.2.1: the response carries the id, its issue time, the metadata as
    /// registered (redirect URIs as an array) and, for a confidential client, its secret with
    /// `client_secret_expires_at` 0.
    #[test]
    fn the_response_echoes_the_metadata_as_registered() {
        let r = parse(python_sdk()).unwrap();
        let c = r.clone().into_client(r.client_id(), None, 1_000, 60);
        let v = response(&c, None);
        assert_eq!(v["client_id"], c.client_id.as_str());
        assert_eq!(v["client_id_issued_at"], 1_000);
        assert_eq!(
            v["redirect_uris"],
            serde_json::json!(["http://localhost:3030/callback"])
        );
        assert_eq!(v["token_endpoint_auth_method"], "none");
        assert_eq!(v["response_types"], serde_json::json!(["code"]));
        assert_eq!(v["scope"], "READ_BOOKING");
        assert_eq!(v["application_type"], "native");
        assert!(v.get("client_secret").is_none());
        let secret = ClientSecret::new("pc_cs_x");
        let v = response(&c, Some(&secret));
        assert_eq!(v["client_secret"], "pc_cs_x");
        assert_eq!(v["client_secret_expires_at"], 0);
    }

    /// A confidential registration's id is random but still carries the prefix.
    #[test]
    fn a_confidential_registration_gets_a_random_prefixed_id() {
        let id = random_client_id(&crate::clock::OsEntropy);
        assert!(id.starts_with(REGISTRATION_PREFIX) && id.is_well_formed());
        assert_ne!(id, random_client_id(&crate::clock::OsEntropy));
    }

    /// The mode setting's values.
    #[test]
    fn the_registration_mode_parses_off_token_and_open() {
        assert_eq!(RegistrationMode::parse("OFF"), Some(RegistrationMode::Off));
        assert_eq!(
            RegistrationMode::parse("token"),
            Some(RegistrationMode::Token)
        );
        assert_eq!(
            RegistrationMode::parse(" open "),
            Some(RegistrationMode::Open)
        );
        assert_eq!(RegistrationMode::parse("yes"), None);
        assert!(!RegistrationMode::default().enabled());
    }
}
