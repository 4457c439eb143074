//! `grants ...`: the users' consents (one grant item per authorization-code exchange, which every
//! token of it names), found through the tokens table's `by_user` and `by_client` indexes, and
//! revoked in one write each, after which none of their tokens works: "disconnect app X for
//! user Y" and "sign user Y out of every app" are each one command.
use super::Context;
use crate::error::CliError;
use crate::output::{Render, Table};
use crate::validate::utc;
use portcullis_aws::DynamoTokens;
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::ids::{ClientId, GrantId, Subject};
use portcullis_core::model::Grant;
use portcullis_core::ports::{ApiKeyRegistry, GrantListing, GrantLookup, GrantRevocation};
use serde::Serialize;

#[derive(Debug, clap::Subcommand)]
pub enum GrantsCommand {
    /// A user's or a client's grants: client, user, scopes, created, until when.
    #[command(
        after_help = "Examples:\n  portcullis grants list --sub 'user|42'\n  portcullis grants list --client 0f3c9a2e41d84b7a9c1e5d6f7a8b9c0d --json"
    )]
    List(ListArgs),
    /// Revoke grants with all their tokens, effective at once: one grant, one user's grants
    /// (of one client, or of every client).
    #[command(
        after_help = "Examples:\n  portcullis grants revoke --sub 'user|42' --client 0f3c9a2e41d84b7a9c1e5d6f7a8b9c0d   # disconnect one app\n  portcullis grants revoke --sub 'user|42'                                              # sign out of every app\n  portcullis grants revoke --sub 'user|42' --api-keys                                   # ... and revoke their API keys\n  portcullis grants revoke --grant g_Xw3…"
    )]
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("whose").required(true)))]
pub struct ListArgs {
    /// The user (the host application's user id, the session's `sub`).
    #[arg(long, group = "whose")]
    pub sub: Option<String>,
    /// The client id.
    #[arg(long, group = "whose")]
    pub client: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true)))]
pub struct RevokeArgs {
    /// One grant, by its id (as `grants list` shows it).
    #[arg(long, group = "which", conflicts_with = "client")]
    pub grant: Option<String>,
    /// Every grant of this user (with --client: only that client's).
    #[arg(long, group = "which")]
    pub sub: Option<String>,
    /// With --sub: only this client's grants.
    #[arg(long, requires = "sub")]
    pub client: Option<String>,
    /// With --sub (and no --client): revoke the user's API keys too, so the user is signed out
    /// of everything. Without it the user's API keys keep working, and the answer says so.
    #[arg(long, requires = "sub", conflicts_with = "client")]
    pub api_keys: bool,
}

/// A grant as listed: never a token or a hash.
#[derive(Debug, Serialize)]
pub struct GrantView {
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub sub: Subject,
    pub scopes: Vec<String>,
    pub created_at: u64,
    /// When it was last refreshed; `null` if never.
    pub refreshed_at: Option<u64>,
    /// The grant's end: moved forward by every refresh (it lives as long as its newest refresh
    /// token).
    pub expires_at: u64,
}

impl From<Grant> for GrantView {
    fn from(g: Grant) -> Self {
        Self {
            grant_id: g.grant_id,
            client_id: g.client_id,
            sub: g.user_sub,
            scopes: g.scopes,
            created_at: g.created_at,
            refreshed_at: g.refreshed_at,
            expires_at: g.expires_at,
        }
    }
}

/// `grants list`: `{"grants": [...]}`, oldest first.
#[derive(Debug, Serialize)]
pub struct GrantList {
    pub grants: Vec<GrantView>,
}

impl Render for GrantList {
    fn text(&self) -> String {
        if self.grants.is_empty() {
            return "no grants".into();
        }
        self.grants
            .iter()
            .fold(
                Table::new(&[
                    "GRANT_ID",
                    "CLIENT_ID",
                    "SUB",
                    "SCOPES",
                    "CREATED",
                    "REFRESHED",
                    "EXPIRES",
                ]),
                |t, g| {
                    t.row([
                        g.grant_id.to_string(),
                        g.client_id.to_string(),
                        g.sub.to_string(),
                        g.scopes.join(","),
                        utc(g.created_at),
                        g.refreshed_at.map_or_else(|| "-".into(), utc),
                        utc(g.expires_at),
                    ])
                },
            )
            .render()
    }
}

