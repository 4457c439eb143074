//! How credentials look, and why a forged one costs nothing.
//!
//! Every authorization code, access token and refresh token ends in a *tag*: the first 128 bits
//! of an HMAC-SHA256, with a server key, over everything before it. A credential of the right
//! shape that this server did not issue fails its tag and is refused with no storage call, at
//! every endpoint. Access and refresh tokens also name their grant (and an access token its
//! client), so checking one is one read of the grant item (with its client), and revoking a
//! grant is one write.
//!
//! | credential | form | tag key |
//! | --- | --- | --- |
//! | code | `pc_ac_<256 random bits>.<tag>` | tag key |
//! | refresh token | `pc_rt_<grant>.<generation>.<secret>.<tag>` | tag key |
//! | access token | `pc_at_<client>.<grant>.<generation>.<secret>.<tag>` | access-tag key |
//!
//! The `<secret>` of a token is derived, not drawn: HMAC-SHA256 with the *mint* key over the
//! token's kind, client, grant and generation. A code exchange or refresh whose answer was lost
//! is answered, on its client's retry, with the very same tokens, and a thief who holds an old
//! refresh token cannot compute its successors. One key per purpose
//! ([`docs/security.md`](../../docs/security.md)): a product's API Lambda holds the access-tag
//! key only, so it can tell a forged access token from a genuine one but cannot mint or predict
//! either (the grant item stores only the SHA-256 of each live token's whole value); the mint
//! key is held by the two functions that issue tokens.
use crate::clock::Entropy;
use crate::ids::{ClientId, GrantId};
use crate::keyring::KeyRing;
use crate::secret::{AccessToken, AuthorizationCode, Key, RefreshToken, SECRET_BYTES};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Bytes of HMAC output kept in a tag: 128 bits, 22 base64url characters.
pub const TAG_BYTES: usize = 16;
const TAG_CHARS: usize = 22;
/// 256 bits in base64url.
const SECRET_CHARS: usize = 43;

const CODE_TAG: &[u8] = b"portcullis-code-tag-v1";
const REFRESH_TAG: &[u8] = b"portcullis-refresh-tag-v1";
const ACCESS_TAG: &[u8] = b"portcullis-access-tag-v1";
const MINT_ACCESS: &[u8] = b"portcullis-mint-access-v1";
const MINT_REFRESH: &[u8] = b"portcullis-mint-refresh-v1";

fn mac(key: &Key, label: &[u8], parts: &[&str]) -> [u8; 32] {
    let mut m = match Hmac::<Sha256>::new_from_slice(key.bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return [0; 32],
    };
    m.update(label);
    for p in parts {
        // Length-prefixed, so no two lists of parts give the same input.
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p.as_bytes());
    }
    m.finalize().into_bytes().into()
}

fn tag(key: &Key, label: &[u8], body: &str) -> String {
    URL_SAFE_NO_PAD.encode(&mac(key, label, &[body])[..TAG_BYTES])
}

/// Whether `tag` is `body`'s tag under any key of the ring (current first, then previous), in
/// constant time per key.
fn tag_ok(ring: &KeyRing, label: &[u8], body: &str, presented: &str) -> bool {
    presented.len() == TAG_CHARS
        && ring
            .keys()
            .any(|k| bool::from(tag(k, label, body).as_bytes().ct_eq(presented.as_bytes())))
}

/// `body.tag`, split at the last dot, when the tag has its length.
fn split_tag(value: &str) -> Option<(&str, &str)> {
    value
        .rsplit_once('.')
        .filter(|(_, t)| t.len() == TAG_CHARS && is_b64url(t))
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_secret(s: &str) -> bool {
    s.len() == SECRET_CHARS && is_b64url(s)
}

/// A generation: decimal, no sign, no leading zero, within `u32`.
fn parse_gen(s: &str) -> Option<u32> {
    let canonical = !s.is_empty()
        && s.len() <= 10
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

fn derive(mint: &Key, label: &[u8], parts: &[&str]) -> String {
    let out = mac(mint, label, parts);
    URL_SAFE_NO_PAD.encode(&out[..SECRET_BYTES])
}

/// What an access token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessParts {
    pub client_id: ClientId,
    pub grant_id: GrantId,
    pub generation: u32,
}

/// What a refresh token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshParts {
    pub grant_id: GrantId,
    pub generation: u32,
}

