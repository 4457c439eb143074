//! What is stored. Every code and token item carries `expires_at` (epoch seconds, the tables' TTL
//! attribute); every token names its grant; nothing secret is stored except as a hash.
use crate::client_auth::RegisteredClient;
use crate::ids::{ClientId, GrantId, RedirectUri, Subject};
use crate::pkce::CodeChallenge;
use crate::secret::SecretHash;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A registered app (RFC 6749 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: ClientId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    /// The scopes this client may request.
    pub scopes: Vec<String>,
    /// A public client (RFC 6749 §2.1) has no secret and must use PKCE.
    #[serde(default)]
    pub public: bool,
    /// A first-party client whose requests need no consent page.
    #[serde(default)]
    pub trusted: bool,
    /// RFC 9700 §2.1.1: every client must use PKCE unless registered with
    /// `portcullis client create --pkce-optional` (confidential clients only: Cal.com-contract
    /// apps that send no `code_challenge`). Absent means `false`: PKCE required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pkce_optional: bool,
    /// A disabled client can neither start nor finish a flow.
    #[serde(default)]
    pub disabled: bool,
    /// When it was last disabled: its own tokens (client credentials) issued before then stay
    /// refused once it is enabled again ([`Client::accepts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<u64>,
    /// Hashes of the current secrets: two during a rotation's overlap (the new one first), one
    /// otherwise; none for a public client.
    #[serde(default)]
    pub secret_hashes: Vec<SecretHash>,
    /// During a rotation's overlap (`portcullis client rotate-secret --keep-old-for`): the old
    /// secret, still listed in `secret_hashes`, and when it stops working. Checked at use (see
    /// [`Client::registered`] and the issuing writes' client check), so nothing has to sweep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_retiring: Option<RetiringSecret>,
    /// RFC 9700 §4.14.2: each refresh replaces the refresh token. `false` only for confidential
    /// clients registered with `--no-refresh-rotation` (Cal.com's first version kept one refresh
    /// token forever). Items written before this field existed rotate.
    #[serde(default = "yes")]
    pub refresh_rotation: bool,
    /// A resource server (RFC 7662 §4): at the introspection endpoint it sees every client's
    /// tokens as they are, where any other client sees only its own as active. Set by
    /// `portcullis client create --resource-server`; items written before the field are not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub resource_server: bool,
    /// The grant types it may use (RFC 7591 §2 `grant_types`). Absent (items written before the
    /// field): the authorization code and refresh token grants. A client registered for
    /// `client_credentials` only (`--grant-type client_credentials`) has no redirect URIs and
    /// never sees a consent page.
    #[serde(
        default = "user_grant_types",
        skip_serializing_if = "is_user_grant_types"
    )]
    pub grant_types: Vec<GrantType>,
    /// private_key_jwt (RFC 7523 §2.2): the client's public keys, a JWKS (`--jwks-file`). A
    /// confidential client has a secret, keys, or both (during a migration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<crate::assertion::ClientKeys>,
    /// The keys `client update --jwks-file` replaced, still verifying until `until` (the same
    /// overlap model as a secret's rotation; checked at use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_retiring: Option<RetiringKeys>,
    /// Most token requests per minute (`--token-rate N`); `None`: not counted at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_rate: Option<u32>,
    pub created_at: u64,
    /// How the client came to be. Items written before the field are the operator's.
    #[serde(default, skip_serializing_if = "ClientOrigin::is_operator")]
    pub origin: ClientOrigin,
    /// The clients table's TTL (epoch seconds): only a dynamically registered client has one,
    /// pushed forward at use ([`Client::needs_touch`]), so one nobody uses goes away; an
    /// operator's client never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// RFC 7591 §2: what a dynamic registration said about the software beyond the fields
    /// above (shown to the operator, echoed in the registration response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software: Option<SoftwareMetadata>,
    /// A metadata-document client (`origin = metadata_document`): the document's URL, the
    /// `client_id` it sends, and until when the stored copy is used before it is fetched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentCopy>,
}