/// What `grants revoke` did.
#[derive(Debug, Serialize)]
pub struct GrantsRevoked {
    pub revoked: Vec<GrantId>,
    /// With `--sub`: the user's API keys revoked (`--api-keys`), by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_keys_revoked: Vec<GrantId>,
    /// With `--sub` and no `--api-keys`: the user's API keys that still work (review finding 7:
    /// "sign this user out of every app" says plainly what it leaves in place).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_keys_still_live: Vec<GrantId>,
}

impl Render for GrantsRevoked {
    fn text(&self) -> String {
        let join = |ids: &[GrantId]| ids.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" ");
        let mut out = match self.revoked.as_slice() {
            [] => "no grants to revoke".to_string(),
            ids => format!("revoked {} grant(s): {}", ids.len(), join(ids)),
        };
        if !self.api_keys_revoked.is_empty() {
            out.push_str(&format!(
                "\nrevoked {} API key(s): {}",
                self.api_keys_revoked.len(),
                join(&self.api_keys_revoked)
            ));
        }
        if !self.api_keys_still_live.is_empty() {
            out.push_str(&format!(
                "\nnote: the user's {} API key(s) still work ({}): add --api-keys to revoke them too, or `portcullis apikey revoke ID`",
                self.api_keys_still_live.len(),
                join(&self.api_keys_still_live)
            ));
        }
        out
    }
}

fn nonempty<'a>(flag: &str, v: &'a str) -> Result<&'a str, CliError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(CliError::Invalid(format!("{flag} must not be empty")));
    }
    Ok(v)
}

/// A grant id as `grants list` shows it (`g_…`): not an API key's id, nor a token.
pub fn parse_grant_id(id: &str) -> Result<GrantId, CliError> {
    let id = nonempty("--grant", id)?;
    if id.starts_with("ak_") {
        return Err(CliError::Invalid(
            "that is an API key's id: revoke it with `portcullis apikey revoke`".into(),
        ));
    }
    if id.starts_with("pc_") {
        return Err(CliError::Invalid(
            "that is a token, not a grant id: give the id `grants list` shows (g_…)".into(),
        ));
    }
    if !id.starts_with("g_") || id.len() > 128 {
        return Err(CliError::Invalid(format!(
            "`{}` is not a grant id (g_…, as `grants list` shows)",
            portcullis_core::error::echo(id)
        )));
    }
    Ok(GrantId::from(id))
}

fn tokens(ctx: &Context) -> DynamoTokens {
    DynamoTokens::new(ctx.db(), &ctx.config.tables.tokens)
}

/// The grants still in force at `now`: not revoked (a revoked grant stays as a tombstone until
/// its TTL) and not expired (TTL deletes late).
fn live(grants: Vec<Grant>, now: u64) -> impl Iterator<Item = Grant> {
    grants
        .into_iter()
        .filter(move |g| g.revoked_at.is_none() && g.expires_at > now)
}

/// `grants list`: a Query of `by_user` or `by_client`, then a BatchGetItem of the grant items.
pub async fn list(ctx: &Context, args: ListArgs) -> Result<GrantList, CliError> {
    let t = tokens(ctx);
    let table = &ctx.config.tables.tokens;
    let grants = match (&args.sub, &args.client) {
        (Some(sub), _) => {
            t.grants_of_user(&Subject::from(nonempty("--sub", sub)?))
                .await
        }
        (None, Some(client)) => {
            t.grant_records_of_client(&ClientId::from(nonempty("--client", client)?))
                .await
        }
        (None, None) => return Err(CliError::Invalid("give --sub or --client".into())),
    }
    .map_err(|e| ctx.storage("listing the grants", table, e))?;
    Ok(GrantList {
        grants: live(grants, SystemClock.now())
            .map(GrantView::from)
            .collect(),
    })
}