/// The keys of the functions that issue tokens (token and refresh).
#[derive(Debug, Clone, Copy)]
pub struct IssuingKeys<'a> {
    pub mint: &'a KeyRing,
    pub tag: &'a KeyRing,
    pub access_tag: &'a KeyRing,
}

impl AuthorizationCode {
    /// A fresh code: 256 random bits and their tag.
    pub fn generate_tagged(entropy: &dyn Entropy, tag_key: &KeyRing) -> Self {
        let body = crate::secret::generate(Self::PREFIX, entropy);
        let t = tag(tag_key.current(), CODE_TAG, &body);
        Self::new(format!("{body}.{t}"))
    }

    /// Whether this is a code this server issued (its shape and its tag): anything else is
    /// refused before any storage call.
    pub fn is_genuine(&self, tag_key: &KeyRing) -> bool {
        let Some((body, t)) = split_tag(self.secret()) else {
            return false;
        };
        body.strip_prefix(Self::PREFIX).is_some_and(is_secret) && tag_ok(tag_key, CODE_TAG, body, t)
    }
}

/// The access token of `grant`'s `generation`, for `client`.
pub fn mint_access(
    keys: IssuingKeys<'_>,
    client: &ClientId,
    grant: &GrantId,
    generation: u32,
) -> AccessToken {
    mint_access_with(
        keys.mint.current(),
        keys.access_tag,
        client,
        grant,
        generation,
    )
}

fn mint_access_with(
    mint: &Key,
    access_tag: &KeyRing,
    client: &ClientId,
    grant: &GrantId,
    generation: u32,
) -> AccessToken {
    let g = generation.to_string();
    let secret = derive(mint, MINT_ACCESS, &[client.as_str(), grant.as_str(), &g]);
    let body = format!(
        "{}{}.{}.{g}.{secret}",
        AccessToken::PREFIX,
        client.as_str(),
        grant.as_str()
    );
    let t = tag(access_tag.current(), ACCESS_TAG, &body);
    AccessToken::new(format!("{body}.{t}"))
}

/// The refresh token of `grant`'s `generation`.
pub fn mint_refresh(keys: IssuingKeys<'_>, grant: &GrantId, generation: u32) -> RefreshToken {
    mint_refresh_with(keys.mint.current(), keys.tag, grant, generation)
}

fn mint_refresh_with(
    mint: &Key,
    tag_key: &KeyRing,
    grant: &GrantId,
    generation: u32,
) -> RefreshToken {
    let g = generation.to_string();
    let secret = derive(mint, MINT_REFRESH, &[grant.as_str(), &g]);
    let body = format!("{}{}.{g}.{secret}", RefreshToken::PREFIX, grant.as_str());
    let t = tag(tag_key.current(), REFRESH_TAG, &body);
    RefreshToken::new(format!("{body}.{t}"))
}

/// Whether `presented` is the refresh token the mint key (current or previous) derives for the
/// grant and generation it names: how a retry of a refresh whose answer was lost is told apart
/// from a token made by someone who holds the tag key but not the mint key.
pub fn is_minted_refresh(mint: &KeyRing, presented: &RefreshToken, parts: &RefreshParts) -> bool {
    let Some(secret) = presented
        .secret()
        .rsplit_once('.')
        .and_then(|(body, _)| body.rsplit_once('.'))
        .map(|(_, s)| s)
    else {
        return false;
    };
    let g = parts.generation.to_string();
    mint.keys().any(|k| {
        let s = derive(k, MINT_REFRESH, &[parts.grant_id.as_str(), &g]);
        bool::from(s.as_bytes().ct_eq(secret.as_bytes()))
    })
}

/// The pair of `grant`'s `generation` whose refresh token hashes to `refresh_hash` (or, with no
/// refresh token, whose access token hashes to `access_hash`), as the current or the previous
/// mint key derived it: the answer a lost response carried, reproduced.
pub fn reproduce_pair(
    keys: IssuingKeys<'_>,
    client: &ClientId,
    grant: &GrantId,
    generation: u32,
    access_hash: &crate::secret::SecretHash,
) -> Option<(AccessToken, RefreshToken)> {
    keys.mint.keys().find_map(|k| {
        let access = mint_access_with(k, keys.access_tag, client, grant, generation);
        access
            .hash()
            .ct_eq(access_hash)
            .then(|| (access, mint_refresh_with(k, keys.tag, grant, generation)))
    })
}

