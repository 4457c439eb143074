//! The host application's session: an HS256 JWT in a cookie, signed with `session_key`.
//!
//! Only HS256 is accepted (RFC 8725 §3.1: pin the algorithm; `none` and algorithm confusion are
//! impossible here). This is a few lines over `hmac`, rather than a JWT crate, because one fixed
//! algorithm needs none of their key-type machinery (jsonwebtoken 10 would add RSA and EC stacks).
use crate::model::UserInfo;
use crate::secret::{Key, SessionToken};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The largest session token read; anything longer is refused before parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The signed-in user, as the host application vouches for them, and when that ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(flatten)]
    pub user: UserInfo,
    pub exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("session token is malformed")]
    Malformed,
    #[error("session token uses an algorithm other than HS256")]
    WrongAlgorithm,
    #[error("session token signature is invalid")]
    BadSignature,
    #[error("session token has expired")]
    Expired,
    #[error("session token is not valid yet")]
    NotYetValid,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: f64,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// The default clock-skew leeway on `exp` and `nbf`, seconds (`PORTCULLIS_CLOCK_SKEW_LEEWAY`).
pub const DEFAULT_LEEWAY: u64 = 30;

/// Verifies a session JWT with one key and no leeway: see [`verify_session_with`].
pub fn verify_session(token: &str, key: &Key, now: u64) -> Result<Session, SessionError> {
    verify_session_with(token, [key], now, 0)
}

/// Verifies a session JWT: HS256 only, signature checked in constant time against each of
/// `keys` in turn (the current key, then the previous one during a rotation: a session signed
/// before the rotation stays valid), `sub` and `exp` required (RFC 7519 §4.1.4: expired means
/// `exp` ≤ now), `nbf` honoured when present (§4.1.5). Both allow `leeway` seconds of clock skew
/// between the host application and this server ("Implementers MAY provide for some small
/// leeway, usually no more than a few minutes, to account for clock skew").
pub fn verify_session_with<'k>(
    token: &str,
    keys: impl IntoIterator<Item = &'k Key>,
    now: u64,
    leeway: u64,
) -> Result<Session, SessionError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(SessionError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SessionError::Malformed);
    };
    let header: Header = decode_json(h)?;
    if header.alg != "HS256" {
        return Err(SessionError::WrongAlgorithm);
    }
    // RFC 7515 §4.1.11: a `crit` extension we do not understand makes the token invalid.
    if header.crit.is_some() {
        return Err(SessionError::Malformed);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| SessionError::Malformed)?;
    let signed_by = |key: &Key| {
        HmacSha256::new_from_slice(key.bytes()).is_ok_and(|mut mac| {
            mac.update(h.as_bytes());
            mac.update(b".");
            mac.update(p.as_bytes());
            mac.verify_slice(&sig).is_ok()
        })
    };
    if !keys.into_iter().any(signed_by) {
        return Err(SessionError::BadSignature);
    }

    let claims: Claims = decode_json(p)?;
    // A `sub` becomes a DynamoDB index key (`by_user`): longer than [`Subject::MAX_LEN`] it is
    // refused here rather than by DynamoDB's 2,048-byte key limit later (a 500).
    if claims.sub.is_empty()
        || claims.sub.len() > crate::ids::Subject::MAX_LEN
        || !claims.exp.is_finite()
        || claims.exp < 0.0
    {
        return Err(SessionError::Malformed);
    }
    let exp = claims.exp as u64;
    if exp.saturating_add(leeway) <= now {
        return Err(SessionError::Expired);
    }
    if let Some(nbf) = claims.nbf {
        if nbf.is_finite() && nbf as u64 > now.saturating_add(leeway) {
            return Err(SessionError::NotYetValid);
        }
    }
    Ok(Session {
        user: UserInfo {
            sub: claims.sub.into(),
            username: claims.username,
            email: claims.email,
            name: claims.name,
        },
        exp,
    })
}