/// `grants revoke`: `--grant` reads that grant (GetItem) and revokes it
/// (`GrantRevocation::revoke_grant`); `--sub` lists the user's grants (`by_user`), keeps those
/// of `--client` if given, and revokes each.
pub async fn revoke(ctx: &Context, args: RevokeArgs) -> Result<GrantsRevoked, CliError> {
    let t = tokens(ctx);
    let table = &ctx.config.tables.tokens;
    let now = SystemClock.now();
    let ids: Vec<GrantId> = match (&args.grant, &args.sub) {
        (Some(id), _) => {
            let id = parse_grant_id(id)?;
            let found = t
                .grant(&id)
                .await
                .map_err(|e| ctx.storage("reading the grant", table, e))?;
            if live(found.into_iter().collect(), now).next().is_none() {
                return Err(CliError::NotFound(format!(
                    "no grant in force has the id {id} (unknown, expired or already revoked)"
                )));
            }
            vec![id]
        }
        (None, Some(sub)) => {
            let sub = Subject::from(nonempty("--sub", sub)?);
            let client = args
                .client
                .as_deref()
                .map(|c| nonempty("--client", c).map(ClientId::from))
                .transpose()?;
            let grants = t
                .grants_of_user(&sub)
                .await
                .map_err(|e| ctx.storage("listing the user's grants", table, e))?;
            live(grants, now)
                .filter(|g| client.as_ref().is_none_or(|c| g.client_id == *c))
                .map(|g| g.grant_id)
                .collect()
        }
        (None, None) => return Err(CliError::Invalid("give --grant or --sub".into())),
    };
    let mut done = GrantsRevoked {
        revoked: Vec::new(),
        api_keys_revoked: Vec::new(),
        api_keys_still_live: Vec::new(),
    };
    for id in ids {
        // One write: the grant becomes a tombstone and every token of it is refused at once.
        if t.revoke_grant(&id, now)
            .await
            .map_err(|e| ctx.storage("revoking a grant", table, e))?
        {
            done.revoked.push(id);
        }
    }
    // Review finding 7: "sign this user out of every app" either ends the user's API keys too
    // (--api-keys) or says which still work.
    if let (Some(sub), None) = (&args.sub, &args.client) {
        let keys = t
            .api_keys_of(&Subject::from(sub.trim()))
            .await
            .map_err(|e| ctx.storage("listing the user's API keys", table, e))?;
        for key in keys.into_iter().filter(|k| k.is_live(now)) {
            let id = key.id().clone();
            if args.api_keys {
                t.revoke_api_key(&id)
                    .await
                    .map_err(|e| ctx.storage("revoking an API key", table, e))?;
                done.api_keys_revoked.push(id);
            } else {
                done.api_keys_still_live.push(id);
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::render;

    fn grant() -> Grant {
        Grant {
            expires_at: 86_400,
            refreshed_at: Some(3_600),
            ..portcullis_core::testkit::grant("g_abc", "c1", "user|42", 0)
        }
    }

    #[test]
    fn a_grant_lists_its_client_user_scopes_and_dates_never_a_token_hash() {
        let mut g = grant();
        g.access_hash = Some(portcullis_core::secret::SecretHash::of("pc_at_x"));
        g.refresh_hash = Some(portcullis_core::secret::SecretHash::of("pc_rt_x"));
        let hash = g.access_hash.as_ref().unwrap().as_str().to_string();
        let list = GrantList {
            grants: vec![g.into()],
        };
        let v: serde_json::Value = serde_json::from_str(&render(&list, true).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"grants": [{
                "grant_id": "g_abc", "client_id": "c1", "sub": "user|42",
                "scopes": ["READ_PROFILE", "READ_BOOKING"], "created_at": 0,
                "refreshed_at": 3600, "expires_at": 86400
            }]})
        );
        let text = render(&list, false).unwrap();
        assert_eq!(
            text,
            "GRANT_ID  CLIENT_ID  SUB      SCOPES                     CREATED               REFRESHED             EXPIRES\n\
             g_abc     c1         user|42  READ_PROFILE,READ_BOOKING  1970-01-01T00:00:00Z  1970-01-01T01:00:00Z  1970-01-02T00:00:00Z"
        );
        assert!(!text.contains(&hash) && !render(&list, true).unwrap().contains(&hash));
        assert_eq!(
            render(&GrantList { grants: vec![] }, false).unwrap(),
            "no grants"
        );
    }

    /// A revoked grant stays as a tombstone until its TTL, and TTL deletes late: neither is
    /// listed or revoked again.
    #[test]
    fn revoked_and_expired_grants_are_not_in_force() {
        let mut revoked = grant();
        revoked.revoked_at = Some(5);
        let mut expired = grant();
        expired.expires_at = 100;
        let kept: Vec<Grant> = live(vec![grant(), revoked, expired], 100).collect();
        assert_eq!(kept, vec![grant()]);
    }

    #[test]
    fn revoke_takes_a_grant_id_not_a_key_id_or_a_token() {
        assert!(parse_grant_id(" g_abc ").is_ok());
        for bad in ["ak_x", "pc_at_x", "pc_rt_x", "abc", "", " "] {
            let e = parse_grant_id(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }
}
