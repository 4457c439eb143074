//! Client authentication (RFC 6749 §2.3, §3.2.1), one module for every endpoint that
//! authenticates clients: the token endpoint, refresh, revocation and introspection.
//!
//! [`ClientCredentials`] is what the request presented (HTTP Basic or the body);
//! [`RegisteredClient`] is what the server knows of the client (its kind and current secret
//! hashes), from a client item or from a snapshot another item carries (an authorization code
//! records its client's secret hashes, so the token endpoint need not read the clients table).
//!
//! A client may instead prove who it is with a signed JWT (`private_key_jwt`, RFC 7523 §2.2,
//! OpenID Connect Core §9): [`verify_assertion`] checks it against the keys the client
//! registered (one read of the client) and records its `jti` (one conditional write), before
//! the request's own rule runs; that rule then sees the client as authenticated.
use crate::assertion::{AssertionRules, ClientAssertion};
use crate::error::{EndpointError, OAuthError};
use crate::ids::ClientId;
use crate::metadata_document::wire_client_id;
use crate::model::Client;
use crate::params::Params;
use crate::ports::{AssertionReplay, ClientLookup};
use crate::secret::{ClientSecret, SecretHash};
use crate::throttle::FailureLimit;

/// Who the client says it is, from HTTP Basic or the body (RFC 6749 §2.3.1), or a client
/// assertion (RFC 7523 §2.2).
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<ClientId>,
    pub secret: Option<ClientSecret>,
    /// `client_assertion` (its type checked to be JWT bearer).
    pub assertion: Option<ClientAssertion>,
    /// Set by [`verify_assertion`] only: the assertion verified with the client's current keys
    /// and its `jti` recorded.
    pub verified: Option<AssertionVerified>,
}

/// Proof that [`verify_assertion`] accepted the request's assertion for `client_id`; it cannot
/// be made anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionVerified {
    client_id: ClientId,
}

impl ClientCredentials {
    /// Whether a client assertion was presented and verified.
    pub fn is_verified(&self) -> bool {
        self.assertion.is_some()
            && self
                .verified
                .as_ref()
                .is_some_and(|v| Some(&v.client_id) == self.client_id.as_ref())
    }
}

impl ClientCredentials {
    /// RFC 6749 §3.2.1: every request that authenticates a client names it; none is
    /// `invalid_client` before anything is read.
    pub fn require_client_id(&self) -> Result<&ClientId, OAuthError> {
        self.client_id.as_ref().ok_or_else(|| {
            OAuthError::invalid_client("client authentication is required: send client_id")
        })
    }