/// Signs a session JWT (the CLI's `session` command and the local dev login).
pub fn sign_session(session: &Session, key: &Key) -> SessionToken {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(session).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let sig = match HmacSha256::new_from_slice(key.bytes()) {
        Ok(mut mac) => {
            mac.update(signing_input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    SessionToken::new(format!("{signing_input}.{sig}"))
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, SessionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| SessionError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| SessionError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new(b"test-session-key-with-enough-bytes".to_vec())
    }

    fn session(exp: u64) -> Session {
        Session {
            user: UserInfo {
                sub: "user-1".into(),
                username: Some("ada".into()),
                email: None,
                name: Some("Ada Lovelace".into()),
            },
            exp,
        }
    }

    #[test]
    fn a_session_signed_with_the_key_verifies() {
        let t = sign_session(&session(2000), &key());
        assert_eq!(verify_session(t.secret(), &key(), 1000), Ok(session(2000)));
    }

    #[test]
    fn a_session_signed_with_another_key_is_rejected() {
        let t = sign_session(&session(2000), &Key::new(b"other".to_vec()));
        assert_eq!(
            verify_session(t.secret(), &key(), 1000),
            Err(SessionError::BadSignature)
        );
    }

    /// RFC 7519 §4.1.4: the token must not be accepted on or after `exp`.
    #[test]
    fn an_expired_session_is_rejected() {
        let t = sign_session(&session(1000), &key());
        assert_eq!(
            verify_session(t.secret(), &key(), 1000),
            Err(SessionError::Expired)
        );
    }

    /// RFC 8725 §3.1: the algorithm is pinned; `alg: none` and others are refused.
    #[test]
    fn a_session_with_alg_none_or_another_alg_is_rejected() {
        let t = sign_session(&session(2000), &key());
        let mut parts: Vec<&str> = t.secret().split('.').collect();
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        parts[0] = &none;
        let forged = format!("{}.{}.", parts[0], parts[1]);
        assert_eq!(
            verify_session(&forged, &key(), 1000),
            Err(SessionError::WrongAlgorithm)
        );
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512"}"#);
        let forged = format!("{}.{}.{}", hs512, parts[1], parts[2]);
        assert_eq!(
            verify_session(&forged, &key(), 1000),
            Err(SessionError::WrongAlgorithm)
        );
    }

    #[test]
    fn a_tampered_payload_is_rejected() {
        let t = sign_session(&session(2000), &key());
        let parts: Vec<&str> = t.secret().split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":99999}"#);
        let forged = format!("{}.{}.{}", parts[0], other, parts[2]);
        assert_eq!(
            verify_session(&forged, &key(), 1000),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn sub_and_exp_are_required() {
        // Issue 10: a `sub` too long for a DynamoDB key is refused here, not by DynamoDB.
        let long_sub = format!(r#"{{"sub":"{}","exp":2000}}"#, "u".repeat(257));
        for payload in [
            r#"{"exp":2000}"#,
            r#"{"sub":"u"}"#,
            r#"{"sub":"","exp":2000}"#,
            long_sub.as_str(),
        ] {
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
            let p = URL_SAFE_NO_PAD.encode(payload.as_bytes());
            let mut mac = HmacSha256::new_from_slice(key().bytes()).unwrap();
            mac.update(format!("{h}.{p}").as_bytes());
            let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            assert_eq!(
                verify_session(&format!("{h}.{p}.{s}"), &key(), 1000),
                Err(SessionError::Malformed),
                "{payload}"
            );
        }
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for junk in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "\u{0}",
            &"x".repeat(10_000),
        ] {
            assert!(verify_session(junk, &key(), 1000).is_err());
        }
    }

    /// Rotation: a session signed with the previous key verifies; one signed with neither the
    /// current nor the previous key does not.
    #[test]
    fn a_session_signed_with_the_previous_key_verifies_during_a_rotation() {
        let previous = Key::new(b"previous-session-key-with-enough-bytes".to_vec());
        let t = sign_session(&session(2000), &previous);
        assert_eq!(
            verify_session_with(t.secret(), [&key(), &previous], 1000, 0),
            Ok(session(2000))
        );
        assert_eq!(
            verify_session_with(t.secret(), [&key()], 1000, 0),
            Err(SessionError::BadSignature)
        );
        let other = sign_session(&session(2000), &Key::new(b"neither".to_vec()));
        assert_eq!(
            verify_session_with(other.secret(), [&key(), &previous], 1000, 0),
            Err(SessionError::BadSignature)
        );
    }

    /// RFC 7519 §4.1.4, §4.1.5: a small leeway for clock skew on `exp` and `nbf`, no more.
    #[test]
    fn exp_and_nbf_allow_the_clock_skew_leeway_and_no_more() {
        let t = sign_session(&session(1000), &key());
        assert!(verify_session_with(t.secret(), [&key()], 1029, 30).is_ok());
        assert_eq!(
            verify_session_with(t.secret(), [&key()], 1030, 30),
            Err(SessionError::Expired)
        );
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"u","exp":5000,"nbf":1030}"#);
        let mut mac = HmacSha256::new_from_slice(key().bytes()).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let token = format!("{h}.{p}.{s}");
        assert!(verify_session_with(&token, [&key()], 1000, 30).is_ok());
        assert_eq!(
            verify_session_with(&token, [&key()], 999, 30),
            Err(SessionError::NotYetValid)
        );
    }
}
