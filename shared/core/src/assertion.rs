//! `private_key_jwt` client authentication: a client proves who it is with a JWT it signed with
//! one of its registered keys (RFC 7523 §2.2 and §3, OpenID Connect Core §9, RFC 7521 §4.2).
//!
//! [`ClientKeys`] is a client's registered public keys (a JWKS, RFC 7517 §5), checked once when
//! the operator registers them; [`verify`] checks a presented [`ClientAssertion`] against them.
//! Every rule is ours and applied here, from the raw header and claims, with the caller's clock:
//! `jsonwebtoken` is asked only whether a signature verifies with a key
//! ([`jsonwebtoken::crypto::verify`]), after the algorithm and the key were chosen here, so no
//! `none`, HMAC or mismatched key can reach it.
//!
//! What [`verify`] does not do: the single-use check. It returns the `jti` and `exp`
//! ([`VerifiedAssertion`]) for the caller's conditional write (RFC 7523 §3 rule 7).
use crate::error::{echo, OAuthError};
use crate::ids::ClientId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest assertion accepted, in bytes, checked before any parsing (a 64 KB assertion must be
/// refused cheaply).
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;

/// Algorithms accepted, as listed in server metadata
/// `token_endpoint_auth_signing_alg_values_supported`.
pub const SIGNING_ALGS: &[&str] = &["ES256", "EdDSA", "PS256", "RS256"];

/// Most keys one client may register.
pub const MAX_KEYS: usize = 10;

/// Longest JWKS document accepted at registration, in bytes: ten 4096-bit RSA keys take about
/// 7 KB; the rest leaves room for `x5c` chains, and keeps the client item far below DynamoDB's
/// 400 KB.
pub const MAX_JWKS_LEN: usize = 64 * 1024;

/// Longest `jti` accepted, in characters (it keys the single-use record).
pub const MAX_JTI_LEN: usize = 256;

/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3: 2048 or larger).
pub const MIN_RSA_BITS: usize = 2048;

/// Largest RSA modulus accepted, in bits: what the verifier (aws-lc) accepts.
pub const MAX_RSA_BITS: usize = 8192;

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2), and an oct
/// key's secret (RFC 7518 §6.4.1).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The `client_assertion` as presented (RFC 7521 §4.2). It is a bearer credential while it
/// lives, so its `Debug` is redacted, like a [`crate::secret::ClientSecret`]'s.
#[derive(Clone)]
pub struct ClientAssertion(String);

impl ClientAssertion {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `sub` claim read WITHOUT verifying anything: only to learn which client to look up
    /// when the request carries no `client_id` (RFC 7523 §3, RFC 7521 §4.2: `client_id` is
    /// optional with an assertion). [`verify`] then checks everything against that client.
    /// `None` when the assertion is too long, not a JWT, or has no string `sub`.
    pub fn unverified_subject(&self) -> Option<String> {
        let parts = Parts::parse(&self.0).ok()?;
        match parts.claims.get("sub") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }
}

impl fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientAssertion([redacted])")
    }
}

/// Why a JWKS document was refused at registration: a message for the operator that names the
/// key (`keys[i]`, and its kid) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("the JWKS is not valid JSON: {0}")]
    NotJson(String),
    #[error("the JWKS is longer than {MAX_JWKS_LEN} bytes")]
    TooLong,
    #[error("the JWKS must be a JSON object with a \"keys\" array (RFC 7517 section 5)")]
    NotAKeySet,
    #[error("the JWKS must have 1 to {MAX_KEYS} keys; it has {0}")]
    KeyCount(usize),
    #[error("{key}: {problem}")]
    Key { key: String, problem: String },
    #[error("kid \"{0}\" is used by more than one key: kids must be unique")]
    DuplicateKid(String),
}

/// A client's registered public keys: a JWKS (RFC 7517 §5) as the operator registered it,
/// checked by [`ClientKeys::from_jwks_json`] (public keys only, of the types [`SIGNING_ALGS`]
/// need, at most [`MAX_KEYS`]).
///
/// Serialises as ONE JSON string (the compact JWKS JSON), so it is one string attribute in a
/// DynamoDB item; deserialising checks it again, so a `ClientKeys` always holds a valid set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientKeys(String);

impl ClientKeys {
    /// Validates an operator-given JWKS document (the CLI's `--jwks-file`): a JSON object with
    /// `"keys"`, 1 to [`MAX_KEYS`] keys; each a PUBLIC key (no private members `d`, `p`, `q`,
    /// `dp`, `dq`, `qi`, `oth`; no symmetric `oct` key); `kty` EC (crv P-256 only), OKP (crv
    /// Ed25519 only) or RSA (modulus of 2048 to 8192 bits); `alg`, if given, one of
    /// [`SIGNING_ALGS`] that fits the key type; `use`, if given, `sig`; kids, if given, unique;
    /// each loads as a verification key. Stores the compact re-serialised JSON.
    pub fn from_jwks_json(json: &str) -> Result<Self, KeysError> {
        let (compact, _) = parse_jwks(json)?;
        Ok(Self(compact))
    }

    /// The compact JWKS JSON.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys().len()
    }

    /// Whether there is no key (never, for a set that passed [`Self::from_jwks_json`]).
    pub fn is_empty(&self) -> bool {
        self.keys().is_empty()
    }

    /// The kids, in order, for the CLI to display.
    pub fn kids(&self) -> Vec<Option<String>> {
        self.keys().into_iter().map(|k| k.kid).collect()
    }

    /// The keys, loaded. The set was checked when it was made, so this cannot fail; were it to,
    /// the set would count as empty (nothing verifies), never as a panic.
    fn keys(&self) -> Vec<RegisteredKey> {
        parse_jwks(&self.0)
            .map(|(_, keys)| keys)
            .unwrap_or_default()
    }
}

impl TryFrom<String> for ClientKeys {
    type Error = KeysError;
    fn try_from(json: String) -> Result<Self, KeysError> {
        Self::from_jwks_json(&json)
    }
}

impl From<ClientKeys> for String {
    fn from(keys: ClientKeys) -> Self {
        keys.0
    }
}

/// A key type the server accepts, with the one curve accepted for each curve type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    /// EC P-256 (ES256).
    Ec,
    /// OKP Ed25519 (EdDSA).
    Okp,
    /// RSA, 2048 to 8192 bits (PS256, RS256).
    Rsa,
}

impl KeyType {
    /// Whether a key of this type can verify `alg` (RFC 7518 §3.1, RFC 8037 §3.1).
    fn fits(self, alg: &str) -> bool {
        matches!(
            (self, alg),
            (Self::Ec, "ES256") | (Self::Okp, "EdDSA") | (Self::Rsa, "PS256" | "RS256")
        )
    }
    fn family(self) -> AlgorithmFamily {
        match self {
            Self::Ec => AlgorithmFamily::Ec,
            Self::Okp => AlgorithmFamily::Ed,
            Self::Rsa => AlgorithmFamily::Rsa,
        }
    }
}

/// One registered key, loaded.
struct RegisteredKey {
    kid: Option<String>,
    kty: KeyType,
    /// The key's own `alg`, if registered: then only that algorithm may use it.
    alg: Option<String>,
    key: DecodingKey,
}

impl RegisteredKey {
    /// Whether this key may verify a signature made with `alg`: its type fits, and its own
    /// `alg`, if any, is that algorithm (RFC 7517 §4.4).
    fn usable_for(&self, alg: &str) -> bool {
        self.kty.fits(alg) && self.alg.as_deref().is_none_or(|a| a == alg)
    }
}

/// Checks a JWKS document; returns its compact form and its keys.
fn parse_jwks(json: &str) -> Result<(String, Vec<RegisteredKey>), KeysError> {
    if json.len() > MAX_JWKS_LEN {
        return Err(KeysError::TooLong);
    }
    let doc: Value = serde_json::from_str(json).map_err(|e| KeysError::NotJson(e.to_string()))?;
    let Some(Value::Array(keys)) = doc.get("keys") else {
        return Err(KeysError::NotAKeySet);
    };
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(KeysError::KeyCount(keys.len()));
    }
    let mut loaded: Vec<RegisteredKey> = Vec::with_capacity(keys.len());
    for (i, jwk) in keys.iter().enumerate() {
        let key = parse_jwk(i, jwk)?;
        if let Some(kid) = &key.kid {
            if loaded.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                return Err(KeysError::DuplicateKid(echo(kid)));
            }
        }
        loaded.push(key);
    }
    // Only the key set itself is kept: other top-level members mean nothing to us.
    let compact = serde_json::json!({ "keys": keys }).to_string();
    Ok((compact, loaded))
}