    /// A `client_id` that is an https URL names a metadata-document client: it is mapped to its
    /// stored id here, once, for every endpoint (`metadata_document::wire_client_id`).
    ///
    /// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64 (the caller decodes
    /// them); a client must not use more than one authentication method in a request (§2.3), so
    /// credentials in both places must agree.
    pub fn from_request(
        basic: Option<(String, String)>,
        params: &Params,
    ) -> Result<Self, OAuthError> {
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret").map(ClientSecret::new);
        // RFC 7521 §4.2, RFC 7523 §2.2: both parameters or neither; the one type we take.
        let assertion = match (
            params.get("client_assertion_type"),
            params.get("client_assertion"),
        ) {
            (None, None) => None,
            (Some(t), Some(a)) => {
                if t != crate::assertion::ASSERTION_TYPE {
                    return Err(OAuthError::invalid_client(format!(
                        "client_assertion_type must be {}",
                        crate::assertion::ASSERTION_TYPE
                    )));
                }
                if a.len() > crate::assertion::MAX_ASSERTION_LEN {
                    return Err(OAuthError::invalid_client(format!(
                        "the client assertion is longer than {} bytes",
                        crate::assertion::MAX_ASSERTION_LEN
                    )));
                }
                Some(ClientAssertion::new(a))
            }
            _ => {
                return Err(OAuthError::invalid_request(
                    "send client_assertion_type and client_assertion together",
                ))
            }
        };
        if let Some(assertion) = assertion {
            // RFC 6749 §2.3: one authentication method per request.
            if basic.is_some() || body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method: a client assertion, or a client secret, not both",
                ));
            }
            // RFC 7523 §3: client_id is optional with an assertion; its `sub` names the client
            // (verified against the keys before anything is trusted).
            let client_id = body_id
                .map(wire_client_id)
                .or_else(|| assertion.unverified_subject().map(|s| wire_client_id(&s)));
            return Ok(Self {
                client_id,
                assertion: Some(assertion),
                ..Self::default()
            });
        }
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
                    client_id: Some(wire_client_id(&id)),
                    secret: (!secret.is_empty()).then(|| ClientSecret::new(secret)),
                    ..Self::default()
                })
            }
            None => Ok(Self {
                client_id: body_id.map(wire_client_id),
                secret: body_secret,
                ..Self::default()
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
    /// A listed secret whose rotation overlap has ended: it no longer authenticates. A snapshot
    /// (a code's, a refresh token's) leaves this `None`; the write that follows re-checks the
    /// client item, where the overlap's end is enforced ([`Client::secret_is_live`]).
    pub retired: Option<&'a SecretHash>,
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
    let client_id = creds.require_client_id()?;
    if client_id != registered.client_id {
        return Err(OAuthError::invalid_grant(
            "the grant was not issued to this client",
        ));
    }
    let secret_hash = if registered.public {
        if creds.secret.is_some() || creds.assertion.is_some() {
            return Err(OAuthError::invalid_client(
                "this is a public client: it has no client_secret or keys",
            ));
        }
        None
    } else if creds.assertion.is_some() {
        // RFC 7523 §3: verified by [`verify_assertion`] against the client's current keys.
        if !creds.is_verified() {
            return Err(auth_failed());
        }
        None
    } else {
        let secret = creds.secret.as_ref().ok_or_else(|| {
            OAuthError::invalid_client("client_secret is required for this client")
        })?;
        Some(
            matching_secret(registered.secret_hashes, secret)
                .filter(|h| registered.retired != Some(h))
                .ok_or_else(auth_failed)?,
        )
    };
    Ok(AuthenticatedClient {
        client_id: client_id.clone(),
        secret_hash,
    })
}

/// The description of every failed authentication of a client that may have a secret: an unknown
/// or disabled client, a missing or wrong secret. The same words for each, so a caller learns
/// nothing about which (and [`limit_failures`] counts exactly these).
pub const AUTH_FAILED: &str = "client authentication failed";

/// `invalid_client` with [`AUTH_FAILED`].
pub fn auth_failed() -> OAuthError {
    OAuthError::invalid_client(AUTH_FAILED)
}

/// RFC 6749 §3.2.1: authenticates the client against its current registration (one
/// clients-table read; the grants use it only off their happy path). Unknown client, disabled
/// client or wrong secret: `invalid_client`. Nothing is consulted before the credentials are
/// checked: a correct secret always authenticates (see [`crate::throttle`]).
pub async fn authenticate_registered(
    clients: &(impl ClientLookup + ?Sized),
    creds: &ClientCredentials,
    now: u64,
) -> Result<(AuthenticatedClient, Client), EndpointError> {
    let client_id = creds.require_client_id()?;
    // Issue 10: an id that cannot be a client's is refused without a storage call.
    if !client_id.is_well_formed() {
        return Err(auth_failed().into());
    }
    let client = clients
        .client(client_id)
        .await?
        .filter(|c| !c.disabled)
        .ok_or_else(auth_failed)?;
    let authenticated = authenticate(creds, client.registered(now))?;
    Ok((authenticated, client))
}

/// RFC 6749 §3.2.1 against a registration read beside something else (a grant, in one
/// BatchGetItem): `found` holds the client items that read returned. Unknown or disabled client,
/// or wrong secret: `invalid_client`. The client as registered now, on success.
pub fn authenticate_found<'a>(
    creds: &ClientCredentials,
    found: &'a [Client],
    now: u64,
) -> Result<&'a Client, EndpointError> {
    let client_id = creds.require_client_id()?;
    let client = found
        .iter()
        .find(|c| c.client_id == *client_id && !c.disabled)
        .ok_or_else(auth_failed)?;
    authenticate(creds, client.registered(now))?;
    Ok(client)
}

/// What checking a client assertion needs besides the request: the accepted audiences (the
/// issuer, the token endpoint's URL, the URL called), the furthest ahead its `exp` may be and
/// the clock skew allowed ([`crate::settings::AssertionSettings`]).
#[derive(Debug, Clone, Copy)]
pub struct AssertionPolicy<'a> {
    pub audiences: &'a [&'a str],
    pub max_lifetime: u64,
    pub leeway: u64,
}

