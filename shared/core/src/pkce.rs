//! Proof Key for Code Exchange (RFC 7636), S256 only (RFC 9700 §2.1.1, OAuth 2.1 §4.1.1).
use crate::error::OAuthError;
use crate::secret::CodeVerifier;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An S256 code challenge: BASE64URL(SHA256(code_verifier)), 43 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Reads `code_challenge` and `code_challenge_method` from an authorization request.
    ///
    /// RFC 7636 §4.3: an absent method means `plain`. `plain` is refused (RFC 9700 §2.1.1: it
    /// protects nothing once the request leaks), so is any method but `S256`, a method without a
    /// challenge, and a challenge that is not 43 base64url characters (§4.2).
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<Self>, OAuthError> {
        match (challenge, method) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(OAuthError::invalid_request(
                "code_challenge_method was sent without code_challenge",
            )),
            (Some(_), None) | (Some(_), Some("plain")) => Err(OAuthError::invalid_request(
                "code_challenge_method must be S256; plain is not supported",
            )),
            (Some(_), Some(m)) if m != "S256" => Err(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            )),
            (Some(c), Some(_)) => {
                if c.len() == 43 && c.bytes().all(is_base64url) {
                    Ok(Some(Self(c.to_string())))
                } else {
                    Err(OAuthError::invalid_request(
                        "code_challenge must be the 43-character base64url SHA-256 of the code_verifier",
                    ))
                }
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The S256 challenge of a verifier.
    pub fn s256(verifier: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())))
    }

    /// RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) must equal the challenge; compared in
    /// constant time.
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        Self::s256(verifier.secret())
            .0
            .as_bytes()
            .ct_eq(self.0.as_bytes())
            .into()
    }
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
pub fn parse_verifier(raw: &str) -> Result<CodeVerifier, OAuthError> {
    let ok = (43..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if ok {
        Ok(CodeVerifier::new(raw))
    } else {
        Err(OAuthError::invalid_grant(
            "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]",
        ))
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    /// RFC 7636 Appendix B test vector.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_the_rfc_7636_appendix_b_vector() {
        let c = CodeChallenge::from_request(Some(CHALLENGE), Some("S256"))
            .ok()
            .flatten();
        let c = c.map(|c| c.verify(&CodeVerifier::new(VERIFIER)));
        assert_eq!(c, Some(true));
        assert_eq!(CodeChallenge::s256(VERIFIER).as_str(), CHALLENGE);
    }

    #[test]
    fn wrong_verifier_does_not_match() {
        let c = CodeChallenge::s256(VERIFIER);
        assert!(!c.verify(&CodeVerifier::new("x".repeat(43))));
    }

    /// RFC 9700 §2.1.1: plain must not be used; RFC 7636 §4.3: absent method means plain.
    #[test]
    fn plain_method_is_invalid_request() {
        for method in [Some("plain"), None] {
            let e = CodeChallenge::from_request(Some(CHALLENGE), method).map_err(|e| e.code);
            assert_eq!(e, Err(ErrorCode::InvalidRequest));
        }
    }

    #[test]
    fn unknown_method_and_method_without_challenge_are_invalid_request() {
        assert!(CodeChallenge::from_request(Some(CHALLENGE), Some("S512")).is_err());
        assert!(CodeChallenge::from_request(None, Some("S256")).is_err());
        assert_eq!(CodeChallenge::from_request(None, None), Ok(None));
    }

    #[test]
    fn malformed_challenge_is_invalid_request() {
        assert!(CodeChallenge::from_request(Some("short"), Some("S256")).is_err());
        let bad = format!("{}=", &CHALLENGE[..42]);
        assert!(CodeChallenge::from_request(Some(&bad), Some("S256")).is_err());
    }

    /// RFC 7636 §4.1: 43 to 128 unreserved characters.
    #[test]
    fn verifier_must_be_43_to_128_unreserved_characters() {
        assert!(parse_verifier(VERIFIER).is_ok());
        assert!(parse_verifier(&"a".repeat(42)).is_err());
        assert!(parse_verifier(&"a".repeat(129)).is_err());
        assert!(parse_verifier(&format!("{}+", "a".repeat(43))).is_err());
        assert!(parse_verifier(&"~._-".repeat(11)).is_ok());
    }
}
