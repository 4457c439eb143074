//! Client authentication (RFC 6749 §2.3, §3.2.1), one module for every endpoint that
//! authenticates clients: the token endpoint, refresh, revocation and introspection.
//!
//! [`ClientCredentials`] is what the request presented (HTTP Basic or the body);
//! [`RegisteredClient`] is what the server knows of the client (its kind and current secret
//! hashes), from a client item or from a snapshot another item carries (an authorization code
//! records its client's secret hashes, so the token endpoint need not read the clients table).
use crate::error::{EndpointError, OAuthError};
use crate::ids::ClientId;
use crate::model::Client;
use crate::params::Params;
use crate::ports::ClientLookup;
use crate::secret::{ClientSecret, SecretHash};

/// Who the client says it is, from HTTP Basic or the body (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<ClientId>,
    pub secret: Option<ClientSecret>,
}

impl ClientCredentials {
    /// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64 (the caller decodes
    /// them); a client must not use more than one authentication method in a request (§2.3), so
    /// credentials in both places must agree.
    pub fn from_request(
        basic: Option<(String, String)>,
        params: &Params,
    ) -> Result<Self, OAuthError> {
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret").map(ClientSecret::new);
        match basic {
            Some((id, secret)) => {
                // Some clients repeat the secret in the body; the same secret twice is no
                // ambiguity, two different ones are.
                if body_secret
                    .as_ref()
                    .is_some_and(|b| !b.ct_eq(&ClientSecret::new(secret.as_str())))
                {
                    return Err(OAuthError::invalid_request(
                        "different client credentials were sent in the Authorization header and in the body",
                    ));
                }
                if body_id.is_some_and(|b| b != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the one in the Authorization header",
                    ));
                }
                Ok(Self {
                    client_id: Some(ClientId::new(id)),
                    secret: (!secret.is_empty()).then(|| ClientSecret::new(secret)),
                })
            }
            None => Ok(Self {
                client_id: body_id.map(ClientId::from),
                secret: body_secret,
            }),
        }
    }
}

/// What authenticating a client needs to know of it.
#[derive(Debug, Clone, Copy)]
pub struct RegisteredClient<'a> {
    pub client_id: &'a ClientId,
    /// A public client (RFC 6749 §2.1) has no secret.
    pub public: bool,
    /// Hashes of the current secrets: more than one during a rotation's overlap.
    pub secret_hashes: &'a [SecretHash],
}

/// A client that proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedClient {
    pub client_id: ClientId,
    /// The hash of the secret that matched (`None` for a public client), so that a later write
    /// can check, atomically, that this secret is still current.
    pub secret_hash: Option<SecretHash>,
}

/// RFC 6749 §3.2.1: the client named by `creds` must be `registered` and present its
/// credentials: a confidential client one of its current secrets, compared in constant time; a
/// public client no secret at all.
///
/// A `client_id` naming another client is `invalid_grant` (RFC 6749 §4.1.3: the grant "was
/// issued to another client"): the caller looked `registered` up from the grant.
pub fn authenticate(
    creds: &ClientCredentials,
    registered: RegisteredClient<'_>,
) -> Result<AuthenticatedClient, OAuthError> {
    let Some(client_id) = creds.client_id.as_ref() else {
        return Err(OAuthError::invalid_client(
            "client authentication is required: send client_id",
        ));
    };
    if client_id != registered.client_id {
        return Err(OAuthError::invalid_grant(
            "the grant was not issued to this client",
        ));
    }
    let secret_hash = if registered.public {
        if creds.secret.is_some() {
            return Err(OAuthError::invalid_client(
                "this is a public client: it has no client_secret",
            ));
        }
        None
    } else {
        let secret = creds.secret.as_ref().ok_or_else(|| {
            OAuthError::invalid_client("client_secret is required for this client")
        })?;
        Some(
            matching_secret(registered.secret_hashes, secret)
                .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?,
        )
    };
    Ok(AuthenticatedClient {
        client_id: client_id.clone(),
        secret_hash,
    })
}