/// The stored copy of a Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document
/// §4.4): the clients table is the cache every function instance shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentCopy {
    /// The document's URL: the `client_id` the client sends, and the one introspection shows.
    pub url: String,
    /// Unix seconds: after this the authorization endpoint fetches the document again
    /// (`metadata_document::cache_expires_at`, from its `Cache-Control`, 5 minutes to 1 day).
    /// The item itself lives on (its `expires_at` is the idle TTL), so grants keep their client.
    pub fresh_until: u64,
}

/// How a client came to be registered (`portcullis client list --origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientOrigin {
    /// `portcullis client create`: vetted by the operator.
    #[default]
    Operator,
    /// RFC 7591 dynamic registration (`POST /api/auth/oauth/register`): nobody vetted it.
    Registration,
    /// A Client ID Metadata Document (its `client_id` is the document's https URL): nobody
    /// vetted it.
    MetadataDocument,
}

impl ClientOrigin {
    pub const ALL: [ClientOrigin; 3] = [
        ClientOrigin::Operator,
        ClientOrigin::Registration,
        ClientOrigin::MetadataDocument,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Registration => "registration",
            Self::MetadataDocument => "metadata_document",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().replace('-', "_");
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    pub fn is_operator(&self) -> bool {
        *self == Self::Operator
    }

    /// The id prefix reserved for clients of this origin: an operator's client id never starts
    /// with another origin's, so a derived id can never name an operator's client.
    pub fn id_prefix(self) -> Option<&'static str> {
        match self {
            Self::Operator => None,
            Self::Registration => Some("dcr_"),
            Self::MetadataDocument => Some("cimd_"),
        }
    }

    /// Whether `id` starts with a prefix reserved for clients nobody vetted.
    pub fn is_reserved_id(id: &str) -> bool {
        Self::ALL
            .into_iter()
            .filter_map(Self::id_prefix)
            .any(|p| id.starts_with(p))
    }
}

/// RFC 7591 §2 metadata a dynamically registered client gave that the fields of [`Client`] do
/// not hold. Each value was validated at registration ([`crate::registration`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SoftwareMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// As registered (`client_secret_basic` and `client_secret_post` both work at the token
    /// endpoint; this is what the registration response says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
}

/// An OAuth grant type a client may be registered for (RFC 7591 §2, RFC 6749 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    /// The RFC 7591 / RFC 8414 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// What a client registered before `grant_types` existed may use.
pub fn user_grant_types() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
}

fn is_user_grant_types(g: &[GrantType]) -> bool {
    g == user_grant_types().as_slice()
}

/// A secret on its way out: it authenticates until `until` (epoch seconds), then no more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    pub hash: SecretHash,
    pub until: u64,
}

/// Client keys on their way out: they verify assertions until `until` (epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringKeys {
    pub keys: crate::assertion::ClientKeys,
    pub until: u64,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Client {
    /// The `client_id` the client itself sends and sees: a metadata-document client's URL,
    /// otherwise the stored id.
    pub fn public_id(&self) -> ClientId {
        match &self.document {
            Some(d) => ClientId::new(d.url.clone()),
            None => self.client_id.clone(),
        }
    }

    /// Whether nobody vetted it (dynamic registration or a metadata document): the consent
    /// page says so, and never shows its logo.
    pub fn unvetted(&self) -> bool {
        self.origin != ClientOrigin::Operator
    }

    /// Whether a use at `now` should push the client's TTL forward: it has one (a registered
    /// client), and less than half of the idle period `idle` (seconds) is left. So an active
    /// client costs at most one write per half period, and one unused for `idle` expires.
    pub fn needs_touch(&self, now: u64, idle: u64) -> bool {
        self.expires_at
            .is_some_and(|e| e.saturating_sub(now) < idle / 2)
    }

    /// The key sets that verify its client assertions at `now`: its keys, and the replaced ones
    /// while their overlap lasts.
    pub fn key_sets(&self, now: u64) -> Vec<&crate::assertion::ClientKeys> {
        self.jwks
            .iter()
            .chain(
                self.jwks_retiring
                    .iter()
                    .filter(|r| r.until > now)
                    .map(|r| &r.keys),
            )
            .collect()
    }

    /// Whether a token of `grant` (this client's) may be used: the client is enabled, and a
    /// client's own token (client credentials) was issued after the client was last disabled.
    /// User grants are revoked by `client disable`'s sweep of the `by_client` index; a machine
    /// token is in no index, so this rule keeps it ended after `client enable`.
    pub fn accepts(&self, grant: &Grant) -> bool {
        !self.disabled
            && (!grant.is_machine() || self.disabled_at.is_none_or(|d| grant.created_at > d))
    }

    /// Whether it is registered for `grant` (RFC 6749 §5.2 `unauthorized_client` otherwise).
    pub fn may_use(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// What authenticating this client at `now` needs ([`crate::client_auth::authenticate`]):
    /// a retiring secret whose overlap has ended no longer counts.
    pub fn registered(&self, now: u64) -> RegisteredClient<'_> {
        RegisteredClient {
            client_id: &self.client_id,
            public: self.public,
            secret_hashes: &self.secret_hashes,
            retired: self
                .secret_retiring
                .as_ref()
                .filter(|r| r.until <= now)
                .map(|r| &r.hash),
        }
    }

    /// Whether the secret with this hash authenticates at `now`: it is listed, and is not a
    /// retiring secret past its overlap. The storage adapters' client checks say the same.
    pub fn secret_is_live(&self, hash: &SecretHash, now: u64) -> bool {
        self.secret_hashes.contains(hash)
            && !self
                .secret_retiring
                .as_ref()
                .is_some_and(|r| r.hash == *hash && r.until <= now)
    }
}