/// RFC 7523 §3, OpenID Connect Core §9: when the request carries a client assertion, checks it
/// before anything else: the client it names is read (one GetItem), must be enabled,
/// confidential and have registered keys; the assertion must verify with one of them (during a
/// key rotation's overlap, the old keys too) and obey every claim rule
/// ([`crate::assertion::verify`]); its `jti` is then recorded until its `exp` (one conditional
/// write), so a second use is refused. Every failure is `invalid_client`. Returns the
/// credentials marked verified and the client as read; a request without an assertion is
/// returned as it is, with no call.
pub async fn verify_assertion(
    clients: &(impl ClientLookup + ?Sized),
    replay: &(impl AssertionReplay + ?Sized),
    mut creds: ClientCredentials,
    policy: AssertionPolicy<'_>,
    now: u64,
) -> Result<(ClientCredentials, Option<Client>), EndpointError> {
    let Some(assertion) = creds.assertion.as_ref() else {
        return Ok((creds, None));
    };
    let client_id = creds.require_client_id()?.clone();
    if !client_id.is_well_formed() {
        return Err(auth_failed().into());
    }
    let client = clients
        .client(&client_id)
        .await?
        .filter(|c| !c.disabled)
        .ok_or_else(auth_failed)?;
    if client.public {
        return Err(OAuthError::invalid_client(
            "this is a public client: it has no keys to sign a client assertion with",
        )
        .into());
    }
    let key_sets = client.key_sets(now);
    if key_sets.is_empty() {
        return Err(OAuthError::invalid_client(
            "this client has no registered keys: it cannot use private_key_jwt",
        )
        .into());
    }
    let rules = AssertionRules {
        client_id: &client_id,
        audiences: policy.audiences,
        now,
        max_lifetime: policy.max_lifetime,
        leeway: policy.leeway,
    };
    let verified = crate::assertion::verify(assertion, &key_sets, &rules)?;
    // RFC 7523 §3 rule 7: single use, kept until the assertion could no longer be accepted.
    let keep_until = verified.expires_at.saturating_add(policy.leeway);
    if !replay
        .use_jti(&client_id, &verified.jti, keep_until, now)
        .await?
    {
        tracing::warn!(
            client_id = %client_id,
            security_event = "client_assertion_replay",
            "a client assertion was presented again"
        );
        return Err(OAuthError::invalid_client(
            "this client assertion was used before: sign a new one (with a new jti) for each request",
        )
        .into());
    }
    creds.verified = Some(AssertionVerified {
        client_id: client_id.clone(),
    });
    Ok((creds, Some(client)))
}

/// OAuth 2.1 §2.4.1, after the request's rule has run: a request that ended in `invalid_client`
/// ([`AUTH_FAILED`]) with a `client_id` and a secret presented counts one failure of that
/// client in this instance's memory (no storage call). Past the limit, the answer becomes 429
/// `invalid_client` with `Retry-After`. Successes are never touched, so knowing a `client_id`
/// does not let anyone make its correct credentials fail; requests without a secret (public
/// clients) are never counted.
pub fn limit_failures<T>(
    limit: &FailureLimit,
    creds: &ClientCredentials,
    result: Result<T, EndpointError>,
    now: u64,
) -> Result<T, EndpointError> {
    let Err(EndpointError::OAuth(e)) = &result else {
        return result;
    };
    let (Some(client_id), true) = (creds.client_id.as_ref(), creds.secret.is_some()) else {
        return result;
    };
    if e.code != crate::error::ErrorCode::InvalidClient
        || e.description != AUTH_FAILED
        || !client_id.is_well_formed()
    {
        return result;
    }
    match limit.record(client_id, now) {
        Some(retry_after) => {
            tracing::warn!(
                client_id = %client_id,
                retry_after,
                security_event = "client_auth_throttled",
                "failed client authentications past the limit: answered 429"
            );
            Err(EndpointError::Throttled {
                client_id: client_id.clone(),
                retry_after,
            })
        }
        None => {
            tracing::info!(
                client_id = %client_id,
                security_event = "client_auth_failed",
                "failed client authentication"
            );
            result
        }
    }
}

