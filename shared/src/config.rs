//! Configuration, read once per cold start from the environment. Bad values fail fast with a
//! message naming the variable.
use crate::scope::{ScopeCatalog, ScopeDef};
use crate::store::Tables;
use url::Url;

#[derive(Debug, Clone)]
pub struct Config {
    /// The public base URL (RFC 8414 `issuer`; RFC 9207 `iss`), without a trailing slash.
    pub issuer: String,
    pub tables: Tables,
    /// The Secrets Manager secret holding the keys (authorize only).
    pub secret_id: Option<String>,
    /// Where users without a session are sent, with `return_to` (authorize only).
    pub login_url: Option<String>,
    pub session_cookie: String,
    pub scopes: ScopeCatalog,
    pub code_ttl: u64,
    pub access_ttl: u64,
    pub refresh_ttl: u64,
    /// How long the keys read from Secrets Manager are used before they are read again.
    pub key_cache_ttl: u64,
    /// How long a consent page may stay open before its form is refused.
    pub consent_ttl: u64,
    /// Local development only: serve a login form at `login_url`.
    pub dev_login: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut missing = Vec::new();
        let mut required = |k: &str| {
            get(k).unwrap_or_else(|| {
                missing.push(k.to_string());
                String::new()
            })
        };
        let issuer = required("PORTCULLIS_ISSUER");
        let clients = required("PORTCULLIS_CLIENTS_TABLE");
        let codes = required("PORTCULLIS_CODES_TABLE");
        let tokens = required("PORTCULLIS_TOKENS_TABLE");
        if !missing.is_empty() {
            return Err(ConfigError(format!(
                "missing environment variables: {}",
                missing.join(", ")
            )));
        }
        let issuer = issuer.trim_end_matches('/').to_string();
        let parsed = Url::parse(&issuer)
            .map_err(|e| ConfigError(format!("PORTCULLIS_ISSUER `{issuer}`: {e}")))?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(ConfigError(
                "PORTCULLIS_ISSUER must have no query or fragment (RFC 8414 §2)".into(),
            ));
        }
        let login_url = get("PORTCULLIS_LOGIN_URL");
        if let Some(l) = &login_url {
            Url::parse(l).map_err(|e| ConfigError(format!("PORTCULLIS_LOGIN_URL `{l}`: {e}")))?;
        }
        let number = |k: &str, default: u64| -> Result<u64, ConfigError> {
            match get(k) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError(format!(
                        "{k} must be a positive number of seconds, got `{v}`"
                    ))
                }),
            }
        };
        let scopes = match get("PORTCULLIS_SCOPES") {
            None => ScopeCatalog::default(),
            Some(raw) => {
                let defs: Vec<ScopeDef> = serde_json::from_str(&raw).map_err(|e| {
                    ConfigError(format!(
                        "PORTCULLIS_SCOPES must be a JSON array of {{\"name\", \"description\"}}: {e}"
                    ))
                })?;
                ScopeCatalog::new(defs)
                    .map_err(|e| ConfigError(format!("PORTCULLIS_SCOPES: {e}")))?
            }
        };
        Ok(Self {
            issuer,
            tables: Tables {
                clients,
                codes,
                tokens,
            },
            secret_id: get("PORTCULLIS_SECRET_ID"),
            login_url,
            session_cookie: get("PORTCULLIS_SESSION_COOKIE").unwrap_or_else(|| "session".into()),
            scopes,
            code_ttl: number("PORTCULLIS_CODE_TTL", 600)?,
            access_ttl: number("PORTCULLIS_ACCESS_TOKEN_TTL", 1800)?,
            refresh_ttl: number("PORTCULLIS_REFRESH_TOKEN_TTL", 30 * 24 * 3600)?,
            key_cache_ttl: number("PORTCULLIS_KEY_CACHE_TTL", 300)?,
            consent_ttl: number("PORTCULLIS_CONSENT_TTL", 900)?,
            dev_login: get("DEV_LOGIN").is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
        })
    }

    /// The authorization endpoint's public URL.
    pub fn authorize_url(&self) -> String {
        format!("{}/auth/oauth2/authorize", self.issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut m: HashMap<String, String> = [
            ("PORTCULLIS_ISSUER", "http://127.0.0.1:9000/"),
            ("PORTCULLIS_CLIENTS_TABLE", "c"),
            ("PORTCULLIS_CODES_TABLE", "k"),
            ("PORTCULLIS_TOKENS_TABLE", "t"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        for (a, b) in extra {
            m.insert(a.to_string(), b.to_string());
        }
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults_follow_calcom_lifetimes() {
        let c = Config::from_lookup(vars(&[])).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:9000");
        assert_eq!(
            (c.code_ttl, c.access_ttl, c.refresh_ttl),
            (600, 1800, 2_592_000)
        );
        assert_eq!(c.session_cookie, "session");
        assert!(!c.dev_login);
    }

    #[test]
    fn missing_variables_are_named() {
        let e = Config::from_lookup(|_| None).unwrap_err().to_string();
        assert!(
            e.contains("PORTCULLIS_ISSUER") && e.contains("PORTCULLIS_TOKENS_TABLE"),
            "{e}"
        );
    }

    #[test]
    fn bad_numbers_and_scopes_are_refused_with_the_variable_name() {
        let e = Config::from_lookup(vars(&[("PORTCULLIS_CODE_TTL", "ten")])).unwrap_err();
        assert!(e.to_string().contains("PORTCULLIS_CODE_TTL"));
        let e = Config::from_lookup(vars(&[(
            "PORTCULLIS_SCOPES",
            "[{\"name\":\"a b\",\"description\":\"x\"}]",
        )]))
        .unwrap_err();
        assert!(e.to_string().contains("PORTCULLIS_SCOPES"));
        let c = Config::from_lookup(vars(&[(
            "PORTCULLIS_SCOPES",
            "[{\"name\":\"WRITE\",\"description\":\"Change things\"}]",
        )]))
        .unwrap();
        assert!(c.scopes.contains("WRITE") && !c.scopes.contains("READ_BOOKING"));
    }
}
