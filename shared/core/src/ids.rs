//! Newtypes for identifiers (in the style of the `oauth2` crate's `new_type!`): a client id, a
//! grant id, a user's subject and a redirect URI are all strings, and functions that take several
//! of them (revoke by user, by client) must not be able to take them in the wrong order.
//!
//! None of these is secret: they derive `Debug` and `PartialEq`. Secrets are in [`crate::secret`].
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_newtype!(
    /// A registered client's identifier (RFC 6749 §2.2).
    ClientId
);
impl ClientId {
    /// The longest client id accepted: far below DynamoDB's 2,048-byte key limit, so a
    /// malformed id never reaches the store.
    pub const MAX_LEN: usize = 64;

    /// Whether this can be a registered client's id: 1 to [`Self::MAX_LEN`] characters of
    /// `[A-Za-z0-9_-]` (the CLI issues 32 hex digits). Anything else is refused without a
    /// storage call. No `.`: an access token names its client before a dot.
    pub fn is_well_formed(&self) -> bool {
        !self.0.is_empty()
            && self.0.len() <= Self::MAX_LEN
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

impl Subject {
    /// The longest user id accepted from a session, in bytes: well below DynamoDB's 2,048-byte
    /// key limit (it keys the `by_user` index).
    pub const MAX_LEN: usize = 256;
}

id_newtype!(
    /// One consent: every token descended from it names it.
    GrantId
);
id_newtype!(
    /// The host application's identifier of a user (the session's `sub`).
    Subject
);
id_newtype!(
    /// A redirection endpoint URI (RFC 6749 §3.1.2), compared by exact string, but for the port
    /// of a loopback one ([`crate::redirect::redirect_uri_matches`], RFC 8252 §7.3).
    RedirectUri
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10: an identifier is checked for shape before it keys any storage call (DynamoDB
    /// refuses keys over 2,048 bytes with a ValidationException, which would be a 500).
    #[test]
    fn client_ids_have_a_shape_checked_before_any_storage_call() {
        assert!(ClientId::new("0123456789abcdef0123456789abcdef").is_well_formed());
        assert!(ClientId::new("c-off_1").is_well_formed());
        for bad in ["", "a.b", "a b", "é", "a/b"] {
            assert!(!ClientId::new(bad).is_well_formed(), "{bad:?}");
        }
        assert!(ClientId::new("a".repeat(64)).is_well_formed());
        assert!(!ClientId::new("a".repeat(65)).is_well_formed());
        assert!(!ClientId::new("a".repeat(3000)).is_well_formed());
    }

    #[test]
    fn identifiers_serialise_as_plain_strings_and_compare_with_str() {
        let id = ClientId::new("c1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"c1\"");
        assert_eq!(id, "c1");
        assert_eq!(&*id, "c1");
        let back: ClientId = serde_json::from_str("\"c1\"").unwrap();
        assert_eq!(back, id);
    }
}
