//! Authorization server metadata (RFC 8414): what a client library needs to find every endpoint
//! and know what they support, computed from the issuer and the scope catalog only (no storage).
use crate::scope::ScopeCatalog;
use serde::Serialize;

/// The public paths, once: the watch router, the infrastructure's routes and the metadata all
/// name these.
pub mod paths {
    pub const AUTHORIZE: &str = "/auth/oauth2/authorize";
    pub const TOKEN: &str = "/api/auth/oauth/token";
    pub const REFRESH: &str = "/api/auth/oauth/refreshToken";
    pub const ME: &str = "/api/auth/oauth/me";
    pub const REVOKE: &str = "/api/auth/oauth/revoke";
    pub const INTROSPECT: &str = "/api/auth/oauth/introspect";
    /// RFC 7591: the dynamic registration endpoint (served unless `PORTCULLIS_DYNAMIC_REGISTRATION=off`).
    pub const REGISTER: &str = "/api/auth/oauth/register";
    /// RFC 8414 §3: the well-known URI for an issuer without a path component.
    pub const METADATA: &str = "/.well-known/oauth-authorization-server";
}

/// RFC 8414 §2 metadata, with Cal.com's two extra endpoints as extra members (§2 allows them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerMetadata {
    /// RFC 8414 §2, §3.3: equal to the issuer the configuration was read from, and to the
    /// `iss` the authorization endpoint sends (RFC 9207).
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// Cal.com's refresh path (`/api/auth/oauth/refreshToken`); the token endpoint's
    /// `grant_type=refresh_token` does the same.
    pub refresh_token_endpoint: String,
    /// Cal.com's `/me`: who the access token speaks for (`READ_PROFILE`).
    pub userinfo_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: &'static [&'static str],
    pub response_modes_supported: &'static [&'static str],
    pub grant_types_supported: &'static [&'static str],
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    pub revocation_endpoint_auth_methods_supported: &'static [&'static str],
    /// No `none`: a public client cannot introspect (see [`crate::introspect`]).
    pub introspection_endpoint_auth_methods_supported: &'static [&'static str],
    /// RFC 8414 §2: the algorithms a `private_key_jwt` client assertion may be signed with,
    /// at each endpoint that takes one.
    pub token_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    pub revocation_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    pub introspection_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    pub code_challenge_methods_supported: &'static [&'static str],
    /// RFC 9207 §3: the authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
}

/// Client authentication at the token and revocation endpoints (RFC 6749 §2.3.1; `none` is a
/// public client sending its `client_id` only).
/// `private_key_jwt` is RFC 7523 §2.2 (a JWT signed with a key the client registered).
const CLIENT_AUTH: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

impl ServerMetadata {
    /// The metadata for `issuer` (no trailing slash, as the settings give it).
    pub fn new(issuer: &str, scopes: &ScopeCatalog) -> Self {
        let url = |path: &str| format!("{issuer}{path}");
        Self {
            issuer: issuer.to_string(),
            authorization_endpoint: url(paths::AUTHORIZE),
            token_endpoint: url(paths::TOKEN),
            refresh_token_endpoint: url(paths::REFRESH),
            userinfo_endpoint: url(paths::ME),
            revocation_endpoint: url(paths::REVOKE),
            introspection_endpoint: url(paths::INTROSPECT),
            scopes_supported: scopes.names().map(str::to_string).collect(),
            response_types_supported: &["code"],
            response_modes_supported: &["query"],
            grant_types_supported: &["authorization_code", "refresh_token", "client_credentials"],
            token_endpoint_auth_methods_supported: CLIENT_AUTH,
            revocation_endpoint_auth_methods_supported: CLIENT_AUTH,
            introspection_endpoint_auth_methods_supported: &[
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            token_endpoint_auth_signing_alg_values_supported: crate::assertion::SIGNING_ALGS,
            revocation_endpoint_auth_signing_alg_values_supported: crate::assertion::SIGNING_ALGS,
            introspection_endpoint_auth_signing_alg_values_supported:
                crate::assertion::SIGNING_ALGS,
            code_challenge_methods_supported: &["S256"],
            authorization_response_iss_parameter_supported: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8414 §2: the required members and the ones this server supports, every URL under the
    /// issuer; RFC 8414 §3.3: `issuer` is the configured issuer exactly.
    #[test]
    fn metadata_names_every_endpoint_under_the_issuer() {
        let m = ServerMetadata::new("https://auth.example", &ScopeCatalog::default());
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["issuer"], "https://auth.example");
        assert_eq!(
            v["authorization_endpoint"],
            "https://auth.example/auth/oauth2/authorize"
        );
        assert_eq!(
            v["token_endpoint"],
            "https://auth.example/api/auth/oauth/token"
        );
        assert_eq!(
            v["revocation_endpoint"],
            "https://auth.example/api/auth/oauth/revoke"
        );
        assert_eq!(
            v["introspection_endpoint"],
            "https://auth.example/api/auth/oauth/introspect"
        );
        assert_eq!(
            v["refresh_token_endpoint"],
            "https://auth.example/api/auth/oauth/refreshToken"
        );
        assert_eq!(
            v["userinfo_endpoint"],
            "https://auth.example/api/auth/oauth/me"
        );
        assert_eq!(v["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            v["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(v["authorization_response_iss_parameter_supported"], true);
        // Issue 17: client credentials, and private_key_jwt with the algorithms it takes.
        assert!(v["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"client_credentials".into()));
        for endpoint in ["token", "revocation", "introspection"] {
            assert!(v[format!("{endpoint}_endpoint_auth_methods_supported")]
                .as_array()
                .unwrap()
                .contains(&"private_key_jwt".into()));
            assert_eq!(
                v[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
                serde_json::json!(["ES256", "EdDSA", "PS256", "RS256"])
            );
        }
        assert!(v["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"READ_BOOKING".into()));
    }

    /// RFC 7662 §2.1 with RFC 8414 §2: public clients (`none`) may revoke, not introspect.
    #[test]
    fn public_clients_may_revoke_but_not_introspect() {
        let m = ServerMetadata::new("https://a", &ScopeCatalog::default());
        assert!(m
            .revocation_endpoint_auth_methods_supported
            .contains(&"none"));
        assert!(!m
            .introspection_endpoint_auth_methods_supported
            .contains(&"none"));
    }
}