/// An access token's parts, when it has our shape and its tag verifies with the access-tag key:
/// anything else is refused before any storage call.
pub fn parse_access(token: &AccessToken, access_tag: &KeyRing) -> Option<AccessParts> {
    let (body, t) = split_tag(token.secret())?;
    let rest = body.strip_prefix(AccessToken::PREFIX)?;
    let mut it = rest.split('.');
    let (client, grant, g, secret) = (it.next()?, it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || !is_secret(secret) {
        return None;
    }
    let client_id = ClientId::new(client);
    let grant_id = GrantId::new(grant);
    let generation = parse_gen(g)?;
    (client_id.is_well_formed()
        && is_grant_id(&grant_id)
        && tag_ok(access_tag, ACCESS_TAG, body, t))
    .then_some(AccessParts {
        client_id,
        grant_id,
        generation,
    })
}

/// A refresh token's parts, when it has our shape and its tag verifies with the tag key.
pub fn parse_refresh(token: &RefreshToken, tag_key: &KeyRing) -> Option<RefreshParts> {
    let (body, t) = split_tag(token.secret())?;
    let rest = body.strip_prefix(RefreshToken::PREFIX)?;
    let mut it = rest.split('.');
    let (grant, g, secret) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || !is_secret(secret) {
        return None;
    }
    let grant_id = GrantId::new(grant);
    let generation = parse_gen(g)?;
    (is_grant_id(&grant_id) && tag_ok(tag_key, REFRESH_TAG, body, t)).then_some(RefreshParts {
        grant_id,
        generation,
    })
}

/// The keys that check tokens without issuing them (revoke, introspect).
#[derive(Debug, Clone, Copy)]
pub struct CheckingKeys<'a> {
    pub tag: &'a KeyRing,
    pub access_tag: &'a KeyRing,
}

/// A presented token, told apart by its prefix and checked by its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Genuine {
    Access(AccessParts),
    Refresh(RefreshParts),
}

impl Genuine {
    pub fn grant_id(&self) -> &GrantId {
        match self {
            Self::Access(p) => &p.grant_id,
            Self::Refresh(p) => &p.grant_id,
        }
    }
}

/// The one place a token string is classified (RFC 7009 and RFC 7662 take any token): an
/// access or refresh token this server issued, or `None` (garbage, a code, an API key, a
/// forgery), decided without storage.
pub fn classify(token: &str, keys: CheckingKeys<'_>) -> Option<Genuine> {
    if token.starts_with(AccessToken::PREFIX) {
        parse_access(&AccessToken::new(token), keys.access_tag).map(Genuine::Access)
    } else if token.starts_with(RefreshToken::PREFIX) {
        parse_refresh(&RefreshToken::new(token), keys.tag).map(Genuine::Refresh)
    } else {
        None
    }
}