/// The user an authorization is for, as the host application's session described them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserInfo {
    pub sub: Subject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An issued authorization code, keyed by its hash. It carries what the token endpoint needs to
/// finish without reading the client again: the client's secret hashes at issue time (the token
/// endpoint's write re-checks, in the same transaction, that the secret is still current).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub pk: SecretHash,
    pub client_id: ClientId,
    pub client_public: bool,
    #[serde(default)]
    pub client_secret_hashes: Vec<SecretHash>,
    pub redirect_uri: RedirectUri,
    /// Whether the authorization request named `redirect_uri` (RFC 6749 §4.1.3).
    pub redirect_uri_explicit: bool,
    pub scopes: Vec<String>,
    /// RFC 8707 §2: the protected resource the authorization request named (its registered
    /// URI), which the tokens are bound to; `None`: no audience restriction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<CodeChallenge>,
    /// The client's [`Client::refresh_rotation`] when the code was issued.
    #[serde(default = "yes")]
    pub client_refresh_rotation: bool,
    pub created_at: u64,
    pub expires_at: u64,
    /// When the code was consumed. A consumed code is marked, not deleted (it goes at its TTL):
    /// if the exchange that consumed it issued nothing (the function gave up on a slow store,
    /// and the write landed later), its own client can still redeem it once, within its
    /// lifetime ([`crate::grants::code`]). Whether tokens were issued is the grant item's
    /// existence (its id is derived from the code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumed_at: Option<u64>,
}

impl CodeRecord {
    /// The grant this code starts. Derived from the code's hash, so that a replayed code (whose
    /// item is gone) still names the grant to revoke (RFC 6749 §4.1.2).
    pub fn grant_id(&self) -> GrantId {
        grant_id_for_code(&self.pk)
    }

    /// The client this code was issued to, as it was registered then.
    pub fn client(&self) -> RegisteredClient<'_> {
        RegisteredClient {
            client_id: &self.client_id,
            public: self.client_public,
            secret_hashes: &self.client_secret_hashes,
            retired: None,
        }
    }
}

/// See [`CodeRecord::grant_id`].
pub fn grant_id_for_code(code_hash: &SecretHash) -> GrantId {
    let mut h = Sha256::new();
    h.update(b"portcullis-grant-v1:");
    h.update(code_hash.as_str().as_bytes());
    GrantId::new(format!("g_{}", URL_SAFE_NO_PAD.encode(h.finalize())))
}

/// The longest resource URI a deployment registers (`portcullis resource create`), in bytes:
/// it is stored in every grant bound to it, within the grant's 1 KB budget.
pub const MAX_RESOURCE_URI: usize = 200;

