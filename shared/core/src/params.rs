//! Request parameters, parsed once at the edge by the rules of RFC 6749 §3.1 and §3.2, for the
//! authorization endpoint (query or consent form) and the token endpoint (form or JSON) alike.
use std::collections::HashMap;

/// Request parameters with repeated names noted.
///
/// RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted from
/// the request" (an empty value is dropped, so it is neither present nor a repetition), and
/// "Request and response parameters MUST NOT be included more than once" (the first value is
/// kept and the name is recorded in [`Params::repeated`], for the endpoint to refuse).
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut p = Self::default();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            match p.values.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    if !p.repeated.contains(e.key()) {
                        p.repeated.push(e.key().clone());
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        p
    }

    /// A query string or form body (`application/x-www-form-urlencoded`), decoded.
    pub fn from_urlencoded(raw: &[u8]) -> Self {
        Self::from_pairs(url::form_urlencoded::parse(raw).into_owned())
    }

    /// A parameter's value, if it was sent with one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// Every name sent more than once, in the order first seen.
    pub fn repeated(&self) -> &[String] {
        &self.repeated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6749 §3.1: empty values count as omitted; repeated names are recorded.
    #[test]
    fn empty_values_are_omitted_and_repeated_names_are_recorded() {
        let p = Params::from_urlencoded(b"a=1&b=&a=2&b=x&c=%2B");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x"));
        assert_eq!(p.get("c"), Some("+"));
        assert!(p.is_repeated("a") && !p.is_repeated("b"));
        assert_eq!(p.repeated(), ["a".to_string()]);
    }
}