/// RFC 6749 §3.2.1: authenticates the client against its current registration (one
/// clients-table read; the grants use it only off their happy path). Unknown client, disabled
/// client or wrong secret: `invalid_client`.
pub async fn authenticate_registered(
    clients: &(impl ClientLookup + ?Sized),
    creds: &ClientCredentials,
) -> Result<(AuthenticatedClient, Client), EndpointError> {
    let Some(client_id) = creds.client_id.as_ref() else {
        return Err(OAuthError::invalid_client(
            "client authentication is required: send client_id",
        )
        .into());
    };
    let client = clients
        .client(client_id)
        .await?
        .filter(|c| !c.disabled)
        .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
    let authenticated = authenticate(creds, client.registered())?;
    Ok((authenticated, client))
}

/// RFC 6749 §3.2.1, §4.1.3: the grant presented cannot be used by this request, but the client
/// is authenticated first: a client that fails gets `invalid_client`, one that passes gets
/// `grant_error`. Nothing is changed either way.
pub async fn refuse_grant(
    clients: &(impl ClientLookup + ?Sized),
    creds: &ClientCredentials,
    grant_error: OAuthError,
) -> EndpointError {
    match authenticate_registered(clients, creds).await {
        Ok(_) => grant_error.into(),
        Err(e) => e,
    }
}

/// RFC 6749 §2.3.1: the presented secret's hash is compared in constant time with every current
/// secret's hash (no early exit), and the one that matched is returned.
pub fn matching_secret(hashes: &[SecretHash], secret: &ClientSecret) -> Option<SecretHash> {
    let presented = secret.hash();
    let mut found = None;
    for h in hashes {
        if h.ct_eq(&presented) {
            found = Some(h.clone());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    /// RFC 6749 §2.3: one authentication method per request; the same credentials repeated in
    /// the body are tolerated, conflicting ones are not.
    #[test]
    fn conflicting_basic_and_body_credentials_are_invalid_request() {
        let basic = || Some(("c1".to_string(), "s".to_string()));
        let p = params(&[("client_secret", "other")]);
        assert!(ClientCredentials::from_request(basic(), &p).is_err());
        let p = params(&[("client_secret", "s")]);
        assert!(ClientCredentials::from_request(basic(), &p).is_ok());
        let p = params(&[("client_id", "c2")]);
        assert!(ClientCredentials::from_request(basic(), &p).is_err());
        let p = params(&[("client_id", "c1")]);
        assert!(ClientCredentials::from_request(basic(), &p).is_ok());
    }

    /// RFC 6749 §3.2.1: confidential clients present a current secret; public clients none.
    #[test]
    fn confidential_clients_need_a_current_secret_and_public_clients_none() {
        let id = ClientId::new("c1");
        let hashes = [
            ClientSecret::new("old").hash(),
            ClientSecret::new("new").hash(),
        ];
        let confidential = RegisteredClient {
            client_id: &id,
            public: false,
            secret_hashes: &hashes,
        };
        let creds = |secret: Option<&str>| ClientCredentials {
            client_id: Some(id.clone()),
            secret: secret.map(ClientSecret::new),
        };
        let ok = authenticate(&creds(Some("old")), confidential).unwrap();
        assert_eq!(ok.secret_hash, Some(hashes[0].clone()));
        let code = |r: Result<AuthenticatedClient, OAuthError>| r.err().map(|e| e.code);
        assert_eq!(
            code(authenticate(&creds(Some("bad")), confidential)),
            Some(ErrorCode::InvalidClient)
        );
        assert_eq!(
            code(authenticate(&creds(None), confidential)),
            Some(ErrorCode::InvalidClient)
        );
        let public = RegisteredClient {
            client_id: &id,
            public: true,
            secret_hashes: &[],
        };
        assert_eq!(
            authenticate(&creds(None), public).unwrap().secret_hash,
            None
        );
        assert_eq!(
            code(authenticate(&creds(Some("x")), public)),
            Some(ErrorCode::InvalidClient)
        );
        let other = ClientCredentials {
            client_id: Some(ClientId::new("c2")),
            secret: None,
        };
        assert_eq!(
            code(authenticate(&other, public)),
            Some(ErrorCode::InvalidGrant)
        );
    }
}
