//! Request parameters, parsed once at the edge by the rules of RFC 6749 §3.1 and §3.2, for the
//! authorization endpoint (query or consent form) and the token endpoint (form or JSON) alike.
use crate::error::{echo, OAuthError};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::collections::HashMap;
use std::fmt;

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

    /// A query string or form body (`application/x-www-form-urlencoded`), decoded leniently
    /// (malformed escapes kept as sent, invalid UTF-8 replaced): for tests and values that are
    /// only shown. Requests go through [`Params::parse_urlencoded`].
    pub fn from_urlencoded(raw: &[u8]) -> Self {
        Self::from_pairs(url::form_urlencoded::parse(raw).into_owned())
    }

    /// A query string or form body (`application/x-www-form-urlencoded`, WHATWG URL §5.1),
    /// decoded strictly: a `%` not followed by two hex digits, bytes that are not UTF-8 once
    /// decoded, or a control character (NUL included) in a name or value is `invalid_request`
    /// naming the parameter (RFC 6749 §3.1, Appendix A: parameter values are printable).
    pub fn parse_urlencoded(raw: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs = Vec::new();
        for field in raw.split(|b| *b == b'&') {
            if field.is_empty() {
                continue;
            }
            let (name, value) = match field.iter().position(|b| *b == b'=') {
                Some(i) => (&field[..i], &field[i + 1..]),
                None => (field, &b""[..]),
            };
            let name = decode_component(name).map_err(|e| e.refuse(name))?;
            let value = decode_component(value).map_err(|e| e.refuse(name.as_bytes()))?;
            pairs.push((name, value));
        }
        Ok(Self::from_pairs(pairs))
    }

    /// A JSON body: one object whose values are strings (`null` counts as omitted). Repeated
    /// keys are recorded as repeated parameters, exactly as in a form (RFC 6749 §3.2: "Request
    /// and response parameters MUST NOT be included more than once"; serde's maps would keep the
    /// last silently). Numbers, booleans, arrays and objects are `invalid_request` rather than
    /// stringified: a client sending `"code": 123` has a bug worth telling it about.
    pub fn parse_json(raw: &[u8]) -> Result<Self, OAuthError> {
        let pairs = serde_json::from_slice::<JsonPairs>(raw)
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => OAuthError::invalid_request(
                    "the body must be a JSON object whose values are strings",
                ),
                _ => OAuthError::invalid_request("the body is not valid JSON"),
            })?
            .0;
        let mut out = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let value = match value {
                JsonValue::Null => continue,
                JsonValue::String(s) => s,
                JsonValue::Other => {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter `{}` must be a string",
                        echo(&name)
                    )))
                }
            };
            if has_control(&name) || has_control(&value) {
                return Err(ParamError::Control.refuse(name.as_bytes()));
            }
            out.push((name, value));
        }
        Ok(Self::from_pairs(out))
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

/// Why a form field could not be decoded.
#[derive(Debug, Clone, Copy)]
enum ParamError {
    Percent,
    Utf8,
    Control,
}

