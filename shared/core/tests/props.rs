//! Property-based tests of every request parser in `portcullis-core`: arbitrary bytes, forms
//! and JSON with odd keys, arbitrary tokens. Each must answer without a panic, refuse with
//! `invalid_request`-shaped errors whose description never grows with the input, and accept
//! what a well-behaved client sends.
//!
//! `make test` runs a few cases of each (`PROPTEST_CASES`, default 64); `make fuzz` many more.
use portcullis_core::client_auth::ClientCredentials;
use portcullis_core::csrf::{verify_csrf_with, CsrfBinding};
use portcullis_core::error::{echo, OAuthError, ECHO_LIMIT};
use portcullis_core::grants::{RefreshGrant, TokenRequest};
use portcullis_core::introspect::IntrospectionRequest;
use portcullis_core::keyring::KeyRing;
use portcullis_core::keys::Keys;
use portcullis_core::params::Params;
use portcullis_core::revoke::RevocationRequest;
use portcullis_core::secret::Key;
use portcullis_core::session::verify_session_with;
use proptest::prelude::*;

/// The longest `error_description` any refusal may have: the fixed words of the longest message
/// plus one capped echo. A description that grows with the input fails this.
const MAX_DESCRIPTION: usize = 200 + ECHO_LIMIT;

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

/// RFC 6749 §5.2: the error is well formed: a short description in the allowed characters.
fn well_formed(e: &OAuthError) -> Result<(), TestCaseError> {
    prop_assert!(
        e.description.len() <= MAX_DESCRIPTION,
        "description of {} bytes",
        e.description.len()
    );
    prop_assert!(
        e.description
            .chars()
            .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')),
        "{:?}",
        e.description
    );
    Ok(())
}

/// Names a client might send, odd ones included: the real parameter names, long names,
/// names with brackets, dots, spaces and non-ASCII.
fn param_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("grant_type".to_string()),
        Just("code".to_string()),
        Just("client_id".to_string()),
        Just("client_secret".to_string()),
        Just("redirect_uri".to_string()),
        Just("code_verifier".to_string()),
        Just("refresh_token".to_string()),
        Just("token".to_string()),
        Just("token_type_hint".to_string()),
        Just("scope".to_string()),
        Just("state".to_string()),
        "\\PC{0,12}",
        "[a-z_\\[\\]. ]{1,8}",
        (1usize..3000).prop_map(|n| "n".repeat(n)),
    ]
}

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("authorization_code".to_string()),
        Just("refresh_token".to_string()),
        Just("pc_ac_".to_string() + &"A".repeat(43)),
        Just("https://app.example/cb".to_string()),
        "\\PC{0,40}",
        ".{0,20}",
        (1usize..5000).prop_map(|n| "v".repeat(n)),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((param_name(), param_value()), 0..8)
}

