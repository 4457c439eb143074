//! Newtypes for every secret value: they never print in `Debug`, are compared in constant time
//! and are stored only as a SHA-256 hash.
use crate::clock::Entropy;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Bytes of entropy in every generated credential: 256 bits (RFC 6749 §10.10, RFC 9700 §4.5).
pub const SECRET_BYTES: usize = 32;

/// The stored form of a secret: base64url(SHA-256(secret)). A 256-bit random value needs no salt
/// or slow hash: it cannot be guessed, so its hash cannot be inverted by search. A hash is not a
/// secret (it is a table key), so it derives `Debug` and `PartialEq`; comparing a presented
/// secret with a stored one uses [`SecretHash::ct_eq`].
#[derive(Clone, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn of(secret: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn from_stored(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// Constant-time equality, for comparing a presented secret's hash with a stored one.
    pub fn ct_eq(&self, other: &SecretHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

/// Draws a fresh credential: a recognisable prefix (so secret scanners can find leaked ones)
/// followed by 256 random bits in base64url.
pub fn generate(prefix: &str, entropy: &dyn Entropy) -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    entropy.fill(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

macro_rules! secret_newtype {
    ($(#[$doc:meta])* $name:ident, $prefix:expr) => {
        secret_newtype!(@common $(#[$doc])* $name, $prefix);

        impl $name {
            /// A fresh random value.
            pub fn generate(entropy: &dyn Entropy) -> Self {
                Self(generate(Self::PREFIX, entropy))
            }
            /// Whether the value has the shape of one we generate: the prefix, then 256 bits in
            /// base64url (43 characters). Anything else is refused before any storage call.
            pub fn is_well_formed(&self) -> bool {
                self.0.strip_prefix(Self::PREFIX).is_some_and(is_random_body)
            }
        }
    };
    (@common $(#[$doc:meta])* $name:ident, $prefix:expr) => {
        $(#[$doc])*
        ///
        /// No `PartialEq`: compare with [`Self::ct_eq`], in constant time.
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            /// The prefix every generated value starts with.
            pub const PREFIX: &'static str = $prefix;

            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The secret itself: only for sending to its owner, never for logs or storage.
            pub fn secret(&self) -> &str {
                &self.0
            }
            pub fn hash(&self) -> SecretHash {
                SecretHash::of(&self.0)
            }
            /// Constant-time equality.
            pub fn ct_eq(&self, other: &Self) -> bool {
                ct_eq_str(&self.0, &other.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

/// 256 random bits in base64url without padding: 43 characters of `[A-Za-z0-9_-]`.
fn is_random_body(body: &str) -> bool {
    body.len() == 43
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

secret_newtype!(@common
    /// An authorization code (RFC 6749 §4.1.2): `pc_ac_<256 random bits>.<tag>`
    /// ([`crate::codec`]).
    AuthorizationCode,
    "pc_ac_"
);
secret_newtype!(@common
    /// A bearer access token (RFC 6750): `pc_at_<client>.<grant>.<generation>.<secret>.<tag>`
    /// ([`crate::codec`]). It names its client and grant, so a resource server checks it with
    /// one read of the grant and the client's standing; the tag makes a forged one free to
    /// refuse.
    AccessToken,
    "pc_at_"
);
secret_newtype!(@common
    /// A refresh token (RFC 6749 §1.5): `pc_rt_<grant>.<generation>.<secret>.<tag>`
    /// ([`crate::codec`]).
    RefreshToken,
    "pc_rt_"
);
secret_newtype!(
    /// An API key: a long-lived credential for the product's own APIs, issued by an operator to
    /// one user (`portcullis apikey create`). Its prefix tells it apart from an access token, so
    /// the OAuth endpoints refuse it before any storage call.
    ApiKey,
    "pc_ak_"
);
secret_newtype!(
    /// A confidential client's secret (RFC 6749 §2.3.1).
    ClientSecret,
    "pc_cs_"
);
secret_newtype!(
    /// An initial access token (RFC 7591 §3): lets its bearer register clients at the dynamic
    /// registration endpoint (`portcullis registration-token create`); stored as a hash only.
    InitialAccessToken,
    "pc_iat_"
);
secret_newtype!(
    /// A PKCE code verifier (RFC 7636 §4.1).
    CodeVerifier,
    ""
);
secret_newtype!(
    /// The host application's session token (a JWT from the session cookie).
    SessionToken,
    ""
);

/// Tokens serialise as the secret itself, for the token response that hands them to their owner
/// (RFC 6749 §5.1). No other secret type is `Serialize`, so none can end up in a logged or stored
/// structure by accident.
macro_rules! serialize_secret {
    ($($name:ident),*) => {$(
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    )*};
}
serialize_secret!(AccessToken, RefreshToken);

/// Key material (HMAC keys from Secrets Manager).
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl Key {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Constant-time string comparison.
pub fn ct_eq_str(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OsEntropy;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let token = AccessToken::new("pc_at_supersecret");
        assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
        assert_eq!(format!("{:?}", Key::new(b"k".to_vec())), "Key([redacted])");
    }

    /// RFC 6749 §10.10: credentials carry at least 128 bits; we use 256.
    #[test]
    fn generated_credentials_carry_256_random_bits_behind_their_prefix() {
        let a = ClientSecret::generate(&OsEntropy);
        let b = ClientSecret::generate(&OsEntropy);
        assert!(a.secret().starts_with("pc_cs_"));
        let body = &a.secret()["pc_cs_".len()..];
        assert_eq!(URL_SAFE_NO_PAD.decode(body).map(|v| v.len()).ok(), Some(32));
        assert!(!a.ct_eq(&b));
        assert!(a.is_well_formed());
        assert!(!ClientSecret::new("pc_cs_short").is_well_formed());
        assert!(!ApiKey::new(ClientSecret::generate(&OsEntropy).secret()).is_well_formed());
    }

    /// An API key carries 256 bits behind a prefix no other credential uses.
    #[test]
    fn api_keys_have_their_own_prefix_and_256_bits() {
        let k = ApiKey::generate(&OsEntropy);
        assert!(k.secret().starts_with("pc_ak_") && k.is_well_formed());
        let body = &k.secret()["pc_ak_".len()..];
        assert_eq!(URL_SAFE_NO_PAD.decode(body).map(|v| v.len()).ok(), Some(32));
        for other in [
            AccessToken::PREFIX,
            RefreshToken::PREFIX,
            AuthorizationCode::PREFIX,
            ClientSecret::PREFIX,
        ] {
            assert_ne!(other, ApiKey::PREFIX);
        }
        assert_eq!(format!("{k:?}"), "ApiKey([redacted])");
    }

    #[test]
    fn hashes_are_stable_and_do_not_contain_the_secret() {
        let code = AuthorizationCode::new("pc_ac_abc");
        assert_eq!(code.hash(), SecretHash::of("pc_ac_abc"));
        assert!(!code.hash().as_str().contains("abc"));
        assert!(code.hash().ct_eq(&SecretHash::of("pc_ac_abc")));
        assert!(!code.hash().ct_eq(&SecretHash::of("pc_ac_abd")));
    }
}