/// What a row of the tokens table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Grant,
    /// A client's own token (RFC 6749 §4.4, client credentials): a grant with no user and no
    /// refresh token. Stored in its own shape, with none of the indexes' key attributes
    /// (`portcullis_aws` writes it as a `MachineItem`), so it costs one write unit and no
    /// index entry.
    Machine,
    /// An API key ([`crate::api_keys::ApiKeyRecord`]).
    ApiKey,
}

/// One consent, as one item (`grant#<id>` in the tokens table): everything needed to check its
/// tokens, which name it ([`crate::codec`]). A token is valid only while its grant says so:
/// the grant holds the SHA-256 of its current refresh token and of its two newest access tokens
/// (the current one and the one the last refresh replaced), and the refresh generation. So
/// checking a token is one read, a refresh is one conditional write, and revoking the grant is
/// one write after which no token of it works anywhere. `docs/architecture.md` has the layout
/// and its size budget (under 1 KB, so each write is one unit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub pk: String,
    pub kind: ItemKind,
    pub grant_id: GrantId,
    /// The `by_client` and `by_user` index keys (the operator's listings; nothing on the hot
    /// path reads an index).
    pub client_id: ClientId,
    pub user_sub: Subject,
    /// The user's profile as the session described it (the subject is `user_sub`, not
    /// repeated: [`Grant::user`]).
    pub profile: Profile,
    /// What the grant allows today: narrowed, never widened, by refreshes that apply the
    /// client's current registration and the current catalogue (review finding 4).
    pub scopes: Vec<String>,
    /// RFC 8707: the audience every token of this grant is bound to (a registered resource's
    /// URI), fixed at the authorization request; `None`: unrestricted (a client that sent no
    /// `resource`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub created_at: u64,
    /// The table's TTL: the refresh token's end, never before `keep_until`.
    pub expires_at: u64,
    /// The grant's absolute end, when the deployment sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<u64>,
    /// The code's end plus the replay margin: a replay of the code by its own client revokes
    /// the grant until then, and the item (or its tombstone) is kept at least that long, so a
    /// consumed code can never find its grant gone and be redeemed again (review finding 6).
    pub keep_until: u64,
    /// What the replay rules need once the code is gone (RFC 6749 §4.1.2, RFC 7636 §4.6).
    #[serde(default, skip_serializing_if = "is_false")]
    pub client_public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<CodeChallenge>,
    /// The refresh generation: 0 at the exchange, one more at every refresh. The current
    /// access token is this generation's; the previous one is the generation before.
    pub generation: u32,
    /// When `generation` last changed: a retry within the retry window of the request that
    /// changed it gets the same tokens (`PORTCULLIS_REFRESH_GRACE`).
    pub rotated_at: u64,
    /// The current refresh token's hash and end. A legacy client
    /// (`--no-refresh-rotation`) keeps one refresh token, whose end slides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_hash: Option<SecretHash>,
    #[serde(default)]
    pub refresh_expires_at: u64,
    /// The current access token (generation `generation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_hash: Option<SecretHash>,
    #[serde(default)]
    pub access_expires_at: u64,
    /// The access token's scopes when a refresh narrowed them (RFC 6749 §6); `None`: `scopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_scopes: Option<Vec<String>>,
    /// The access token the last refresh replaced (generation `generation - 1`), valid to its
    /// own end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_access_hash: Option<SecretHash>,
    #[serde(default)]
    pub previous_access_expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_access_scopes: Option<Vec<String>>,
    /// When the grant was last refreshed (`portcullis grants list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<u64>,
    /// A revoked grant stays as a tombstone until its TTL: a racing exchange for the same grant
    /// id (derived from the code) fails its `attribute_not_exists` condition, and a racing
    /// refresh fails its condition on the grant, so nothing written after a revocation
    /// survives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
}

/// A user's profile claims, without the subject (a grant keeps that once, as `user_sub`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl From<&UserInfo> for Profile {
    fn from(u: &UserInfo) -> Self {
        Self {
            username: u.username.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
        }
    }
}

