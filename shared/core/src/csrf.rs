//! CSRF tokens for the consent form: an HMAC over the session and the exact authorization
//! request, with the time it was issued (RFC 6749 §10.12, RFC 9700 §4.7).
//!
//! Bound to the session, a token lifted from one user's page is useless in another's browser;
//! bound to the request, it cannot approve different scopes, another client or another redirect.
use crate::secret::Key;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a consent decision is bound to.
#[derive(Debug, Clone, Copy)]
pub struct CsrfBinding<'a> {
    /// The raw session token (so a new login invalidates old forms).
    pub session: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: &'a str,
    pub code_challenge: &'a str,
}

fn mac(key: &Key, binding: &CsrfBinding<'_>, issued_at: u64) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key.bytes()).ok()?;
    mac.update(b"portcullis-consent-v1");
    mac.update(&issued_at.to_be_bytes());
    // Length-prefixed fields: no two different bindings produce the same input.
    for field in [
        binding.session,
        binding.client_id,
        binding.redirect_uri,
        binding.scope,
        binding.state,
        binding.code_challenge,
    ] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field.as_bytes());
    }
    Some(mac)
}

/// Issues a token: base64url(issued_at ‖ HMAC-SHA256).
pub fn issue_csrf(key: &Key, binding: &CsrfBinding<'_>, now: u64) -> String {
    let tag = mac(key, binding, now)
        .map(|m| m.finalize().into_bytes().to_vec())
        .unwrap_or_default();
    let mut raw = now.to_be_bytes().to_vec();
    raw.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Checks a token: the MAC (in constant time) and its age (at most `max_age` seconds).
pub fn verify_csrf(
    key: &Key,
    binding: &CsrfBinding<'_>,
    token: &str,
    now: u64,
    max_age: u64,
) -> bool {
    let Ok(raw) = URL_SAFE_NO_PAD.decode(token) else {
        return false;
    };
    if raw.len() != 8 + 32 {
        return false;
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&raw[..8]);
    let issued_at = u64::from_be_bytes(ts);
    if issued_at > now.saturating_add(60) || now.saturating_sub(issued_at) > max_age {
        return false;
    }
    match mac(key, binding, issued_at) {
        Some(m) => m.verify_slice(&raw[8..]).is_ok(),
        None => false,
    }
}

/// Checks a token against each of `keys` (the current CSRF key, then the previous one during a
/// rotation, so a consent page opened just before it can still be submitted).
pub fn verify_csrf_with<'k>(
    keys: impl IntoIterator<Item = &'k Key>,
    binding: &CsrfBinding<'_>,
    token: &str,
    now: u64,
    max_age: u64,
) -> bool {
    keys.into_iter()
        .any(|k| verify_csrf(k, binding, token, now, max_age))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> CsrfBinding<'static> {
        CsrfBinding {
            session: "sess",
            client_id: "c1",
            redirect_uri: "https://a.example/cb",
            scope: "READ_PROFILE",
            state: "xyz",
            code_challenge: "",
        }
    }

    #[test]
    fn csrf_token_verifies_for_the_same_session_and_request() {
        let k = Key::new(b"k".to_vec());
        let t = issue_csrf(&k, &binding(), 1000);
        assert!(verify_csrf(&k, &binding(), &t, 1100, 600));
    }

    #[test]
    fn csrf_token_is_rejected_for_another_session_or_changed_request() {
        let k = Key::new(b"k".to_vec());
        let t = issue_csrf(&k, &binding(), 1000);
        let mut other = binding();
        other.session = "other";
        assert!(!verify_csrf(&k, &other, &t, 1000, 600));
        let mut wider = binding();
        wider.scope = "READ_PROFILE READ_BOOKING";
        assert!(!verify_csrf(&k, &wider, &t, 1000, 600));
        let mut elsewhere = binding();
        elsewhere.redirect_uri = "https://evil.example/cb";
        assert!(!verify_csrf(&k, &elsewhere, &t, 1000, 600));
    }

    #[test]
    fn csrf_token_expires_and_tampering_fails() {
        let k = Key::new(b"k".to_vec());
        let t = issue_csrf(&k, &binding(), 1000);
        assert!(!verify_csrf(&k, &binding(), &t, 1601, 600));
        let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        raw[12] ^= 1;
        assert!(!verify_csrf(
            &k,
            &binding(),
            &URL_SAFE_NO_PAD.encode(raw),
            1000,
            600
        ));
        assert!(!verify_csrf(&k, &binding(), "not-base64!", 1000, 600));
        assert!(!verify_csrf(
            &Key::new(b"k2".to_vec()),
            &binding(),
            &t,
            1000,
            600
        ));
    }

    /// Rotation: a form signed with the previous CSRF key is accepted, one signed with neither
    /// key is not.
    #[test]
    fn csrf_token_signed_with_the_previous_key_verifies_during_a_rotation() {
        let (cur, prev) = (
            Key::new(b"current".to_vec()),
            Key::new(b"previous".to_vec()),
        );
        let t = issue_csrf(&prev, &binding(), 1000);
        assert!(verify_csrf_with([&cur, &prev], &binding(), &t, 1000, 600));
        assert!(!verify_csrf_with([&cur], &binding(), &t, 1000, 600));
        let other = issue_csrf(&Key::new(b"neither".to_vec()), &binding(), 1000);
        assert!(!verify_csrf_with(
            [&cur, &prev],
            &binding(),
            &other,
            1000,
            600
        ));
    }
}