/// Every parser that turns `Params` into a typed request.
fn parse_all(p: &Params) -> Result<(), TestCaseError> {
    if let Err(e) = TokenRequest::parse(p) {
        well_formed(&e)?;
    }
    if let Err(e) = RefreshGrant::parse(p, None) {
        well_formed(&e)?;
    }
    if let Err(e) = RefreshGrant::parse(p, Some("pc_rt_x")) {
        well_formed(&e)?;
    }
    if let Err(e) = RevocationRequest::parse(p) {
        well_formed(&e)?;
    }
    if let Err(e) = IntrospectionRequest::parse(p) {
        well_formed(&e)?;
    }
    if let Err(e) = ClientCredentials::from_request(None, p) {
        well_formed(&e)?;
    }
    if let Err(e) = ClientCredentials::from_request(Some(("c".into(), "s".into())), p) {
        well_formed(&e)?;
    }
    let _ = portcullis_core::authorize::AuthorizeParams::from_params(p);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes as a form or query: no panic; a refusal is well formed; an accepted form
    /// has no control character anywhere.
    #[test]
    fn any_bytes_as_a_form_parse_or_are_refused_well_formed(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        match Params::parse_urlencoded(&raw) {
            Ok(p) => parse_all(&p)?,
            Err(e) => well_formed(&e)?,
        }
    }

    /// A form a client encodes correctly always parses, to what it sent (RFC 6749 §3.1: the
    /// first of repeated names kept and the repeat recorded; empty values omitted).
    #[test]
    fn a_correctly_encoded_form_round_trips(pairs in proptest::collection::vec(("[a-z_]{1,10}", "[ -~]{0,30}"), 0..8)) {
        let raw = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let p = Params::parse_urlencoded(raw.as_bytes()).unwrap();
        for (k, _) in &pairs {
            let first = pairs.iter().find(|(n, v)| n == k && !v.is_empty()).map(|(_, v)| v.as_str());
            prop_assert_eq!(p.get(k), first);
            let sent = pairs.iter().filter(|(n, v)| n == k && !v.is_empty()).count();
            prop_assert_eq!(p.is_repeated(k), sent > 1);
        }
        parse_all(&p)?;
    }

    /// Arbitrary bytes as a JSON body: no panic; a refusal is well formed.
    #[test]
    fn any_bytes_as_json_parse_or_are_refused_well_formed(raw in proptest::collection::vec(any::<u8>(), 0..1024)) {
        match Params::parse_json(&raw) {
            Ok(p) => parse_all(&p)?,
            Err(e) => well_formed(&e)?,
        }
    }

    /// RFC 6749 §3.2: a JSON object with odd and repeated keys records every repeat, as a form
    /// would; a non-string value is refused naming it, capped.
    #[test]
    fn json_objects_with_odd_keys_record_repeats_like_forms(pairs in pairs(), number in any::<bool>()) {
        let mut body = String::from("{");
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 { body.push(','); }
            body.push_str(&serde_json::to_string(k).unwrap());
            body.push(':');
            if number && i == 0 {
                body.push_str("12");
            } else {
                body.push_str(&serde_json::to_string(v).unwrap());
            }
        }
        body.push('}');
        match Params::parse_json(body.as_bytes()) {
            Ok(p) => {
                let clean = |s: &str| !s.chars().any(char::is_control);
                prop_assert!(!number || pairs.is_empty());
                for (k, _) in &pairs {
                    let sent = pairs.iter().filter(|(n, v)| n == k && !v.is_empty()).count();
                    prop_assert_eq!(p.is_repeated(k), sent > 1, "{}", k);
                    prop_assert!(clean(k));
                }
                parse_all(&p)?;
            }
            Err(e) => well_formed(&e)?,
        }
    }

    /// Every echo is capped and in the RFC 6749 §5.2 character set.
    #[test]
    fn every_echo_is_capped_and_printable(s in "\\PC{0,200}|.{0,200}") {
        let e = echo(&s);
        prop_assert!(e.len() <= ECHO_LIMIT);
        well_formed(&OAuthError::invalid_request(format!("parameter `{e}` was sent more than once")))?;
    }

    /// Arbitrary session tokens and CSRF tokens: no panic, never accepted.
    #[test]
    fn arbitrary_session_and_csrf_tokens_are_refused_without_a_panic(token in "\\PC{0,300}|[A-Za-z0-9_.-]{0,300}") {
        let key = Key::new(b"prop-session-key-with-at-least-32-bytes".to_vec());
        prop_assert!(verify_session_with(&token, [&key], 1_000, 30).is_err());
        let binding = CsrfBinding {
            session: "s",
            client_id: "c",
            redirect_uri: "https://app.example/cb",
            scope: "READ_PROFILE",
            state: "",
            code_challenge: "",
        };
        prop_assert!(!verify_csrf_with([&key], &binding, &token, 1_000, 900));
    }

    /// The keys secret: arbitrary JSON text never panics.
    #[test]
    fn an_arbitrary_keys_secret_never_panics(raw in "\\PC{0,200}") {
        let _ = Keys::from_secret_json(&raw);
    }

    /// A token secret's key ring: arbitrary JSON text never panics, and a refusal never
    /// repeats the secret's text (it may hold key material).
    #[test]
    fn an_arbitrary_key_ring_secret_never_panics_or_echoes_it(
        key in "[A-Za-z0-9]{0,80}",
        extra in "\\PC{0,40}",
    ) {
        for raw in [
            format!(r#"{{"key":"{key}"}}"#),
            format!(r#"{{"key":"{key}","previous_key":"{key}{extra}"}}"#),
            format!("{key}{extra}"),
        ] {
            if let Err(e) = KeyRing::from_secret_json(&raw) {
                let shown = e.to_string();
                prop_assert!(key.len() < 8 || !shown.contains(&key), "{shown}");
            }
        }
    }
}