/// What an access token lets its bearer do, as its grant says at the time of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessView {
    pub grant_id: GrantId,
    pub client_id: ClientId,
    /// The user who granted it; `None` for a client's own token (client credentials), whose
    /// subject is the client.
    pub user: Option<UserInfo>,
    pub scopes: Vec<String>,
    /// RFC 8707 / RFC 9068 §3 `aud`: the resource the token was issued for; `None`: a token
    /// with no audience restriction.
    pub resource: Option<String>,
    pub expires_at: u64,
    pub issued_at: u64,
}

impl Grant {
    pub fn key(grant_id: &GrantId) -> String {
        format!("grant#{grant_id}")
    }

    /// The user, as the session described them.
    pub fn user(&self) -> UserInfo {
        UserInfo {
            sub: self.user_sub.clone(),
            username: self.profile.username.clone(),
            email: self.profile.email.clone(),
            name: self.profile.name.clone(),
        }
    }

    /// A client's own token (client credentials): no user, no refresh token.
    pub fn is_machine(&self) -> bool {
        self.kind == ItemKind::Machine
    }

    /// RFC 6749 §4.4.3: the grant behind a client-credentials token, at `now`: the client is its
    /// subject, it has one access token (generation 0) and no refresh token; the item goes at
    /// the token's end (the table's TTL).
    pub fn machine(
        grant_id: GrantId,
        client_id: ClientId,
        scopes: Vec<String>,
        now: u64,
        access_expires_at: u64,
        access_hash: Option<SecretHash>,
    ) -> Self {
        Self {
            pk: Self::key(&grant_id),
            kind: ItemKind::Machine,
            grant_id,
            user_sub: Subject::new(client_id.as_str()),
            client_id,
            profile: Profile::default(),
            scopes,
            resource: None,
            created_at: now,
            expires_at: access_expires_at,
            ends_at: Some(access_expires_at),
            keep_until: access_expires_at,
            client_public: false,
            code_challenge: None,
            generation: 0,
            rotated_at: now,
            refresh_hash: None,
            refresh_expires_at: 0,
            access_hash,
            access_expires_at,
            access_scopes: None,
            previous_access_hash: None,
            previous_access_expires_at: 0,
            previous_access_scopes: None,
            refreshed_at: None,
            revoked_at: None,
        }
    }

    /// Not revoked and not past its absolute end.
    pub fn is_live(&self, now: u64) -> bool {
        self.revoked_at.is_none() && self.ends_at.is_none_or(|end| end > now)
    }

    /// RFC 6750 §3.1: what the access token with this hash, naming `client_id` and
    /// `generation`, may do at `now`; `None` (`invalid_token`) unless the grant is live, is this
    /// client's, and names the token as its current or previous access token, unexpired. The
    /// client's own standing is the caller's to check (it is read with the grant).
    pub fn access(
        &self,
        client_id: &ClientId,
        generation: u32,
        hash: &SecretHash,
        now: u64,
    ) -> Option<AccessView> {
        if !self.is_live(now) || self.client_id != *client_id {
            return None;
        }
        let (stored, expires_at, scopes) = if generation == self.generation {
            (
                &self.access_hash,
                self.access_expires_at,
                &self.access_scopes,
            )
        } else if generation.checked_add(1) == Some(self.generation) {
            (
                &self.previous_access_hash,
                self.previous_access_expires_at,
                &self.previous_access_scopes,
            )
        } else {
            return None;
        };
        let live = stored.as_ref().is_some_and(|h| h.ct_eq(hash)) && expires_at > now;
        live.then(|| AccessView {
            grant_id: self.grant_id.clone(),
            client_id: self.client_id.clone(),
            user: (!self.is_machine()).then(|| self.user()),
            scopes: scopes.clone().unwrap_or_else(|| self.scopes.clone()),
            resource: self.resource.clone(),
            expires_at,
            issued_at: if generation == self.generation {
                self.rotated_at
            } else {
                self.created_at
            },
        })
    }