impl ParamError {
    /// `invalid_request` naming the parameter (capped and escaped by [`echo`]).
    fn refuse(self, name: &[u8]) -> OAuthError {
        let name = String::from_utf8_lossy(name);
        let why = match self {
            Self::Percent => "has a malformed percent-encoding",
            Self::Utf8 => "is not valid UTF-8",
            Self::Control => "contains a control character",
        };
        OAuthError::invalid_request(format!("parameter `{}` {why}", echo(&name)))
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// One name or value: `+` is a space, `%XX` a byte; the result must be UTF-8 without control
/// characters.
fn decode_component(raw: &[u8]) -> Result<String, ParamError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match (hex(raw.get(i + 1)), hex(raw.get(i + 2))) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(ParamError::Percent),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    let s = String::from_utf8(out).map_err(|_| ParamError::Utf8)?;
    if has_control(&s) {
        return Err(ParamError::Control);
    }
    Ok(s)
}

/// A JSON object's members in order, repeats kept (a map would drop them).
struct JsonPairs(Vec<(String, JsonValue)>);

/// A member's value: only strings (and `null`) are parameters.
enum JsonValue {
    Null,
    String(String),
    Other,
}

impl<'de> Deserialize<'de> for JsonPairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = JsonPairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    pairs.push((name, map.next_value::<JsonValue>()?));
                }
                Ok(JsonPairs(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Value;
        impl<'de> Visitor<'de> for Value {
            type Value = JsonValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<JsonValue, E> {
                Ok(JsonValue::Null)
            }
            fn visit_none<E>(self) -> Result<JsonValue, E> {
                Ok(JsonValue::Null)
            }
            fn visit_str<E>(self, v: &str) -> Result<JsonValue, E> {
                Ok(JsonValue::String(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<JsonValue, E> {
                Ok(JsonValue::String(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<JsonValue, E> {
                Ok(JsonValue::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<JsonValue, E> {
                Ok(JsonValue::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<JsonValue, E> {
                Ok(JsonValue::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<JsonValue, E> {
                Ok(JsonValue::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<JsonValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other)
            }
        }
        d.deserialize_any(Value)
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

    /// RFC 6749 §3.2: a JSON body's repeated key is a repeated parameter, as in a form.
    #[test]
    fn a_repeated_key_in_a_json_body_is_a_repeated_parameter() {
        let p = Params::parse_json(br#"{"code":"a","grant_type":"x","code":"b"}"#).unwrap();
        assert!(p.is_repeated("code"), "{p:?}");
        assert_eq!(p.get("code"), Some("a"));
        let form = Params::parse_urlencoded(b"code=a&grant_type=x&code=b").unwrap();
        assert_eq!(form.repeated(), p.repeated());
    }

    #[test]
    fn a_json_body_must_be_an_object_of_strings() {
        for bad in [
            &br#"[1,2]"#[..],
            br#""code""#,
            br#"{"code":1}"#,
            br#"{"code":true}"#,
            br#"{"code":{"a":"b"}}"#,
            br#"{"code":["a"]}"#,
            br#"{"code":"a""#,
            b"",
        ] {
            let e = Params::parse_json(bad).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidRequest);
        }
        let p = Params::parse_json(br#"{"code":"a","state":null}"#).unwrap();
        assert_eq!((p.get("code"), p.get("state")), (Some("a"), None));
    }

    /// Malformed percent-encoding, invalid UTF-8 and control characters are refused, naming
    /// the parameter.
    #[test]
    fn malformed_form_encoding_is_invalid_request_naming_the_parameter() {
        for (raw, name) in [
            (&b"code=%zz"[..], "code"),
            (b"code=abc%4", "code"),
            (b"state=%ff%fe", "state"),
            (b"state=a%00b", "state"),
            (b"redirect_uri=a\x01b", "redirect_uri"),
            (b"x%0a=1", "x%0a"),
        ] {
            let e = Params::parse_urlencoded(raw).unwrap_err();
            assert!(
                e.description.contains(&format!("`{name}`")),
                "{raw:?}: {}",
                e.description
            );
        }
        let p = Params::parse_urlencoded(b"a=b+c%20d&&e&f=%2B").unwrap();
        assert_eq!(
            (p.get("a"), p.get("e"), p.get("f")),
            (Some("b c d"), None, Some("+"))
        );
        let e = Params::parse_json(b"{\"code\":\"a\\u0000\"}").unwrap_err();
        assert!(e.description.contains("`code`"), "{}", e.description);
    }

    #[test]
    fn a_huge_parameter_name_is_echoed_capped() {
        let raw = format!("{}=%zz", "n".repeat(100 * 1024));
        let e = Params::parse_urlencoded(raw.as_bytes()).unwrap_err();
        assert!(e.description.len() < 140, "{}", e.description.len());
    }
}