/// Checks one JWK (`keys[index]`) and loads it.
fn parse_jwk(index: usize, jwk: &Value) -> Result<RegisteredKey, KeysError> {
    let Some(obj) = jwk.as_object() else {
        return Err(key_error(index, None, "is not a JSON object"));
    };
    let kid = match obj.get("kid") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return Err(key_error(index, None, "kid must be a non-empty string")),
    };
    let fail = |problem: String| key_error(index, kid.as_deref(), problem);
    let kty = match obj.get("kty") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(fail("kty is required (EC, OKP or RSA)".into())),
    };
    if kty == "oct" {
        return Err(fail(
            "is a symmetric (oct) key: register public keys only (EC P-256, OKP Ed25519 or RSA)"
                .into(),
        ));
    }
    let private: Vec<&str> = PRIVATE_MEMBERS
        .iter()
        .copied()
        .filter(|m| obj.contains_key(*m))
        .collect();
    if !private.is_empty() {
        return Err(fail(format!(
            "is a private key (it has {}): register the public key only",
            private.join(", ")
        )));
    }
    let member = |name: &str| -> Result<Vec<u8>, KeysError> {
        match obj.get(name) {
            Some(Value::String(s)) => URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|_| fail(format!("{name} is not base64url without padding"))),
            _ => Err(fail(format!("{name} is required for a {kty} key"))),
        }
    };
    let curve = || match obj.get("crv") {
        Some(Value::String(s)) => echo(s),
        _ => "(none)".to_string(),
    };
    let key_type = match kty {
        "EC" => {
            if obj.get("crv").and_then(Value::as_str) != Some("P-256") {
                return Err(fail(format!(
                    "curve {} is not accepted: EC keys must be P-256 (ES256)",
                    curve()
                )));
            }
            if member("x")?.len() != 32 || member("y")?.len() != 32 {
                return Err(fail("x and y of a P-256 key are 32 bytes each".into()));
            }
            KeyType::Ec
        }
        "OKP" => {
            if obj.get("crv").and_then(Value::as_str) != Some("Ed25519") {
                return Err(fail(format!(
                    "curve {} is not accepted: OKP keys must be Ed25519 (EdDSA)",
                    curve()
                )));
            }
            if member("x")?.len() != 32 {
                return Err(fail("x of an Ed25519 key is 32 bytes".into()));
            }
            KeyType::Okp
        }
        "RSA" => {
            let bits = bit_length(&member("n")?);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(fail(format!(
                    "the RSA modulus has {bits} bits: it must have {MIN_RSA_BITS} to {MAX_RSA_BITS}"
                )));
            }
            let e = member("e")?;
            let e = strip_leading_zeros(&e);
            if e.is_empty() || e.len() > 8 || e.last().is_some_and(|b| b % 2 == 0) || e == [1] {
                return Err(fail("e is not a valid RSA public exponent".into()));
            }
            KeyType::Rsa
        }
        other => {
            return Err(fail(format!(
                "key type {} is not accepted: use EC (P-256), OKP (Ed25519) or RSA",
                echo(other)
            )))
        }
    };
    let alg = match obj.get("alg") {
        None => None,
        Some(Value::String(a)) if SIGNING_ALGS.contains(&a.as_str()) => {
            if !key_type.fits(a) {
                return Err(fail(format!("alg {a} does not fit the key type {kty}")));
            }
            Some(a.clone())
        }
        Some(_) => {
            return Err(fail(format!(
                "alg must be one of {} when present",
                SIGNING_ALGS.join(", ")
            )))
        }
    };
    match obj.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(fail("use must be \"sig\" when present".into())),
    }
    let loaded = serde_json::from_value::<Jwk>(jwk.clone())
        .ok()
        .and_then(|j| DecodingKey::from_jwk(&j).ok())
        .filter(|k| k.family() == key_type.family())
        .ok_or_else(|| fail("cannot be loaded as a verification key".into()))?;
    Ok(RegisteredKey {
        kid,
        kty: key_type,
        alg,
        key: loaded,
    })
}

fn key_error(index: usize, kid: Option<&str>, problem: impl Into<String>) -> KeysError {
    let key = match kid {
        Some(kid) => format!("keys[{index}] (kid \"{}\")", echo(kid)),
        None => format!("keys[{index}]"),
    };
    KeysError::Key {
        key,
        problem: problem.into(),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The bit length of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    let bytes = strip_leading_zeros(bytes);
    match bytes.first() {
        None => 0,
        Some(first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// What an assertion is checked against (besides the keys).
#[derive(Debug, Clone, Copy)]
pub struct AssertionRules<'a> {
    /// The client the request names: `iss` and `sub` must both equal it.
    pub client_id: &'a ClientId,
    /// Accepted `aud` values: the issuer and the URL of the endpoint called (token endpoint
    /// etc.). `aud` may be a string or an array; at least one entry must be in this list.
    pub audiences: &'a [&'a str],
    pub now: u64,
    /// Most seconds `exp` may be ahead of `now` (the deployment's setting; default 300).
    pub max_lifetime: u64,
    /// Clock skew tolerated for `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
}

/// A verified assertion: what the single-use check (a conditional write done by the caller)
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The `jti` claim (RFC 7523 §3 rule 7, required by OpenID Connect Core §9): a non-empty
    /// string of at most [`MAX_JTI_LEN`] characters.
    pub jti: String,
    /// `exp`: the replay record must be kept until then.
    pub expires_at: u64,
}

/// An assertion split into its parts (RFC 7515 §7.1, compact serialization), each decoded.
struct Parts<'a> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    signing_input: &'a str,
    signature: &'a str,
}

impl<'a> Parts<'a> {
    fn parse(token: &'a str) -> Result<Self, OAuthError> {
        if token.len() > MAX_ASSERTION_LEN {
            return Err(OAuthError::invalid_client(format!(
                "the client assertion is longer than {MAX_ASSERTION_LEN} bytes"
            )));
        }
        let malformed = || {
            OAuthError::invalid_client(
                "the client assertion must be a signed JWT: three base64url parts separated by dots",
            )
        };
        let mut it = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(malformed());
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed());
        let object = |bytes: Vec<u8>, what: &'static str| {
            serde_json::from_slice::<Map<String, Value>>(&bytes).map_err(|_| {
                OAuthError::invalid_client(format!(
                    "the client assertion's {what} is not a JSON object"
                ))
            })
        };
        let header = object(decode(h)?, "header")?;
        let claims = object(decode(p)?, "claims set")?;
        // An empty signature (an unsecured JWT, RFC 7519 §6) is let through to the alg check,
        // which says what is wrong with it.
        if decode(s).is_err() {
            return Err(malformed());
        }
        Ok(Self {
            header,
            claims,
            signing_input: &token[..h.len() + 1 + p.len()],
            signature: s,
        })
    }
}