    /// Whether `hash` is the current refresh token's, unexpired at `now`.
    pub fn refresh_is_current(&self, hash: &SecretHash, now: u64) -> bool {
        !self.is_machine()
            && self.refresh_hash.as_ref().is_some_and(|h| h.ct_eq(hash))
            && self.refresh_expires_at > now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item's size by DynamoDB's rules (attribute names plus values), for a value serialised
    /// as the adapters store it.
    fn size(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(s) => s.len(),
            // DynamoDB: one byte per two significant digits, plus one.
            serde_json::Value::Number(n) => n.to_string().len().div_ceil(2) + 1,
            serde_json::Value::Bool(_) | serde_json::Value::Null => 1,
            serde_json::Value::Array(a) => 3 + a.iter().map(|x| 1 + size(x)).sum::<usize>(),
            serde_json::Value::Object(m) => {
                3 + m.iter().map(|(k, x)| 1 + k.len() + size(x)).sum::<usize>()
            }
        }
    }

    /// A registered client's TTL is pushed forward only when less than half the idle period is
    /// left (one write per half period at most); an operator's client (no TTL) never.
    #[test]
    fn a_client_needs_a_touch_only_with_a_ttl_and_less_than_half_the_idle_period_left() {
        let idle = 30 * 86_400;
        let mut c = crate::testkit::client("c").build();
        assert!(!c.needs_touch(0, idle));
        c.expires_at = Some(idle);
        assert!(!c.needs_touch(0, idle));
        assert!(!c.needs_touch(idle / 2, idle));
        assert!(c.needs_touch(idle / 2 + 1, idle));
        assert!(c.needs_touch(idle + 5, idle));
    }

    /// Items written before `origin` are the operator's; the operator's origin is not stored.
    #[test]
    fn a_client_without_origin_is_the_operators_and_reserved_prefixes_are_known() {
        let c = crate::testkit::client("c").build();
        let v = serde_json::to_value(&c).unwrap();
        assert!(v.get("origin").is_none() && v.get("expires_at").is_none());
        let back: Client = serde_json::from_value(v).unwrap();
        assert_eq!(back.origin, ClientOrigin::Operator);
        assert_eq!(
            ClientOrigin::parse("metadata-document"),
            Some(ClientOrigin::MetadataDocument)
        );
        assert!(ClientOrigin::is_reserved_id("dcr_abc") && ClientOrigin::is_reserved_id("cimd_x"));
        assert!(!ClientOrigin::is_reserved_id("0123abcd"));
    }

    /// docs/architecture.md, "Item layout": a grant item, at its largest in ordinary use (the
    /// longest client id and subject, 64 characters each; a 32-character username, 64-character
    /// email and name; four scopes; a PKCE challenge and every token slot filled) stays under
    /// 1 KB, so each of its writes is one write unit. Longer profile claims from the host's
    /// session, or a refresh that narrows the access token's scope (`access_scopes`, some 50
    /// bytes), can push it past that; each further KB costs one more write unit per write.
    #[test]
    fn a_grant_item_stays_under_one_kilobyte() {
        let h = || Some(SecretHash::of("x"));
        let scopes: Vec<String> = (0..4).map(|i| format!("READ_SCOPE_{i:04}")).collect();
        // Epoch seconds for the next few centuries: ten digits.
        let t = 9_999_999_999;
        let g = Grant {
            pk: Grant::key(&grant_id_for_code(&SecretHash::of("c"))),
            kind: ItemKind::Grant,
            grant_id: grant_id_for_code(&SecretHash::of("c")),
            client_id: ClientId::new("c".repeat(64)),
            user_sub: Subject::new("s".repeat(64)),
            profile: Profile {
                username: Some("u".repeat(32)),
                email: Some("e".repeat(64)),
                name: Some("n".repeat(64)),
            },
            scopes: scopes.clone(),
            resource: None,
            created_at: t,
            expires_at: t,
            ends_at: Some(t),
            keep_until: t,
            client_public: true,
            code_challenge: Some(CodeChallenge::s256("v".repeat(43).as_str())),
            generation: u32::MAX,
            rotated_at: t,
            refresh_hash: h(),
            refresh_expires_at: t,
            access_hash: h(),
            access_expires_at: t,
            access_scopes: None,
            previous_access_hash: h(),
            previous_access_expires_at: t,
            previous_access_scopes: None,
            refreshed_at: Some(t),
            revoked_at: Some(t),
        };
        let n = size(&serde_json::to_value(&g).unwrap());
        assert!(n < 1024, "{n} bytes");
    }
}
