//! `registration-token ...`: initial access tokens for dynamic client registration (RFC 7591
//! §3). A token is printed once; only its hash is stored, as an `iat#<hash>` item of the codes
//! table (its TTL is the token's end, and the register function may only count its uses).
use super::Context;
use crate::error::CliError;
use crate::output::{Fields, Render};
use portcullis_aws::DynamoCodes;
use portcullis_core::clock::{Clock, Entropy, OsEntropy, SystemClock};
use portcullis_core::ports::{InitialAccessTokenRecord, InitialAccessTokenRegistry};
use portcullis_core::secret::InitialAccessToken;
use serde::{Serialize, Serializer};

#[derive(Debug, clap::Subcommand)]
pub enum RegistrationTokenCommand {
    /// Issue an initial access token; prints it once (never again).
    #[command(
        after_help = "Example:\n  portcullis registration-token create --expires-in 7d --uses 1\n\nThe holder registers with `Authorization: Bearer <token>` at POST /api/auth/oauth/register (needs PORTCULLIS_DYNAMIC_REGISTRATION token or open)."
    )]
    Create(CreateArgs),
    /// Revoke an initial access token (give the token itself).
    #[command(after_help = "Example:\n  portcullis registration-token revoke pc_iat_…")]
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// How long it works: `7d`, `24h`, `90m` (at most 30 days). Default 7 days.
    #[arg(long = "expires-in", value_parser = expires_in, default_value = "7d")]
    pub expires_in: u64,
    /// How many registrations it allows. Default: any number until it expires.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub uses: Option<u32>,
}

fn expires_in(s: &str) -> Result<u64, String> {
    match crate::validate::duration(s)? {
        0 => Err("--expires-in must be longer than 0".into()),
        n => Ok(n),
    }
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The token (`pc_iat_…`).
    pub token: String,
}

/// A new token, shown this once.
#[derive(Debug, Serialize)]
pub struct TokenCreated {
    #[serde(serialize_with = "reveal")]
    pub registration_token: InitialAccessToken,
    pub expires_at: u64,
    pub uses: Option<u32>,
}

/// The token itself: this output is the one place it is handed to its owner.
fn reveal<S: Serializer>(t: &InitialAccessToken, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.secret())
}

impl Render for TokenCreated {
    fn text(&self) -> String {
        let mut text = Fields::new()
            .field("registration_token", self.registration_token.secret())
            .field("expires_at", crate::validate::utc(self.expires_at))
            .field(
                "uses",
                self.uses.map_or_else(|| "any".into(), |u| u.to_string()),
            )
            .render();
        text.push_str(
            "\nThe token is shown only now: it is stored as a hash and cannot be shown again.",
        );
        text
    }
}

/// The record to store for a fresh token, and the token.
pub fn new_token(
    args: &CreateArgs,
    entropy: &dyn Entropy,
    now: u64,
) -> (InitialAccessTokenRecord, InitialAccessToken) {
    let token = InitialAccessToken::generate(entropy);
    let record = InitialAccessTokenRecord {
        pk: InitialAccessTokenRecord::key(&token.hash()),
        created_at: now,
        expires_at: now + args.expires_in,
        max_uses: args.uses,
        used: 0,
    };
    (record, token)
}

fn codes(ctx: &Context) -> DynamoCodes {
    DynamoCodes::new(ctx.db(), &ctx.config.tables.codes)
}

pub async fn create(ctx: &Context, args: CreateArgs) -> Result<TokenCreated, CliError> {
    let (record, token) = new_token(&args, &OsEntropy, SystemClock.now());
    codes(ctx)
        .create_initial_access_token(&record)
        .await
        .map_err(|e| {
            ctx.storage(
                "storing the registration token",
                &ctx.config.tables.codes,
                e,
            )
        })?;
    Ok(TokenCreated {
        registration_token: token,
        expires_at: record.expires_at,
        uses: record.max_uses,
    })
}

#[derive(Debug, Serialize)]
pub struct TokenRevoked {
    pub revoked: bool,
}

impl Render for TokenRevoked {
    fn text(&self) -> String {
        if self.revoked {
            "revoked".into()
        } else {
            "no such registration token (expired, revoked already, or never issued)".into()
        }
    }
}

pub async fn revoke(ctx: &Context, args: RevokeArgs) -> Result<TokenRevoked, CliError> {
    let token = InitialAccessToken::new(args.token.trim());
    if !token.is_well_formed() {
        return Err(CliError::Invalid(
            "that is not a registration token (they start with pc_iat_)".into(),
        ));
    }
    let revoked = codes(ctx)
        .revoke_initial_access_token(&token.hash())
        .await
        .map_err(|e| {
            ctx.storage(
                "revoking the registration token",
                &ctx.config.tables.codes,
                e,
            )
        })?;
    Ok(TokenRevoked { revoked })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7591 §3: only the token's hash is stored, with its end and its uses.
    #[test]
    fn a_registration_token_is_stored_only_as_a_hash_with_its_end_and_uses() {
        let args = CreateArgs {
            expires_in: 7 * 86_400,
            uses: Some(3),
        };
        let (record, token) = new_token(&args, &OsEntropy, 1_000);
        assert!(token.is_well_formed() && token.secret().starts_with("pc_iat_"));
        assert_eq!(record.pk, format!("iat#{}", token.hash().as_str()));
        assert!(!record.pk.contains(token.secret()));
        assert_eq!(
            (record.expires_at, record.max_uses, record.used),
            (1_000 + 7 * 86_400, Some(3), 0)
        );
        assert!(expires_in("0").is_err() && expires_in("31d").is_err());
        assert_eq!(expires_in("7d"), Ok(7 * 86_400));
    }
}
