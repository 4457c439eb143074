//! Scopes (RFC 6749 §3.3): parsing, the configured catalogue and what a client may ask for.
use crate::error::OAuthError;
use serde::{Deserialize, Serialize};

/// One scope the server knows, with the plain words shown on the consent page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDef {
    pub name: String,
    pub description: String,
}

/// The scopes this deployment offers (configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCatalog(Vec<ScopeDef>);

impl Default for ScopeCatalog {
    /// Cal.com's scopes, so apps built for its contract work unchanged.
    fn default() -> Self {
        Self(vec![
            ScopeDef {
                name: "READ_BOOKING".into(),
                description: "See your bookings".into(),
            },
            ScopeDef {
                name: "READ_PROFILE".into(),
                description: "See your profile: your name, username and email address".into(),
            },
        ])
    }
}

impl ScopeCatalog {
    pub fn new(defs: Vec<ScopeDef>) -> Result<Self, String> {
        if defs.is_empty() {
            return Err("the scope catalogue is empty".into());
        }
        for d in &defs {
            if !is_scope_token(&d.name) {
                return Err(format!(
                    "`{}` is not a valid scope name (RFC 6749 §3.3)",
                    d.name
                ));
            }
        }
        Ok(Self(defs))
    }
    pub fn get(&self, name: &str) -> Option<&ScopeDef> {
        self.0.iter().find(|d| d.name == name)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|d| d.name.as_str())
    }
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Decides the scopes of an authorization request.
    ///
    /// RFC 6749 §3.3: an unknown scope, or one the client is not registered for, is
    /// `invalid_scope`. When the request names no scope, the client's registered scopes are the
    /// pre-defined default that §3.3 allows.
    pub fn resolve(
        &self,
        requested: Option<&str>,
        allowed: &[String],
    ) -> Result<Vec<String>, OAuthError> {
        let requested = requested.map(parse_scope).unwrap_or_default();
        if requested.is_empty() {
            if allowed.is_empty() {
                return Err(OAuthError::invalid_scope(
                    "no scope was requested and the client has no default scope",
                ));
            }
            return Ok(allowed.to_vec());
        }
        for s in &requested {
            if !self.contains(s) {
                return Err(OAuthError::invalid_scope(format!(
                    "unknown scope `{}`",
                    truncate(s)
                )));
            }
            if !allowed.iter().any(|a| a == s) {
                return Err(OAuthError::invalid_scope(format!(
                    "the client is not registered for scope `{s}`"
                )));
            }
        }
        Ok(requested)
    }
}

/// Splits a `scope` parameter. RFC 6749 §3.3 separates scopes with spaces; Cal.com split on
/// commas, so both are accepted. Duplicates are dropped, first occurrence order kept.
pub fn parse_scope(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in raw
        .split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// The scope string sent back to clients: space-separated (RFC 6749 §3.3, §5.1).
pub fn join_scope(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, and no comma here because a
/// comma separates scopes in Cal.com's form.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        && !s.contains(',')
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn allowed() -> Vec<String> {
        vec!["READ_BOOKING".into(), "READ_PROFILE".into()]
    }

    #[test]
    fn scope_accepts_spaces_and_commas_as_separators() {
        assert_eq!(parse_scope("READ_BOOKING READ_PROFILE"), allowed());
        assert_eq!(parse_scope("READ_BOOKING,READ_PROFILE"), allowed());
        assert_eq!(
            parse_scope(" READ_BOOKING , READ_PROFILE READ_BOOKING"),
            allowed()
        );
    }

    /// RFC 6749 §3.3: the server may fully or partially ignore a scope, or refuse with invalid_scope.
    #[test]
    fn unknown_scope_is_invalid_scope() {
        let err = ScopeCatalog::default().resolve(Some("ADMIN"), &allowed());
        assert_eq!(err.map_err(|e| e.code), Err(ErrorCode::InvalidScope));
    }

    #[test]
    fn scope_the_client_is_not_registered_for_is_invalid_scope() {
        let err =
            ScopeCatalog::default().resolve(Some("READ_BOOKING"), &["READ_PROFILE".to_string()]);
        assert_eq!(err.map_err(|e| e.code), Err(ErrorCode::InvalidScope));
    }

    /// RFC 6749 §3.3: an omitted scope gets a documented default: the client's registered scopes.
    #[test]
    fn omitted_scope_defaults_to_the_clients_registered_scopes() {
        assert_eq!(
            ScopeCatalog::default().resolve(None, &allowed()),
            Ok(allowed())
        );
        assert_eq!(
            ScopeCatalog::default().resolve(Some(" "), &allowed()),
            Ok(allowed())
        );
    }

    #[test]
    fn scope_names_must_be_rfc_scope_tokens() {
        assert!(is_scope_token("READ_PROFILE"));
        assert!(!is_scope_token("READ PROFILE"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token(""));
    }
}