/// RFC 7523 §3, OpenID Connect Core §9: verifies `assertion` with one of the key sets (the
/// client's current keys and, during a key rotation's overlap, its old keys: every set is
/// tried). Every failure is `invalid_client` (RFC 7521 §4.2.1) with a description that says
/// what is wrong, never echoing the assertion.
///
/// The rules, in order: the length and the shape (three base64url parts, JSON objects); the
/// header's `alg` one of [`SIGNING_ALGS`] (checked on the raw header, so `none` and HMAC never
/// reach the verifier), no `crit`, `typ` absent or `JWT`; the key: the one its `kid` names or,
/// with no `kid`, every key that fits the `alg`; the signature; then the claims: `iss` and
/// `sub` the client, `aud` one of the audiences, `exp` not passed and not too far ahead, `nbf`
/// and `iat` not in the future, `jti` present.
pub fn verify(
    assertion: &ClientAssertion,
    key_sets: &[&ClientKeys],
    rules: &AssertionRules<'_>,
) -> Result<VerifiedAssertion, OAuthError> {
    let parts = Parts::parse(assertion.as_str())?;
    let alg = check_header(&parts.header)?;
    let keys = candidate_keys(&parts.header, key_sets, alg)?;
    let algorithm = Algorithm::from_str(alg).map_err(|_| bad_alg())?;
    let verified = keys.iter().any(|k| {
        matches!(
            jsonwebtoken::crypto::verify(
                parts.signature,
                parts.signing_input.as_bytes(),
                &k.key,
                algorithm
            ),
            Ok(true)
        )
    });
    if !verified {
        return Err(OAuthError::invalid_client(
            "no registered key of this client verifies the client assertion",
        ));
    }
    check_claims(&parts.claims, rules)
}

fn bad_alg() -> OAuthError {
    OAuthError::invalid_client(format!(
        "the client assertion's alg must be one of {}",
        SIGNING_ALGS.join(", ")
    ))
}

/// RFC 7515 §4.1: the header's `alg` (returned), `crit` and `typ`.
fn check_header(header: &Map<String, Value>) -> Result<&str, OAuthError> {
    // RFC 7515 §4.1.1, RFC 8725 §3.1: the algorithm is one we chose, checked here on the raw
    // header: `none`, HMAC (a public key used as an HMAC secret), ES384 and unknown names stop.
    let alg = match header.get("alg") {
        Some(Value::String(a)) if SIGNING_ALGS.contains(&a.as_str()) => a.as_str(),
        _ => return Err(bad_alg()),
    };
    // RFC 7515 §4.1.11: an extension listed in crit must be understood; we understand none.
    if header.contains_key("crit") {
        return Err(OAuthError::invalid_client(
            "the client assertion's header has crit: no JWS extension is supported",
        ));
    }
    // RFC 7519 §5.1, RFC 8725 §3.11: typ, if present, says this is a JWT.
    match header.get("typ") {
        None => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("JWT") => {}
        Some(_) => {
            return Err(OAuthError::invalid_client(
                "the client assertion's typ must be JWT when present",
            ))
        }
    }
    Ok(alg)
}

/// RFC 7515 §4.1.4, RFC 7517 §4.4: the keys that may verify this assertion. A `kid` names one
/// key (in any of the sets); with no `kid`, every key that fits the `alg`. A key of another type
/// or with another `alg` of its own is never used.
fn candidate_keys(
    header: &Map<String, Value>,
    key_sets: &[&ClientKeys],
    alg: &str,
) -> Result<Vec<RegisteredKey>, OAuthError> {
    let all = key_sets.iter().flat_map(|set| set.keys());
    match header.get("kid") {
        None => {
            let keys: Vec<RegisteredKey> = all.filter(|k| k.usable_for(alg)).collect();
            if keys.is_empty() {
                return Err(OAuthError::invalid_client(format!(
                    "no registered key of this client is a key for {alg}"
                )));
            }
            Ok(keys)
        }
        Some(Value::String(kid)) => {
            let named: Vec<RegisteredKey> = all
                .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                .collect();
            if named.is_empty() {
                return Err(OAuthError::invalid_client(format!(
                    "the client assertion's kid {} does not name a registered key of this client",
                    echo(kid)
                )));
            }
            let keys: Vec<RegisteredKey> =
                named.into_iter().filter(|k| k.usable_for(alg)).collect();
            if keys.is_empty() {
                return Err(OAuthError::invalid_client(format!(
                    "the key the client assertion's kid {} names is not a key for {alg}",
                    echo(kid)
                )));
            }
            Ok(keys)
        }
        Some(_) => Err(OAuthError::invalid_client(
            "the client assertion's kid must be a string",
        )),
    }
}

/// RFC 7519 §2: a NumericDate, seconds since the epoch; fractions are dropped.
fn numeric_date(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1.8e19)
            .map(|f| f as u64)
    })
}

/// An optional NumericDate claim: absent is `None`, malformed is refused.
fn optional_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, OAuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => numeric_date(v).map(Some).ok_or_else(|| {
            OAuthError::invalid_client(format!(
                "the client assertion's {name} must be a NumericDate (seconds since the epoch)"
            ))
        }),
    }
}