/// A grant id as [`crate::model::grant_id_for_code`] makes them: `g_` and 256 bits.
pub fn is_grant_id(id: &GrantId) -> bool {
    id.as_str().strip_prefix("g_").is_some_and(is_secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OsEntropy;

    fn ring(c: u8) -> KeyRing {
        KeyRing::new(Key::new(vec![c; 32]), None)
    }
    fn grant() -> GrantId {
        crate::model::grant_id_for_code(&crate::secret::SecretHash::of("pc_ac_x"))
    }

    /// Every credential carries a tag; a credential of the right shape without the server's
    /// tag is refused without storage (issue 16: forged credentials cost nothing).
    #[test]
    fn credentials_without_the_servers_tag_are_refused_without_storage() {
        let (tag_key, access_tag, mint) = (ring(1), ring(2), ring(3));
        let keys = IssuingKeys {
            mint: &mint,
            tag: &tag_key,
            access_tag: &access_tag,
        };
        let code = AuthorizationCode::generate_tagged(&OsEntropy, &tag_key);
        assert!(code.is_genuine(&tag_key));
        assert!(!code.is_genuine(&access_tag));
        let forged = AuthorizationCode::generate_tagged(&OsEntropy, &ring(9));
        assert!(!forged.is_genuine(&tag_key));
        let untagged = crate::secret::generate("pc_ac_", &OsEntropy);
        assert!(!AuthorizationCode::new(untagged).is_genuine(&tag_key));

        let client = ClientId::new("c1");
        let at = mint_access(keys, &client, &grant(), 3);
        let parts = parse_access(&at, &access_tag).unwrap();
        assert_eq!(
            (parts.client_id, parts.grant_id, parts.generation),
            (client.clone(), grant(), 3)
        );
        assert!(
            parse_access(&at, &tag_key).is_none(),
            "the refresh tag key does not verify access tokens"
        );
        let rt = mint_refresh(keys, &grant(), 3);
        assert_eq!(parse_refresh(&rt, &tag_key).map(|p| p.generation), Some(3));
        assert!(
            parse_refresh(&rt, &access_tag).is_none(),
            "a product's key cannot make refresh tokens"
        );
        // Changing any part breaks the tag.
        let tampered = at.secret().replacen(".3.", ".4.", 1);
        assert!(parse_access(&AccessToken::new(tampered), &access_tag).is_none());
        for bad in [
            "",
            "pc_at_",
            "pc_at_c1.g_x.0.a.b",
            "pc_rt_a.b",
            &format!("{}.", at.secret()),
        ] {
            assert!(
                parse_access(&AccessToken::new(bad), &access_tag).is_none(),
                "{bad}"
            );
            assert!(
                parse_refresh(&RefreshToken::new(bad), &tag_key).is_none(),
                "{bad}"
            );
        }
    }

    /// Token secrets are derived with the mint key: the same grant and generation give the
    /// same tokens (a retry gets the same answer), a different mint key different ones.
    #[test]
    fn tokens_are_reproducible_with_the_mint_key_and_only_with_it() {
        let (tag_key, access_tag) = (ring(1), ring(2));
        let m1 = ring(3);
        let m2 = ring(4);
        let k1 = IssuingKeys {
            mint: &m1,
            tag: &tag_key,
            access_tag: &access_tag,
        };
        let k2 = IssuingKeys {
            mint: &m2,
            tag: &tag_key,
            access_tag: &access_tag,
        };
        let c = ClientId::new("c1");
        assert!(mint_refresh(k1, &grant(), 1).ct_eq(&mint_refresh(k1, &grant(), 1)));
        assert!(!mint_refresh(k1, &grant(), 1).ct_eq(&mint_refresh(k1, &grant(), 2)));
        assert!(!mint_refresh(k1, &grant(), 1).ct_eq(&mint_refresh(k2, &grant(), 1)));
        assert!(!mint_access(k1, &c, &grant(), 1).ct_eq(&mint_access(k2, &c, &grant(), 1)));
        let rt = mint_refresh(k1, &grant(), 1);
        let parts = parse_refresh(&rt, &tag_key).unwrap();
        assert!(is_minted_refresh(&m1, &rt, &parts));
        assert!(
            !is_minted_refresh(&m2, &rt, &parts),
            "another mint key does not derive it"
        );
        let at = mint_access(k1, &c, &grant(), 1);
        let (a, r) = reproduce_pair(k1, &c, &grant(), 1, &at.hash()).unwrap();
        assert!(a.ct_eq(&at) && r.ct_eq(&rt));
        assert!(reproduce_pair(k2, &c, &grant(), 1, &at.hash()).is_none());
    }

    /// Rotation: tags made with the previous key still verify; new ones use the current key.
    #[test]
    fn a_previous_tag_key_still_verifies_during_a_rotation() {
        let old = ring(1);
        let rotated = KeyRing::new(Key::new(vec![7; 32]), Some(Key::new(vec![1; 32])));
        let code = AuthorizationCode::generate_tagged(&OsEntropy, &old);
        assert!(code.is_genuine(&rotated));
        let fresh = AuthorizationCode::generate_tagged(&OsEntropy, &rotated);
        assert!(!fresh.is_genuine(&old));
    }

    #[test]
    fn generations_are_canonical_decimals() {
        assert_eq!(parse_gen("0"), Some(0));
        assert_eq!(parse_gen("42"), Some(42));
        for bad in ["", "01", "+1", "-1", "4294967296", "1a"] {
            assert_eq!(parse_gen(bad), None, "{bad}");
        }
    }
}