/// RFC 6749 §3.2.1, §4.1.3: the grant presented cannot be used by this request, but the client
/// is authenticated first: a client that fails gets `invalid_client`, one that passes gets
/// `grant_error`. Nothing is changed either way.
pub async fn refuse_grant(
    clients: &(impl ClientLookup + ?Sized),
    creds: &ClientCredentials,
    grant_error: OAuthError,
    now: u64,
) -> EndpointError {
    match authenticate_registered(clients, creds, now).await {
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
            retired: None,
        };
        let creds = |secret: Option<&str>| ClientCredentials {
            client_id: Some(id.clone()),
            secret: secret.map(ClientSecret::new),
            ..Default::default()
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
            retired: None,
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
            ..Default::default()
        };
        assert_eq!(
            code(authenticate(&other, public)),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// Rotation overlap (`portcullis client rotate-secret --keep-old-for`): the old secret
    /// authenticates until the overlap ends and not after; the new one throughout.
    #[test]
    fn a_retiring_secret_works_until_its_overlap_ends() {
        use crate::model::RetiringSecret;
        use crate::testkit::client;
        let mut c = client("c1").build();
        let (old, new) = (ClientSecret::new("old"), ClientSecret::new("new"));
        c.secret_hashes = vec![new.hash(), old.hash()];
        c.secret_retiring = Some(RetiringSecret {
            hash: old.hash(),
            until: 100,
        });
        let creds = |s: &ClientSecret| ClientCredentials {
            client_id: Some(c.client_id.clone()),
            secret: Some(s.clone()),
            ..Default::default()
        };
        assert!(authenticate(&creds(&old), c.registered(99)).is_ok());
        assert!(c.secret_is_live(&old.hash(), 99));
        let err = authenticate(&creds(&old), c.registered(100)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClient);
        assert!(!c.secret_is_live(&old.hash(), 100));
        assert!(authenticate(&creds(&new), c.registered(100)).is_ok());
        assert!(c.secret_is_live(&new.hash(), 1_000_000));
    }

    /// Issue 10: a presented `client_id` that cannot be a client's is `invalid_client` without
    /// a storage call.
    #[tokio::test]
    async fn a_malformed_client_id_is_refused_without_a_storage_call() {
        let store = crate::ports::MemoryStore::new();
        store.reset_calls();
        let creds = ClientCredentials {
            client_id: Some(ClientId::new("x".repeat(5000))),
            secret: Some(ClientSecret::new("s")),
            ..Default::default()
        };
        let r = authenticate_registered(&store, &creds, 0).await;
        assert!(
            matches!(r, Err(EndpointError::OAuth(ref e)) if e.code == ErrorCode::InvalidClient)
        );
        assert_eq!(store.calls(), 0);
    }

    mod assertions {
        use super::*;
        use crate::assertion::tests::{ec_key, header, keys, sign};
        use crate::ports::MemoryStore;
        use crate::testkit::client;
        use serde_json::json;

        const AUD: &str = "https://auth.example/api/auth/oauth/token";
        const NOW: u64 = 1_700_000_000;

        fn policy() -> AssertionPolicy<'static> {
            AssertionPolicy {
                audiences: &[AUD],
                max_lifetime: 300,
                leeway: 30,
            }
        }

        fn presented(a: crate::assertion::ClientAssertion, id: Option<&str>) -> ClientCredentials {
            ClientCredentials {
                client_id: id.map(ClientId::from),
                assertion: Some(a),
                ..Default::default()
            }
        }

        fn claims(jti: &str) -> serde_json::Value {
            json!({"iss": "k1", "sub": "k1", "aud": AUD, "iat": NOW, "exp": NOW + 60, "jti": jti})
        }

        /// RFC 7523 §3: a good assertion authenticates (one read, one write), marks the
        /// credentials verified so the request's rule accepts them, and its `jti` cannot be
        /// used again (rule 7): `invalid_client` and nothing else changes.
        #[tokio::test]
        async fn a_client_assertion_authenticates_once_per_jti() {
            let key = ec_key(Some("e1"));
            let mut c = client("k1").machine().build();
            c.secret_hashes.clear();
            c.jwks = Some(keys(&[&key]));
            let store = MemoryStore::new();
            store.upsert_client(c.clone());
            let a = sign(&key, &header("ES256", Some("e1")), &claims("j1"));
            store.reset_calls();
            let (creds, found) = verify_assertion(
                &store,
                &store,
                presented(a.clone(), Some("k1")),
                policy(),
                NOW,
            )
            .await
            .unwrap();
            assert_eq!(store.calls(), 2);
            assert!(creds.is_verified());
            assert_eq!(found.unwrap().client_id, c.client_id);
            assert!(authenticate(&creds, c.registered(NOW)).is_ok());
            // Not verified: refused by the rule even though an assertion is there.
            assert!(authenticate(&presented(a.clone(), Some("k1")), c.registered(NOW)).is_err());
            let again =
                verify_assertion(&store, &store, presented(a, Some("k1")), policy(), NOW).await;
            match again {
                Err(EndpointError::OAuth(e)) => {
                    assert_eq!(e.code, crate::error::ErrorCode::InvalidClient);
                    assert!(e.description.contains("used before"), "{}", e.description);
                }
                other => panic!("{other:?}"),
            }
            // RFC 7523 §3: without a client_id, the assertion's `sub` names the client.
            let p = Params::from_pairs([
                (
                    "client_assertion_type".to_string(),
                    crate::assertion::ASSERTION_TYPE.to_string(),
                ),
                (
                    "client_assertion".to_string(),
                    sign(&key, &header("ES256", Some("e1")), &claims("j2"))
                        .as_str()
                        .to_string(),
                ),
            ]);
            let creds = ClientCredentials::from_request(None, &p).unwrap();
            assert_eq!(creds.client_id, Some(ClientId::new("k1")));
            assert!(verify_assertion(&store, &store, creds, policy(), NOW)
                .await
                .is_ok());
        }

        /// Unknown, disabled, public and key-less clients cannot use an assertion; a request
        /// without one makes no call.
        #[tokio::test]
        async fn only_an_enabled_confidential_client_with_keys_can_use_an_assertion() {
            let key = ec_key(Some("e1"));
            let store = MemoryStore::new();
            let a = || sign(&key, &header("ES256", Some("e1")), &claims("j"));
            let refused = |r: Result<(ClientCredentials, Option<Client>), EndpointError>| matches!(r, Err(EndpointError::OAuth(ref e)) if e.code == crate::error::ErrorCode::InvalidClient);
            assert!(refused(
                verify_assertion(&store, &store, presented(a(), Some("k1")), policy(), NOW).await
            ));
            let mut disabled = client("k1").build();
            disabled.jwks = Some(keys(&[&key]));
            disabled.disabled = true;
            store.upsert_client(disabled);
            assert!(refused(
                verify_assertion(&store, &store, presented(a(), Some("k1")), policy(), NOW).await
            ));
            store.upsert_client(client("k1").build());
            assert!(refused(
                verify_assertion(&store, &store, presented(a(), Some("k1")), policy(), NOW).await
            ));
            let mut public = client("k1").public().build();
            public.jwks = Some(keys(&[&key]));
            store.upsert_client(public);
            assert!(refused(
                verify_assertion(&store, &store, presented(a(), Some("k1")), policy(), NOW).await
            ));
            store.reset_calls();
            let plain = ClientCredentials {
                client_id: Some("k1".into()),
                ..Default::default()
            };
            let (back, found) = verify_assertion(&store, &store, plain, policy(), NOW)
                .await
                .unwrap();
            assert!(found.is_none() && !back.is_verified());
            assert_eq!(store.calls(), 0);
        }

        /// RFC 6749 §2.3: one method per request; RFC 7521 §4.2: both assertion parameters, of
        /// the JWT bearer type; a 64 KB assertion is refused before anything is parsed.
        #[test]
        fn assertion_parameters_are_checked_at_the_edge() {
            let p = |pairs: &[(&str, &str)]| {
                Params::from_pairs(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
            };
            let t = crate::assertion::ASSERTION_TYPE;
            let code = |r: Result<ClientCredentials, OAuthError>| r.err().map(|e| e.code);
            use crate::error::ErrorCode::*;
            assert_eq!(
                code(ClientCredentials::from_request(
                    None,
                    &p(&[("client_assertion", "a.b.c")])
                )),
                Some(InvalidRequest)
            );
            assert_eq!(
                code(ClientCredentials::from_request(
                    None,
                    &p(&[
                        ("client_assertion_type", "urn:x"),
                        ("client_assertion", "a.b.c")
                    ])
                )),
                Some(InvalidClient)
            );
            assert_eq!(
                code(ClientCredentials::from_request(
                    None,
                    &p(&[
                        ("client_assertion_type", t),
                        ("client_assertion", "a.b.c"),
                        ("client_secret", "s")
                    ])
                )),
                Some(InvalidRequest)
            );
            assert_eq!(
                code(ClientCredentials::from_request(
                    Some(("k1".into(), "s".into())),
                    &p(&[("client_assertion_type", t), ("client_assertion", "a.b.c")])
                )),
                Some(InvalidRequest)
            );
            let big = "a".repeat(64 * 1024);
            assert_eq!(
                code(ClientCredentials::from_request(
                    None,
                    &p(&[("client_assertion_type", t), ("client_assertion", &big)])
                )),
                Some(InvalidClient)
            );
        }
    }
}