/// RFC 7523 §3, OpenID Connect Core §9: the claims.
fn check_claims(
    claims: &Map<String, Value>,
    rules: &AssertionRules<'_>,
) -> Result<VerifiedAssertion, OAuthError> {
    // RFC 7523 §3 rules 1 and 2.B, OIDC Core §9: iss and sub are both the client_id (for a
    // metadata-document client its URL, which names the stored id).
    for (name, article) in [("iss", "an"), ("sub", "a")] {
        match claims.get(name) {
            Some(Value::String(v))
                if *rules.client_id == crate::metadata_document::wire_client_id(v) => {}
            Some(Value::String(v)) => {
                return Err(OAuthError::invalid_client(format!(
                    "the client assertion's {name} {} is not the client_id",
                    echo(v)
                )))
            }
            _ => {
                return Err(OAuthError::invalid_client(format!(
                    "the client assertion must have {article} {name} claim: the client_id"
                )))
            }
        }
    }
    // RFC 7523 §3 rule 3: aud, a string or an array, names this server.
    let aud_ok =
        match claims.get("aud") {
            Some(Value::String(a)) => rules.audiences.contains(&a.as_str()),
            Some(Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str().is_some_and(|a| rules.audiences.contains(&a))),
            None => return Err(OAuthError::invalid_client(
                "the client assertion must have an aud claim: the issuer, the token endpoint URL or the URL of the endpoint called",
            )),
            Some(_) => false,
        };
    if !aud_ok {
        return Err(OAuthError::invalid_client(
            "the client assertion's aud must be the issuer, the token endpoint URL or the URL of the endpoint called",
        ));
    }
    // RFC 7523 §3 rule 4: exp is required and not passed; our own bound on how far ahead.
    let exp = match claims.get("exp").map(numeric_date) {
        Some(Some(exp)) => exp,
        Some(None) => {
            return Err(OAuthError::invalid_client(
                "the client assertion's exp must be a NumericDate (seconds since the epoch)",
            ))
        }
        None => {
            return Err(OAuthError::invalid_client(
                "the client assertion must have an exp claim",
            ))
        }
    };
    if exp.saturating_add(rules.leeway) <= rules.now {
        return Err(OAuthError::invalid_client(
            "the client assertion has expired",
        ));
    }
    if exp
        > rules
            .now
            .saturating_add(rules.max_lifetime)
            .saturating_add(rules.leeway)
    {
        return Err(OAuthError::invalid_client(format!(
            "the client assertion expires too far ahead: at most {} seconds",
            rules.max_lifetime
        )));
    }
    let latest = rules.now.saturating_add(rules.leeway);
    // RFC 7523 §3 rule 5: not before nbf.
    if optional_date(claims, "nbf")?.is_some_and(|nbf| nbf > latest) {
        return Err(OAuthError::invalid_client(
            "the client assertion is not valid yet (nbf is in the future)",
        ));
    }
    // RFC 7523 §3 rule 6: iat, if present, is not in the future.
    if optional_date(claims, "iat")?.is_some_and(|iat| iat > latest) {
        return Err(OAuthError::invalid_client(
            "the client assertion's iat is in the future",
        ));
    }
    // RFC 7523 §3 rule 7, OIDC Core §9 (required there): jti, for the single-use check.
    let jti = match claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.chars().count() <= MAX_JTI_LEN => j.clone(),
        _ => {
            return Err(OAuthError::invalid_client(format!(
                "the client assertion must have a jti claim: a unique string of 1 to {MAX_JTI_LEN} characters"
            )))
        }
    };
    Ok(VerifiedAssertion {
        jti,
        expires_at: exp,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::{ErrorCode, ECHO_LIMIT};
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    use aws_lc_rs::signature::{
        EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaPublicKeyComponents,
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PKCS1_SHA256,
        RSA_PSS_SHA256,
    };
    use jsonwebtoken::{EncodingKey, Header};
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::OnceLock;

    const CLIENT: &str = "c1";
    const ISSUER: &str = "https://auth.example";
    const TOKEN_URL: &str = "https://auth.example/oauth2/token";
    const NOW: u64 = 1_700_000_000;
    const MAX_LIFETIME: u64 = 300;
    const LEEWAY: u64 = 30;

    fn b64(bytes: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The one RSA key of the tests: generating one is slow in a debug build.
    fn rsa_pair() -> &'static RsaKeyPair {
        static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
        KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    enum Signer {
        Ec(EcdsaKeyPair, Vec<u8>),
        Ed(Ed25519KeyPair, Vec<u8>),
        Rsa,
    }

    /// A private key and its public JWK.
    pub(crate) struct TestKey {
        signer: Signer,
        jwk: Value,
    }

    impl TestKey {
        fn with(mut self, member: &str, value: Value) -> Self {
            self.jwk[member] = value;
            self
        }
    }

    pub(crate) fn ec_key(kid: Option<&str>) -> TestKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap().as_ref().to_vec();
        let point = pair.public_key().as_ref();
        let mut jwk =
            json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])});
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        TestKey {
            signer: Signer::Ec(pair, pkcs8),
            jwk,
        }
    }

    fn ed_key(kid: Option<&str>) -> TestKey {
        let pair = Ed25519KeyPair::generate().unwrap();
        let pkcs8 = pair.to_pkcs8().unwrap().as_ref().to_vec();
        let mut jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        TestKey {
            signer: Signer::Ed(pair, pkcs8),
            jwk,
        }
    }

    fn rsa_components() -> RsaPublicKeyComponents<Vec<u8>> {
        RsaPublicKeyComponents::<Vec<u8>>::from(rsa_pair().public_key())
    }

    fn rsa_key(kid: Option<&str>) -> TestKey {
        let c = rsa_components();
        let mut jwk = json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)});
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        TestKey {
            signer: Signer::Rsa,
            jwk,
        }
    }

    pub(crate) fn keys(list: &[&TestKey]) -> ClientKeys {
        let jwks: Vec<&Value> = list.iter().map(|k| &k.jwk).collect();
        ClientKeys::from_jwks_json(&json!({ "keys": jwks }).to_string()).unwrap()
    }

    pub(crate) fn header(alg: &str, kid: Option<&str>) -> Value {
        let mut h = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            h["kid"] = json!(kid);
        }
        h
    }

    /// A JWT signed by `key`, with any header: the scheme is the key's (for RSA, PS256 when the
    /// header says so, RS256 otherwise), whatever the header's alg says.
    pub(crate) fn sign(key: &TestKey, header: &Value, claims: &Value) -> ClientAssertion {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = match &key.signer {
            Signer::Ec(pair, _) => pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            Signer::Ed(pair, _) => pair.sign(input.as_bytes()).as_ref().to_vec(),
            Signer::Rsa => {
                let scheme: &'static dyn aws_lc_rs::signature::RsaEncoding =
                    if header["alg"] == "PS256" {
                        &RSA_PSS_SHA256
                    } else {
                        &RSA_PKCS1_SHA256
                    };
                let pair = rsa_pair();
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(scheme, &SystemRandom::new(), input.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
        };
        ClientAssertion::new(format!("{input}.{}", b64(sig)))
    }

    fn claims() -> Value {
        json!({
            "iss": CLIENT,
            "sub": CLIENT,
            "aud": TOKEN_URL,
            "exp": NOW + 60,
            "iat": NOW,
            "jti": "jti-1",
        })
    }

    fn claims_with(member: &str, value: Value) -> Value {
        let mut c = claims();
        c[member] = value;
        c
    }

    fn claims_without(member: &str) -> Value {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(member);
        c
    }

    fn check(a: &ClientAssertion, sets: &[&ClientKeys]) -> Result<VerifiedAssertion, OAuthError> {
        let client = ClientId::new(CLIENT);
        let rules = AssertionRules {
            client_id: &client,
            audiences: &[ISSUER, TOKEN_URL],
            now: NOW,
            max_lifetime: MAX_LIFETIME,
            leeway: LEEWAY,
        };
        verify(a, sets, &rules)
    }

    #[track_caller]
    fn refused(r: Result<VerifiedAssertion, OAuthError>, needle: &str) {
        let e = r.expect_err("the assertion should be refused");
        assert_eq!(e.code, ErrorCode::InvalidClient, "{e}");
        assert!(
            e.description.contains(needle),
            "{:?} lacks {needle:?}",
            e.description
        );
    }

    #[track_caller]
    fn accepted(r: Result<VerifiedAssertion, OAuthError>) -> VerifiedAssertion {
        match r {
            Ok(v) => v,
            Err(e) => panic!("refused: {e}"),
        }
    }

    // --- the four algorithms ---

    /// RFC 7523 §3, RFC 7518 §3.4: an ES256 assertion (made by jsonwebtoken, as a client would)
    /// verifies, and gives its jti and exp for the single-use check.
    #[test]
    fn an_es256_assertion_verifies() {
        let key = ec_key(Some("ec1"));
        let Signer::Ec(_, pkcs8) = &key.signer else {
            unreachable!()
        };
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("ec1".into());
        let token = jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_ec_der(pkcs8)).unwrap();
        let v = accepted(check(&ClientAssertion::new(token), &[&keys(&[&key])]));
        assert_eq!(
            v,
            VerifiedAssertion {
                jti: "jti-1".into(),
                expires_at: NOW + 60
            }
        );
    }

    /// RFC 8037 §3.1: an EdDSA (Ed25519) assertion, without kid (as Authlib sends it), verifies.
    #[test]
    fn an_eddsa_assertion_verifies() {
        let key = ed_key(None);
        let Signer::Ed(_, pkcs8) = &key.signer else {
            unreachable!()
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims(),
            &EncodingKey::from_ed_der(pkcs8),
        )
        .unwrap();
        accepted(check(&ClientAssertion::new(token), &[&keys(&[&key])]));
        let own = sign(&key, &json!({"alg": "EdDSA"}), &claims());
        accepted(check(&own, &[&keys(&[&key])]));
    }

    /// RFC 7518 §3.5: a PS256 assertion verifies.
    #[test]
    fn a_ps256_assertion_verifies() {
        let key = rsa_key(Some("r1"));
        let a = sign(&key, &header("PS256", Some("r1")), &claims());
        accepted(check(&a, &[&keys(&[&key])]));
    }

    /// RFC 7518 §3.3: an RS256 assertion verifies.
    #[test]
    fn an_rs256_assertion_verifies() {
        let key = rsa_key(None);
        let a = sign(&key, &header("RS256", None), &claims());
        accepted(check(&a, &[&keys(&[&key])]));
    }

    // --- shape ---

    /// RFC 7523 §3 rule 10, RFC 8725 §3: a 64 KB assertion is refused on its length, before any
    /// parsing or key is touched.
    #[test]
    fn an_assertion_over_the_length_limit_is_refused_before_parsing() {
        let key = ec_key(None);
        let big = claims_with("pad", json!("x".repeat(64 * 1024)));
        let a = sign(&key, &header("ES256", None), &big);
        refused(check(&a, &[&keys(&[&key])]), "longer than 8192 bytes");
        refused(
            check(&ClientAssertion::new("a".repeat(64 * 1024)), &[]),
            "longer than",
        );
        assert_eq!(a.unverified_subject(), None);
    }

    /// RFC 7515 §7.1, RFC 7523 §3 rule 10: anything but three base64url parts of JSON objects
    /// (a JWE's five parts, bad base64, bad JSON, no signature) is refused, never a panic.
    #[test]
    fn a_malformed_assertion_is_refused() {
        let set = keys(&[&ec_key(None)]);
        let h = b64(r#"{"alg":"ES256"}"#);
        let p = b64(claims().to_string());
        for bad in [
            String::new(),
            "abc".into(),
            "a.b".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}."),
            format!("{h}.{p}.sig.x.y"),
            format!("{h}.{p}.s!g"),
            format!("{h}=.{p}.c2ln"),
            format!("{}.{p}.c2ln", b64("not json")),
            format!("{}.{p}.c2ln", b64("[1,2]")),
            format!("{h}.{}.c2ln", b64("{\"sub\":")),
            format!("{h}.{}.c2ln", b64("\"c1\"")),
            "...".into(),
        ] {
            let r = check(&ClientAssertion::new(bad.clone()), &[&set]);
            assert_eq!(r.unwrap_err().code, ErrorCode::InvalidClient, "{bad}");
        }
        refused(
            check(&ClientAssertion::new(format!("{h}.{p}.sig.x.y")), &[&set]),
            "must be a signed JWT",
        );
        refused(
            check(&ClientAssertion::new(format!("{h}.{p}.")), &[&set]),
            "no registered key of this client verifies",
        );
    }

    // --- header ---

    /// RFC 7518 §3.6, RFC 8725 §3.1: `alg: none` (an unsigned JWT) is refused.
    #[test]
    fn alg_none_is_refused() {
        let set = keys(&[&ec_key(None)]);
        let h = b64(r#"{"alg":"none","typ":"JWT"}"#);
        let p = b64(claims().to_string());
        for token in [format!("{h}.{p}."), format!("{h}.{p}.c2ln")] {
            refused(
                check(&ClientAssertion::new(token), &[&set]),
                "the client assertion's alg must be one of ES256, EdDSA, PS256, RS256",
            );
        }
        for alg in ["None", "NONE"] {
            let a = sign(&ec_key(None), &header(alg, None), &claims());
            refused(check(&a, &[&set]), "alg must be one of");
        }
    }

    /// RFC 8725 §2.1, §3.1: an HMAC assertion keyed with the client's public key (the classic
    /// key-confusion attack) is refused on its alg, before any key is used.
    #[test]
    fn hmac_keyed_with_the_public_key_is_refused() {
        let key = rsa_key(Some("r1"));
        let set = keys(&[&key]);
        let public = rsa_components().n;
        for (alg, hmac_alg) in [
            ("HS256", aws_lc_rs::hmac::HMAC_SHA256),
            ("HS384", aws_lc_rs::hmac::HMAC_SHA384),
            ("HS512", aws_lc_rs::hmac::HMAC_SHA512),
        ] {
            let input = format!(
                "{}.{}",
                b64(header(alg, Some("r1")).to_string()),
                b64(claims().to_string())
            );
            let mac = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(hmac_alg, &public),
                input.as_bytes(),
            );
            let a = ClientAssertion::new(format!("{input}.{}", b64(mac.as_ref())));
            refused(check(&a, &[&set]), "alg must be one of");
        }
    }

    /// RFC 7518 §3.1: only the advertised algorithms: ES384, RS512, PS384, unknown names, a
    /// missing or non-string alg are refused.
    #[test]
    fn algs_not_advertised_are_refused() {
        let ec384 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        let input = format!(
            "{}.{}",
            b64(header("ES384", None).to_string()),
            b64(claims().to_string())
        );
        let sig = ec384.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        let a = ClientAssertion::new(format!("{input}.{}", b64(sig.as_ref())));
        let set = keys(&[&ec_key(None), &rsa_key(None)]);
        refused(check(&a, &[&set]), "alg must be one of");
        for h in [
            header("RS512", None),
            header("PS384", None),
            header("ES256K", None),
            header("es256", None),
            json!({"typ": "JWT"}),
            json!({"alg": 256}),
            json!({"alg": ["ES256"]}),
        ] {
            let a = sign(&rsa_key(None), &h, &claims());
            refused(check(&a, &[&set]), "alg must be one of");
        }
    }

    /// RFC 7515 §4.1.11: a `crit` header lists extensions that must be understood; we
    /// understand none, so any `crit` is refused.
    #[test]
    fn a_crit_header_is_refused() {
        let key = ec_key(None);
        let set = keys(&[&key]);
        for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!("x")] {
            let mut h = header("ES256", None);
            h["crit"] = crit;
            refused(check(&sign(&key, &h, &claims()), &[&set]), "crit");
        }
    }

    /// RFC 7519 §5.1, RFC 8725 §3.11: `typ`, if present, is JWT (in any case); another type
    /// (an access token's `at+jwt`, a non-string) is refused.
    #[test]
    fn a_typ_other_than_jwt_is_refused() {
        let key = ec_key(None);
        let set = keys(&[&key]);
        for typ in ["JWT", "jwt", "Jwt"] {
            let mut h = header("ES256", None);
            h["typ"] = json!(typ);
            accepted(check(&sign(&key, &h, &claims()), &[&set]));
        }
        accepted(check(
            &sign(&key, &json!({"alg": "ES256"}), &claims()),
            &[&set],
        ));
        for typ in [json!("at+jwt"), json!("JOSE"), json!(""), json!(1)] {
            let mut h = header("ES256", None);
            h["typ"] = typ;
            refused(
                check(&sign(&key, &h, &claims()), &[&set]),
                "typ must be JWT",
            );
        }
    }

    // --- key selection ---

    /// RFC 7515 §4.1.4: a kid that names no registered key is refused (the key it names is not
    /// this client's), even when another registered key would verify.
    #[test]
    fn a_kid_not_registered_is_refused() {
        let key = ec_key(Some("k1"));
        let set = keys(&[&key]);
        let a = sign(&key, &header("ES256", Some("k2")), &claims());
        refused(check(&a, &[&set]), "kid k2 does not name a registered key");
        let mut h = header("ES256", None);
        h["kid"] = json!(7);
        refused(
            check(&sign(&key, &h, &claims()), &[&set]),
            "kid must be a string",
        );
        // A kid in the assertion and none in the set: no key is named.
        let anonymous = ec_key(None);
        let a = sign(&anonymous, &header("ES256", Some("k1")), &claims());
        refused(check(&a, &[&keys(&[&anonymous])]), "does not name");
    }

    /// RFC 7518 §3.1, RFC 8725 §3.1: a key is used only with the algorithm of its type: an RS256
    /// assertion whose kid names an EC key, or an ES256 one with only an Ed25519 key, is refused.
    #[test]
    fn a_key_of_another_type_than_the_alg_is_not_used() {
        let ec = ec_key(Some("ec"));
        let rsa = rsa_key(Some("rsa"));
        let set = keys(&[&ec, &rsa]);
        let a = sign(&rsa, &header("RS256", Some("ec")), &claims());
        refused(
            check(&a, &[&set]),
            "the key the client assertion's kid ec names is not a key for RS256",
        );
        let ed = ed_key(None);
        let a = sign(&ec_key(None), &header("ES256", None), &claims());
        refused(
            check(&a, &[&keys(&[&ed])]),
            "no registered key of this client is a key for ES256",
        );
        let a = sign(&ed, &header("EdDSA", None), &claims());
        refused(check(&a, &[&keys(&[&ec])]), "is a key for EdDSA");
    }

    /// RFC 7523 §3 rule 9: with no kid, every key that fits the alg is tried, in any set: the
    /// signing key is found among others of other types and of the same type.
    #[test]
    fn without_a_kid_every_key_fitting_the_alg_is_tried() {
        let signer = ec_key(None);
        let set = keys(&[&ed_key(None), &rsa_key(None), &ec_key(None), &signer]);
        accepted(check(
            &sign(&signer, &header("ES256", None), &claims()),
            &[&set],
        ));
    }

    /// RFC 7517 §4.4: a key registered with its own alg is used with that alg only: an RSA key
    /// registered for PS256 does not verify an RS256 assertion.
    #[test]
    fn a_key_whose_own_alg_differs_from_the_header_is_not_used() {
        let key = rsa_key(Some("r1")).with("alg", json!("PS256"));
        let set = keys(&[&key]);
        refused(
            check(
                &sign(&key, &header("RS256", Some("r1")), &claims()),
                &[&set],
            ),
            "is not a key for RS256",
        );
        refused(
            check(&sign(&key, &header("RS256", None), &claims()), &[&set]),
            "is a key for RS256",
        );
        accepted(check(
            &sign(&key, &header("PS256", Some("r1")), &claims()),
            &[&set],
        ));
    }

    /// RFC 7523 §3 rule 9: a signature by a key this client did not register is refused, and so
    /// is a claims set changed after signing; an RS256 signature presented as PS256 too.
    #[test]
    fn a_signature_by_another_key_is_refused() {
        let registered = ec_key(Some("k1"));
        let other = ec_key(Some("k1"));
        let set = keys(&[&registered]);
        let a = sign(&other, &header("ES256", Some("k1")), &claims());
        refused(
            check(&a, &[&set]),
            "no registered key of this client verifies the client assertion",
        );
        refused(
            check(&sign(&other, &header("ES256", None), &claims()), &[&set]),
            "verifies",
        );

        let good = sign(&registered, &header("ES256", None), &claims());
        let parts: Vec<&str> = good.as_str().split('.').collect();
        let forged = claims_with("sub", json!("c2"));
        let tampered = format!("{}.{}.{}", parts[0], b64(forged.to_string()), parts[2]);
        refused(check(&ClientAssertion::new(tampered), &[&set]), "verifies");

        let rsa = rsa_key(None);
        let rs = sign(&rsa, &header("RS256", None), &claims());
        let parts: Vec<&str> = rs.as_str().split('.').collect();
        let relabelled = format!(
            "{}.{}.{}",
            b64(header("PS256", None).to_string()),
            parts[1],
            parts[2]
        );
        refused(
            check(&ClientAssertion::new(relabelled), &[&keys(&[&rsa])]),
            "verifies",
        );
    }

    /// RFC 7523 §3: during a key rotation's overlap the old set is tried too: an assertion
    /// signed with the old key verifies with the new set first in the list.
    #[test]
    fn the_old_key_set_verifies_during_a_rotation_overlap() {
        let old = ec_key(Some("old"));
        let new = ed_key(Some("new"));
        let (old_set, new_set) = (keys(&[&old]), keys(&[&new]));
        let a = sign(&old, &header("ES256", Some("old")), &claims());
        accepted(check(&a, &[&new_set, &old_set]));
        refused(check(&a, &[&new_set]), "does not name");
        let a = sign(&old, &header("ES256", None), &claims());
        accepted(check(&a, &[&new_set, &old_set]));
        refused(check(&a, &[]), "no registered key");
    }

    // --- claims ---

    fn signed(claims: &Value) -> Result<VerifiedAssertion, OAuthError> {
        let key = ed_key(None);
        let a = sign(&key, &header("EdDSA", None), claims);
        check(&a, &[&keys(&[&key])])
    }

    /// RFC 7523 §3 rules 1 and 2.B, OpenID Connect Core §9: iss and sub are both required and
    /// both the client_id.
    #[test]
    fn iss_and_sub_must_both_be_the_client_id() {
        refused(signed(&claims_without("iss")), "must have an iss claim");
        refused(signed(&claims_without("sub")), "must have a sub claim");
        refused(
            signed(&claims_with("iss", json!("c2"))),
            "iss c2 is not the client_id",
        );
        refused(
            signed(&claims_with("sub", json!("c2"))),
            "sub c2 is not the client_id",
        );
        refused(
            signed(&claims_with("sub", json!(["c1"]))),
            "must have a sub claim",
        );
        refused(
            signed(&claims_with("iss", json!(null))),
            "must have an iss claim",
        );
        refused(
            signed(&claims_with("iss", json!("C1"))),
            "not the client_id",
        );
    }

    /// A metadata-document client signs with its URL as `iss` and `sub` (draft §6.2: its
    /// `client_id` is the URL); the stored id it maps to is what the rules hold.
    #[test]
    fn a_metadata_document_clients_assertion_names_its_url() {
        let url = "https://agent.example/client.json";
        let key = ed_key(None);
        let mut c = claims_with("sub", json!(url));
        c["iss"] = json!(url);
        let a = sign(&key, &header("EdDSA", None), &c);
        let stored = crate::metadata_document::wire_client_id(url);
        let rules = AssertionRules {
            client_id: &stored,
            audiences: &[ISSUER, TOKEN_URL],
            now: NOW,
            max_lifetime: MAX_LIFETIME,
            leeway: LEEWAY,
        };
        accepted(verify(&a, &[&keys(&[&key])], &rules));
        refused(check(&a, &[&keys(&[&key])]), "is not the client_id");
    }

    /// RFC 7523 §3 rule 3, OpenID Connect Core §9: aud is required, a string or an array, and
    /// names this server (the issuer or the endpoint's URL).
    #[test]
    fn aud_is_required_and_must_name_this_server() {
        accepted(signed(&claims_with("aud", json!(ISSUER))));
        accepted(signed(&claims_with(
            "aud",
            json!(["https://other", TOKEN_URL]),
        )));
        refused(signed(&claims_without("aud")), "must have an aud claim");
        let wrong = "the client assertion's aud must be the issuer, the token endpoint URL or the URL of the endpoint called";
        for aud in [
            json!("https://other"),
            json!(["https://other"]),
            json!([]),
            json!(7),
            json!([7, null]),
            json!({"aud": TOKEN_URL}),
            json!(format!("{TOKEN_URL}/")),
        ] {
            refused(signed(&claims_with("aud", aud)), wrong);
        }
    }

    /// RFC 7523 §3 rule 4: exp is required; an assertion expired beyond the leeway is refused.
    #[test]
    fn exp_is_required_and_an_expired_assertion_is_refused() {
        refused(signed(&claims_without("exp")), "must have an exp claim");
        refused(
            signed(&claims_with("exp", json!("soon"))),
            "exp must be a NumericDate",
        );
        refused(
            signed(&claims_with("exp", json!(-5))),
            "exp must be a NumericDate",
        );
        refused(
            signed(&claims_with("exp", json!(NOW - LEEWAY))),
            "the client assertion has expired",
        );
        refused(signed(&claims_with("exp", json!(0))), "has expired");
        accepted(signed(&claims_with("exp", json!(NOW - LEEWAY + 1))));
        let v = accepted(signed(&claims_with("exp", json!(NOW as f64 + 10.5))));
        assert_eq!(v.expires_at, NOW + 10);
    }

    /// Our own bound (RFC 7523 §3 rule 4 lets the server limit it): exp at most max_lifetime
    /// (plus leeway) ahead, so a replay record never lives long.
    #[test]
    fn an_assertion_expiring_too_far_ahead_is_refused() {
        accepted(signed(&claims_with(
            "exp",
            json!(NOW + MAX_LIFETIME + LEEWAY),
        )));
        refused(
            signed(&claims_with("exp", json!(NOW + MAX_LIFETIME + LEEWAY + 1))),
            "the client assertion expires too far ahead: at most 300 seconds",
        );
        refused(
            signed(&claims_with("exp", json!(u64::MAX))),
            "too far ahead",
        );
        refused(
            signed(&claims_with("exp", json!(1e300))),
            "exp must be a NumericDate",
        );
    }

    /// RFC 7523 §3 rule 5: an assertion is not accepted before its nbf (beyond the leeway).
    #[test]
    fn an_assertion_before_its_nbf_is_refused() {
        accepted(signed(&claims_with("nbf", json!(NOW + LEEWAY))));
        refused(
            signed(&claims_with("nbf", json!(NOW + LEEWAY + 1))),
            "not valid yet",
        );
        refused(
            signed(&claims_with("nbf", json!("now"))),
            "nbf must be a NumericDate",
        );
    }

    /// RFC 7523 §3 rule 6: iat, if present, is not in the future (beyond the leeway).
    #[test]
    fn an_assertion_issued_in_the_future_is_refused() {
        accepted(signed(&claims_without("iat")));
        accepted(signed(&claims_with("iat", json!(NOW + LEEWAY))));
        refused(
            signed(&claims_with("iat", json!(NOW + LEEWAY + 1))),
            "iat is in the future",
        );
        refused(
            signed(&claims_with("iat", json!(true))),
            "iat must be a NumericDate",
        );
    }

    /// RFC 7523 §3 rule 7, OpenID Connect Core §9 (required there): jti is a string of 1 to 256
    /// characters, returned for the single-use check.
    #[test]
    fn jti_is_required_and_1_to_256_characters() {
        let msg = "must have a jti claim";
        refused(signed(&claims_without("jti")), msg);
        refused(signed(&claims_with("jti", json!(""))), msg);
        refused(signed(&claims_with("jti", json!(42))), msg);
        refused(signed(&claims_with("jti", json!("j".repeat(257)))), msg);
        let long = "\u{e9}".repeat(256);
        assert_eq!(accepted(signed(&claims_with("jti", json!(long)))).jti, long);
    }

    /// RFC 6749 §5.2: no refusal echoes the assertion: descriptions stay short, whatever the
    /// input (a long kid or iss is echoed capped).
    #[test]
    fn refusals_never_echo_the_assertion() {
        let key = ec_key(None);
        let set = keys(&[&key]);
        let long = "z".repeat(4000);
        let a = sign(&key, &header("ES256", Some(&long)), &claims());
        let e = check(&a, &[&set]).unwrap_err();
        assert!(e.description.len() < 100 + ECHO_LIMIT, "{}", e.description);
        let a = sign(
            &key,
            &header("ES256", None),
            &claims_with("iss", json!(long)),
        );
        let e = check(&a, &[&set]).unwrap_err();
        assert!(e.description.len() < 100 + ECHO_LIMIT, "{}", e.description);
        assert!(!e.description.contains(a.as_str()));
    }

    // --- ClientAssertion ---

    /// The assertion is a bearer credential while it lives: Debug never prints it.
    #[test]
    fn a_client_assertion_is_redacted_in_debug_output() {
        let a = sign(&ec_key(None), &header("ES256", None), &claims());
        assert_eq!(format!("{a:?}"), "ClientAssertion([redacted])");
        assert!(!format!("{a:?}").contains(a.as_str()));
        assert_eq!(ClientAssertion::new("x").clone().as_str(), "x");
    }

    /// RFC 7523 §3, RFC 7521 §4.2: with no client_id in the request, the client is found by the
    /// assertion's sub, read unverified; garbage gives None.
    #[test]
    fn unverified_subject_reads_sub_without_verifying() {
        let a = sign(&ec_key(None), &header("ES256", None), &claims());
        assert_eq!(a.unverified_subject().as_deref(), Some(CLIENT));
        let forged = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"none"}"#),
            b64(r#"{"sub":"c9"}"#)
        );
        assert_eq!(
            ClientAssertion::new(forged).unverified_subject().as_deref(),
            Some("c9")
        );
        let h = b64(r#"{"alg":"ES256"}"#);
        for bad in [
            String::new(),
            "garbage".into(),
            "a.b.c".into(),
            format!("{h}.{}.c2ln", b64(r#"{"sub":7}"#)),
            format!("{h}.{}.c2ln", b64(r#"{"iss":"c1"}"#)),
            format!("{h}.{}.c2ln", b64("[]")),
            format!("{h}.{}.c2ln.x", b64(r#"{"sub":"c1"}"#)),
        ] {
            assert_eq!(
                ClientAssertion::new(bad.clone()).unverified_subject(),
                None,
                "{bad}"
            );
        }
    }

    // --- ClientKeys ---

    fn jwks(keys: &[Value]) -> String {
        json!({ "keys": keys }).to_string()
    }

    #[track_caller]
    fn keys_refused(json: &str, needle: &str) {
        let e = ClientKeys::from_jwks_json(json).expect_err("the JWKS should be refused");
        assert!(e.to_string().contains(needle), "{e:?} lacks {needle:?}");
    }

    /// RFC 7517 §5: a JWKS of public keys of the accepted types is registered, compacted; its
    /// kids and count are reported.
    #[test]
    fn a_jwks_of_public_keys_is_accepted() {
        let ec = ec_key(Some("a"))
            .with("alg", json!("ES256"))
            .with("use", json!("sig"));
        let pretty = serde_json::to_string_pretty(&json!({
            "keys": [ec.jwk, ed_key(None).jwk, rsa_key(Some("r")).with("alg", json!("RS256")).jwk],
            "other": 1,
        }))
        .unwrap();
        let set = ClientKeys::from_jwks_json(&pretty).unwrap();
        assert_eq!(set.len(), 3);
        assert!(!set.is_empty());
        assert_eq!(set.kids(), vec![Some("a".into()), None, Some("r".into())]);
        assert!(!set.as_json().contains('\n') && !set.as_json().contains("other"));
        assert_eq!(ClientKeys::from_jwks_json(set.as_json()).unwrap(), set);
    }

    /// RFC 7517 §5, §4: not JSON, no keys array, no keys, or more than MAX_KEYS are refused.
    #[test]
    fn a_jwks_must_be_json_with_1_to_max_keys_keys() {
        keys_refused("not json", "not valid JSON");
        keys_refused("", "not valid JSON");
        keys_refused("[]", "\"keys\" array");
        keys_refused(r#"{"keys":{}}"#, "\"keys\" array");
        keys_refused(&ec_key(None).jwk.to_string(), "\"keys\" array");
        keys_refused(&jwks(&[]), "1 to 10 keys; it has 0");
        let one = ed_key(None).jwk;
        let eleven = vec![one.clone(); MAX_KEYS + 1];
        keys_refused(&jwks(&eleven), "1 to 10 keys; it has 11");
        assert_eq!(
            ClientKeys::from_jwks_json(&jwks(&vec![one; MAX_KEYS]))
                .unwrap()
                .len(),
            MAX_KEYS
        );
        keys_refused(&" ".repeat(MAX_JWKS_LEN + 1), "longer than");
        keys_refused(&jwks(&[json!("k")]), "keys[0]: is not a JSON object");
    }

    /// RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2: a JWK with private members is a private key:
    /// refused, naming the key and the members.
    #[test]
    fn a_private_key_is_refused() {
        let ec = ec_key(Some("e1")).with("d", json!(b64([1u8; 32])));
        keys_refused(
            &jwks(&[ed_key(None).jwk, ec.jwk]),
            "keys[1] (kid \"e1\"): is a private key (it has d)",
        );
        let mut rsa = rsa_key(None).jwk;
        for m in ["p", "q", "dp", "dq", "qi"] {
            rsa[m] = json!("AQAB");
        }
        keys_refused(
            &jwks(&[rsa]),
            "keys[0]: is a private key (it has p, q, dp, dq, qi)",
        );
        let ed = ed_key(None).with("d", json!(b64([2u8; 32])));
        keys_refused(&jwks(&[ed.jwk]), "private key");
    }

    /// RFC 7518 §6.4, RFC 8725 §3.1: a symmetric (oct) key is refused: it would make HMAC
    /// possible, and it is a secret.
    #[test]
    fn an_oct_key_is_refused() {
        let oct = json!({"kty": "oct", "k": b64(b"secret"), "kid": "h"});
        keys_refused(
            &jwks(&[oct]),
            "keys[0] (kid \"h\"): is a symmetric (oct) key",
        );
        keys_refused(&jwks(&[json!({"kty": "oct"})]), "symmetric");
    }

    /// RFC 7518 §6.2.1.1, RFC 8037 §2: only P-256 EC keys and Ed25519 OKP keys; a P-384 key, an
    /// X25519 key and an unknown kty are refused.
    #[test]
    fn curves_and_key_types_not_accepted_are_refused() {
        let p384 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        let pt = p384.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-384", "x": b64(&pt[1..49]), "y": b64(&pt[49..97])});
        keys_refused(
            &jwks(&[jwk]),
            "keys[0]: curve P-384 is not accepted: EC keys must be P-256",
        );
        let x25519 = ed_key(None).with("crv", json!("X25519"));
        keys_refused(&jwks(&[x25519.jwk]), "curve X25519 is not accepted");
        keys_refused(
            &jwks(&[json!({"kty": "EC", "x": "AA", "y": "AA"})]),
            "curve (none)",
        );
        keys_refused(
            &jwks(&[json!({"kty": "AKP"})]),
            "key type AKP is not accepted",
        );
        keys_refused(&jwks(&[json!({"n": "AQAB"})]), "kty is required");
        let short = ec_key(None).with("x", json!(b64([1u8; 31])));
        keys_refused(&jwks(&[short.jwk]), "32 bytes");
        let no_y = ec_key(None).with("y", json!(null));
        keys_refused(&jwks(&[no_y.jwk]), "y is required");
        let bad_b64 = ed_key(None).with("x", json!("a+b/"));
        keys_refused(&jwks(&[bad_b64.jwk]), "x is not base64url");
    }

    /// RFC 7518 §3.3, §3.5: an RSA modulus under 2048 bits is refused (and one over 8192, which
    /// the verifier would not take), as is a bogus exponent.
    #[test]
    fn a_small_rsa_key_is_refused() {
        let mut n1024 = vec![0xffu8; 128];
        n1024[0] = 0xc1;
        let small = json!({"kty": "RSA", "n": b64(&n1024), "e": "AQAB", "kid": "old"});
        keys_refused(
            &jwks(&[small]),
            "keys[0] (kid \"old\"): the RSA modulus has 1024 bits",
        );
        let mut n2047 = vec![0xffu8; 256];
        n2047[0] = 0x7f;
        keys_refused(
            &jwks(&[json!({"kty": "RSA", "n": b64(&n2047), "e": "AQAB"})]),
            "2047 bits",
        );
        let padded = [vec![0u8; 2], vec![0x7fu8; 255]].concat();
        keys_refused(
            &jwks(&[json!({"kty": "RSA", "n": b64(&padded), "e": "AQAB"})]),
            "2039 bits",
        );
        let huge = vec![0xffu8; 1025];
        keys_refused(
            &jwks(&[json!({"kty": "RSA", "n": b64(&huge), "e": "AQAB"})]),
            "8200 bits",
        );
        for e in [b64([1u8]), b64([2u8]), String::new(), b64([0u8])] {
            let k = rsa_key(None).with("e", json!(e));
            keys_refused(&jwks(&[k.jwk]), "e is not a valid RSA public exponent");
        }
        assert_eq!(bit_length(&[0, 0, 1]), 1);
        assert_eq!(bit_length(&[]), 0);
    }

    /// RFC 7517 §4.4, §4.2: a key's alg, if given, is an accepted one that fits its type; its
    /// use, if given, is sig.
    #[test]
    fn a_key_alg_or_use_that_does_not_fit_is_refused() {
        keys_refused(
            &jwks(&[ec_key(None).with("alg", json!("RS256")).jwk]),
            "alg RS256 does not fit the key type EC",
        );
        keys_refused(
            &jwks(&[rsa_key(None).with("alg", json!("EdDSA")).jwk]),
            "does not fit",
        );
        keys_refused(
            &jwks(&[ec_key(None).with("alg", json!("ES384")).jwk]),
            "alg must be one of ES256, EdDSA, PS256, RS256",
        );
        keys_refused(
            &jwks(&[rsa_key(None).with("alg", json!("RSA-OAEP")).jwk]),
            "alg must be one of",
        );
        keys_refused(
            &jwks(&[ed_key(None).with("use", json!("enc")).jwk]),
            "use must be \"sig\"",
        );
        keys_refused(
            &jwks(&[ed_key(None).with("kid", json!("")).jwk]),
            "kid must be a non-empty string",
        );
        keys_refused(
            &jwks(&[ed_key(None).with("kid", json!(3)).jwk]),
            "keys[0]: kid must be",
        );
    }

    /// RFC 7517 §4.5: kids tell keys apart, so two keys with one kid are refused.
    #[test]
    fn duplicate_kids_are_refused() {
        let json = jwks(&[
            ec_key(Some("k")).jwk,
            ed_key(None).jwk,
            ed_key(Some("k")).jwk,
        ]);
        assert_eq!(
            ClientKeys::from_jwks_json(&json),
            Err(KeysError::DuplicateKid("k".into()))
        );
        keys_refused(&json, "kid \"k\" is used by more than one key");
        assert!(ClientKeys::from_jwks_json(&jwks(&[ec_key(None).jwk, ed_key(None).jwk])).is_ok());
    }

    /// A key set is one string attribute of the client item: it serialises as the JWKS JSON in
    /// a JSON string, and deserialising checks it again.
    #[test]
    fn client_keys_serialise_as_one_json_string() {
        let set = keys(&[&ec_key(Some("a")), &rsa_key(None)]);
        let v = serde_json::to_value(&set).unwrap();
        assert_eq!(v, Value::String(set.as_json().to_string()));
        let back: ClientKeys = serde_json::from_value(v).unwrap();
        assert_eq!(back, set);
        let private = jwks(&[ec_key(None).with("d", json!("AA")).jwk]);
        assert!(serde_json::from_value::<ClientKeys>(Value::String(private)).is_err());
        assert!(serde_json::from_value::<ClientKeys>(json!({"keys": []})).is_err());
        assert_eq!(String::from(set.clone()), set.as_json());
    }

    // --- no panic ---

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(64),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// The key sets the property tests verify against: one of each type, kid and none.
    fn all_keys() -> &'static (ClientKeys, ClientKeys) {
        static SETS: OnceLock<(ClientKeys, ClientKeys)> = OnceLock::new();
        SETS.get_or_init(|| {
            (
                keys(&[&ec_key(Some("k1")), &ed_key(None)]),
                keys(&[&rsa_key(Some("k2"))]),
            )
        })
    }

    #[track_caller]
    fn well_formed(r: Result<VerifiedAssertion, OAuthError>) -> Result<(), TestCaseError> {
        let e = match r {
            Ok(_) => return Err(TestCaseError::fail("an unsigned input verified")),
            Err(e) => e,
        };
        prop_assert_eq!(e.code, ErrorCode::InvalidClient);
        prop_assert!(e.description.len() <= 160 + ECHO_LIMIT, "{}", e.description);
        Ok(())
    }

    fn json_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("ES256"),
                Just("none"),
                Just("HS256"),
                Just("RS256"),
                Just(CLIENT),
                Just(TOKEN_URL),
                Just("k1")
            ]
            .prop_map(Value::from),
            Just(json!([TOKEN_URL, 1])),
        ]
    }

    fn json_object() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("alg"),
            Just("kid"),
            Just("typ"),
            Just("crit"),
            Just("iss"),
            Just("sub"),
            Just("aud"),
            Just("exp"),
            Just("nbf"),
            Just("iat"),
            Just("jti"),
            Just("x"),
        ];
        proptest::collection::vec((name, json_value()), 0..8).prop_map(|pairs| {
            let mut m = Map::new();
            for (k, v) in pairs {
                m.insert(k.to_string(), v);
            }
            Value::Object(m).to_string()
        })
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            json_object().prop_map(b64),
            proptest::collection::vec(any::<u8>(), 0..80).prop_map(b64),
            "[A-Za-z0-9_=+/.-]{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(config())]

        /// RFC 7523 §3 rule 10: any string is refused as invalid_client with a short
        /// description, never a panic; unverified_subject never panics.
        #[test]
        fn verify_and_unverified_subject_never_panic_on_any_string(s in ".{0,300}") {
            let (a, b) = all_keys();
            let assertion = ClientAssertion::new(s);
            let _ = assertion.unverified_subject();
            well_formed(check(&assertion, &[a, b]))?;
        }

        /// The same for strings shaped like JWTs: three segments of JSON objects with odd claims
        /// and headers, arbitrary signatures.
        #[test]
        fn verify_never_panics_on_jwt_shaped_input(h in segment(), p in segment(), s in segment(), extra in proptest::option::of(segment())) {
            let (a, b) = all_keys();
            let mut token = format!("{h}.{p}.{s}");
            if let Some(x) = extra {
                token.push('.');
                token.push_str(&x);
            }
            let assertion = ClientAssertion::new(token);
            let _ = assertion.unverified_subject();
            well_formed(check(&assertion, &[a, b]))?;
        }

        /// Arbitrary JWKS-shaped input to ClientKeys is refused or accepted, never a panic.
        #[test]
        fn client_keys_never_panic(keys in proptest::collection::vec(json_object(), 0..3), raw in ".{0,64}") {
            let list: Vec<Value> = keys.iter().filter_map(|k| serde_json::from_str(k).ok()).collect();
            let _ = ClientKeys::from_jwks_json(&jwks(&list));
            let _ = ClientKeys::from_jwks_json(&raw);
        }
    }
}
