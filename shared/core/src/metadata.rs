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

/// What a deployment lets in beyond the clients an operator registered: the metadata
/// advertises each only when it is on (a client that reads the document then knows whether to
/// register or present a metadata document).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Openings {
    /// RFC 7591 dynamic registration at [`paths::REGISTER`].
    pub registration: bool,
    /// Client ID Metadata Documents (an https URL as `client_id`).
    pub metadata_documents: bool,
}

/// RFC 8414 §3.1: where the metadata of `issuer` is served, as request paths on its host. An
/// issuer without a path: `/.well-known/oauth-authorization-server`. With a path (`/tenant1`):
/// the well-known prefix inserted before it (`/.well-known/oauth-authorization-server/tenant1`,
/// the form RFC 8414 §3.1 and MCP clients try first), and, for clients written to the older
/// "append" convention (MCP 2025-03-26 and some libraries), the same suffix appended
/// (`/tenant1/.well-known/oauth-authorization-server`). Both answer the same document. The
/// OpenID Connect locations (`openid-configuration`) are not served: Portcullis is not an
/// OpenID Provider (no ID tokens, no `jwks_uri`), and a document there would promise one; MCP
/// clients read the RFC 8414 location first and stop there.
pub fn well_known_paths(issuer: &str) -> Vec<String> {
    let path = url::Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    if path.is_empty() {
        vec![paths::METADATA.to_string()]
    } else {
        vec![
            format!("{}{path}", paths::METADATA),
            format!("{path}{}", paths::METADATA),
        ]
    }
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
    /// RFC 8414 §2: present only when dynamic registration (RFC 7591) is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// draft-ietf-oauth-client-id-metadata-document §6 ("Authorization Server Metadata"): an
    /// authorization server publishing metadata includes this member, `true` when an https URL
    /// is accepted as `client_id`. claude.ai and Codex present a document only when this is
    /// `true` and `none` is among the token endpoint's methods.
    pub client_id_metadata_document_supported: bool,
    /// RFC 8707 `resource` is accepted at the authorization, token and refresh endpoints, and
    /// tokens are bound to it. RFC 8707 registers no metadata member for this; the name is
    /// the one other servers publish (informational: clients send `resource` regardless).
    pub resource_indicators_supported: bool,
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
            registration_endpoint: None,
            client_id_metadata_document_supported: false,
            resource_indicators_supported: true,
        }
    }

    /// With the deployment's [`Openings`] advertised.
    pub fn with_openings(mut self, openings: Openings) -> Self {
        self.registration_endpoint = openings
            .registration
            .then(|| format!("{}{}", self.issuer, paths::REGISTER));
        self.client_id_metadata_document_supported = openings.metadata_documents;
        self
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

    /// RFC 8414 §2 (`registration_endpoint`, OPTIONAL) and the CIMD draft §6: each opening is
    /// advertised exactly when it is on; `client_id_metadata_document_supported` is always
    /// present (the draft: an authorization server that publishes metadata MUST include it),
    /// and `none` stays among the token endpoint's methods (MCP clients require it to present a
    /// document).
    #[test]
    fn registration_and_metadata_documents_are_advertised_only_when_on() {
        let off = serde_json::to_value(ServerMetadata::new("https://a", &ScopeCatalog::default()))
            .unwrap();
        assert!(off.get("registration_endpoint").is_none());
        assert_eq!(off["client_id_metadata_document_supported"], false);
        assert_eq!(off["resource_indicators_supported"], true);
        let on = serde_json::to_value(
            ServerMetadata::new("https://a", &ScopeCatalog::default()).with_openings(Openings {
                registration: true,
                metadata_documents: true,
            }),
        )
        .unwrap();
        assert_eq!(
            on["registration_endpoint"],
            "https://a/api/auth/oauth/register"
        );
        assert_eq!(on["client_id_metadata_document_supported"], true);
        assert!(on["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"none".into()));
    }

    /// RFC 8414 §3.1: the well-known segment is inserted between the host and the issuer's
    /// path; the appended form is served too; an issuer without a path has one location.
    #[test]
    fn metadata_is_served_at_the_path_inserted_well_known_location() {
        assert_eq!(
            well_known_paths("https://auth.example"),
            vec!["/.well-known/oauth-authorization-server"]
        );
        assert_eq!(
            well_known_paths("https://auth.example/tenant1"),
            vec![
                "/.well-known/oauth-authorization-server/tenant1",
                "/tenant1/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            well_known_paths("https://auth.example/a/b"),
            vec![
                "/.well-known/oauth-authorization-server/a/b",
                "/a/b/.well-known/oauth-authorization-server"
            ]
        );
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
