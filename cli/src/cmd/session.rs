//! `session`: signs a host session token (HS256 JWT) with the deployment's `session_key`, as the
//! host application would put it in its cookie. For testing.
use super::Context;
use crate::error::CliError;
use crate::output::Render;
use portcullis_aws::secrets::SecretsManagerKeys;
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::ids::Subject;
use portcullis_core::keys::KeySource;
use portcullis_core::model::UserInfo;
use portcullis_core::secret::{Key, SessionToken};
use portcullis_core::session::{sign_session, Session};
use serde::{Serialize, Serializer};

#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// The user's stable id (`sub`).
    #[arg(long)]
    pub sub: String,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    /// Allow it against a deployed stage (it forges a user's session there).
    #[arg(long = "allow-production")]
    pub allow_production: bool,
}

/// A signed session: `{"session", "cookie", "expires_at"}`; as text, the token alone.
#[derive(Debug, Serialize)]
pub struct SessionMinted {
    #[serde(serialize_with = "reveal")]
    pub session: SessionToken,
    /// The cookie the host keeps it in (`PORTCULLIS_SESSION_COOKIE`).
    pub cookie: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

/// The token itself: handing it over is what the command is for.
fn reveal<S: Serializer>(token: &SessionToken, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(token.secret())
}

impl Render for SessionMinted {
    fn text(&self) -> String {
        self.session.secret().to_string()
    }
}

/// The user the flags describe.
pub fn check(args: SessionArgs) -> Result<(UserInfo, u64), CliError> {
    if args.sub.trim().is_empty() {
        return Err(CliError::Invalid("--sub must not be empty".into()));
    }
    let user = UserInfo {
        sub: Subject::new(args.sub),
        username: args.username,
        email: args.email,
        name: args.name,
    };
    Ok((user, args.ttl))
}

/// Signs the session for `user`, valid for `ttl` seconds from `now`.
pub fn mint(user: UserInfo, key: &Key, cookie: &str, now: u64, ttl: u64) -> SessionMinted {
    let exp = now.saturating_add(ttl);
    SessionMinted {
        session: sign_session(&Session { user, exp }, key),
        cookie: cookie.to_string(),
        expires_at: exp,
    }
}

pub async fn run(ctx: &Context, args: SessionArgs) -> Result<SessionMinted, CliError> {
    let (user, ttl) = check(args)?;
    let secret_id = ctx.config.secret_id()?;
    let keys = SecretsManagerKeys::new(&ctx.sdk, secret_id)
        .fetch()
        .await
        .map_err(|e| CliError::aws("reading the keys", e))?;
    Ok(mint(
        user,
        &keys.session,
        &ctx.config.session_cookie,
        SystemClock.now(),
        ttl,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::render;
    use portcullis_core::session::verify_session;

    fn args(sub: &str) -> SessionArgs {
        SessionArgs {
            sub: sub.into(),
            username: Some("ada".into()),
            email: None,
            name: Some("Ada Lovelace".into()),
            ttl: 60,
            allow_production: false,
        }
    }

    #[test]
    fn an_empty_sub_is_refused() {
        for bad in ["", "  "] {
            match check(args(bad)) {
                Err(CliError::Invalid(m)) => assert_eq!(m, "--sub must not be empty"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_minted_token_verifies_with_the_key_and_expires_after_the_ttl() {
        let key = Key::new(vec![7u8; 32]);
        let (user, ttl) = check(args("u1")).unwrap();
        let m = mint(user.clone(), &key, "session", 1_000, ttl);
        assert_eq!(m.expires_at, 1_060);
        let s = verify_session(m.session.secret(), &key, 1_000).unwrap();
        assert_eq!(s.user, user);
        assert_eq!(s.exp, 1_060);
        assert!(verify_session(m.session.secret(), &Key::new(vec![8u8; 32]), 1_000).is_err());
        assert!(verify_session(m.session.secret(), &key, 1_061).is_err());
    }

    #[test]
    fn a_huge_ttl_does_not_overflow() {
        let (user, _) = check(args("u1")).unwrap();
        let m = mint(user, &Key::new(vec![7u8; 32]), "session", 10, u64::MAX);
        assert_eq!(m.expires_at, u64::MAX);
    }

    #[test]
    fn renders_as_json_with_its_three_keys_or_as_the_bare_token() {
        let m = SessionMinted {
            session: SessionToken::new("h.p.s"),
            cookie: "sid".into(),
            expires_at: 42,
        };
        let v: serde_json::Value = serde_json::from_str(&render(&m, true).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"session": "h.p.s", "cookie": "sid", "expires_at": 42})
        );
        assert_eq!(render(&m, false).unwrap(), "h.p.s");
    }
}
