//! `make dev` (`xtask dev`): the local stack with a demo client, until Ctrl-C.
//!
//! moto -> `portcullis --local init` -> the demo client -> `cargo lambda watch` (rebuilds on code
//! changes), then the issuer, the demo client's credentials, the endpoints, an authorization URL
//! and the curl commands of the rest of the flow, on stdout and in `.local/dev-info.txt`.
//! `scripts/dev.sh` bootstraps and builds first.
use crate::stack::{LocalStack, Options};
use crate::{display, error, Result};
use portcullis_core::clock::OsEntropy;
use portcullis_core::secret::generate;
use portcullis_core::settings::shell_quote;
use std::process::ExitStatus;

/// The demo client's name and scopes.
pub const DEMO_NAME: &str = "Demo app";
pub const DEMO_SCOPES: &[&str] = &["READ_PROFILE", "READ_BOOKING"];
/// A second redirect URI for the demo client: Postman's OAuth 2.0 helper.
pub const POSTMAN_CALLBACK: &str = "https://oauth.pstmn.io/v1/callback";
/// The demo app's (`examples/demo-app`, `make demo`) loopback listener port: `DEMO_PORT`, default
/// 8976. `make dev` registers its callback; `make demo` listens there.
pub const DEMO_PORT_VAR: &str = "DEMO_PORT";
pub const DEFAULT_DEMO_PORT: u16 = 8976;
/// The file `make dev` writes for `make demo`: the issuer, the demo client and the demo app's
/// port (local moto credentials only; mode 0600).
pub const DEMO_CLIENT_FILE: &str = "demo-client.json";

/// The demo app's port, from `DEMO_PORT`.
pub fn demo_port() -> Result<u16> {
    match std::env::var(DEMO_PORT_VAR) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| error!("{DEMO_PORT_VAR} must be a port number, got `{v}`")),
        _ => Ok(DEFAULT_DEMO_PORT),
    }
}

/// The demo app's redirect URI for a port (RFC 8252 §7.3: loopback IP literal).
pub fn demo_redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}/callback")
}

/// Runs `make dev`; the exit code (that of `cargo lambda watch` when it ends by itself).
pub fn run() -> Result<u8> {
    let options = Options::dev()?;
    let mut stack = LocalStack::start_aws(&options)?;

    let demo_port = demo_port()?;
    let redirect_uri = demo_redirect_uri(demo_port);
    eprintln!("dev: creating the demo client");
    let scopes = DEMO_SCOPES.join(",");
    let created = stack.cli_json(&[
        "client",
        "create",
        "--name",
        DEMO_NAME,
        "--redirect-uri",
        &redirect_uri,
        "--redirect-uri",
        POSTMAN_CALLBACK,
        "--scopes",
        &scopes,
    ])?;
    let field = |k: &str| {
        created[k]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                error!("no {k} in the output of portcullis client create --json: {created}")
            })
    };
    let client_id = field("client_id")?;
    let client_secret = field("client_secret")?;

    eprintln!("dev: creating the demo API key and seeding the example bookings table");
    let key = stack.cli_json(&[
        "apikey",
        "create",
        "--sub",
        DEMO_USER,
        "--scopes",
        "READ_BOOKING",
        "--name",
        "demo key",
    ])?;
    let api_key = key["api_key"].as_str().map(str::to_string).ok_or_else(|| {
        error!("no api_key in the output of portcullis apikey create --json: {key}")
    })?;
    stack.python(
        &crate::root().join("scripts/seed_bookings.py"),
        &[DEMO_USER],
    )?;

    write_demo_client(
        &options.log_dir.join(DEMO_CLIENT_FILE),
        &serde_json::json!({
            "issuer": stack.issuer,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "port": demo_port,
        }),
    )?;

    stack.start_functions()?;

    let info = info_text(&Info {
        issuer: &stack.issuer,
        client_id: &client_id,
        client_secret: &client_secret,
        redirect_uri: &redirect_uri,
        state: &generate("", &OsEntropy),
        verifier: &generate("", &OsEntropy),
    }) + &api_info_text(&stack.issuer, &api_key);
    print!("{info}");
    let saved = options.log_dir.join("dev-info.txt");
    std::fs::write(&saved, &info).map_err(|e| error!("cannot write {}: {e}", display(&saved)))?;

    // Until cargo lambda watch ends, or Ctrl-C (which stops everything and exits 130).
    let status = stack.wait();
    eprintln!(
        "dev: cargo lambda watch exited (status {})",
        status.map_or_else(|| "unknown".into(), |s| s.to_string())
    );
    stack.stop();
    Ok(exit_code(status))
}

/// Writes the demo client file, readable by this user only.
fn write_demo_client(path: &std::path::Path, v: &serde_json::Value) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| error!("cannot write {}: {e}", display(path)))?;
    writeln!(file, "{v}").map_err(|e| error!("cannot write {}: {e}", display(path)))
}

fn exit_code(status: Option<ExitStatus>) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => u8::try_from(c).unwrap_or(1),
            (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(1),
            _ => 1,
        },
        None => 1,
    }
}

/// What the info text names.
pub struct Info<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    /// A PKCE code verifier for the by-hand flow (RFC 7636): the demo client, like every client
    /// registered without `--pkce-optional`, must send its challenge.
    pub verifier: &'a str,
}

/// The text `make dev` prints once the stack is up (and saves in `.local/dev-info.txt`).
pub fn info_text(i: &Info<'_>) -> String {
    let Info {
        issuer,
        client_id,
        client_secret,
        redirect_uri,
        state,
        verifier,
    } = *i;
    let challenge = portcullis_core::pkce::CodeChallenge::s256(verifier);
    let authorize = format!("{issuer}/auth/oauth2/authorize");
    let token = format!("{issuer}/api/auth/oauth/token");
    let me = format!("{issuer}/api/auth/oauth/me");
    let refresh = format!("{issuer}/api/auth/oauth/refreshToken");
    let revoke = format!("{issuer}/api/auth/oauth/revoke");
    let introspect = format!("{issuer}/api/auth/oauth/introspect");
    let metadata = format!("{issuer}/.well-known/oauth-authorization-server");
    let scope = DEMO_SCOPES.join(" ");
    let authorize_url = format!(
        "{authorize}?client_id={}&redirect_uri={}&response_type=code&scope={}&state={}&code_challenge={}&code_challenge_method=S256",
        urlencode(client_id),
        urlencode(redirect_uri),
        urlencode(&scope),
        urlencode(state),
        challenge.as_str()
    );
    let rule = "=".repeat(90);
    let q = shell_quote;
    format!(
        "
{rule}
 Portcullis is running at {issuer}   (Ctrl-C stops everything)

 Demo client \"{DEMO_NAME}\" (scopes {scope})
   client_id:     {client_id}
   client_secret: {client_secret}

 Endpoints
   authorize: {authorize}
   token:     {token}
   refresh:   {refresh}
   me:        {me}
   revoke:    {revoke}
   introspect: {introspect}
   metadata:  {metadata}

 The whole flow in one minute: run `make demo` in another terminal, open the URL it prints,
 sign in (dev login: any name; alice has bookings) and click Allow. It does every step below.

 By hand:
 1. Start something that listens on {redirect_uri} (or `make demo`), then open (dev login is on):
   {authorize_url}

 2. After sign-in the browser lands on {redirect_uri}?code=...&state={state}
    Exchange the code for tokens:
   curl -sS -X POST {} -u {} \\
     -d grant_type=authorization_code --data-urlencode 'code=PASTE_CODE_HERE' \\
     --data-urlencode {} --data-urlencode {}

 3. Call the API with the access token:
   curl -sS {} -H 'Authorization: Bearer PASTE_ACCESS_TOKEN_HERE'

 4. Refresh (Cal.com's path; each refresh returns a new refresh token, the old one stops working):
   curl -sS -X POST {} -H 'Authorization: Bearer PASTE_REFRESH_TOKEN_HERE' \
     -d grant_type=refresh_token --data-urlencode {} --data-urlencode {}

 5. Introspect a token (RFC 7662), then revoke it (RFC 7009; a refresh token revokes its grant):
   curl -sS -X POST {} -u {} --data-urlencode 'token=PASTE_TOKEN_HERE'
   curl -sS -X POST {} -u {} --data-urlencode 'token=PASTE_TOKEN_HERE'

 6. Discovery (RFC 8414):
   curl -sS {}

 Logs: .local/watch.log, .local/moto.log   (this text: .local/dev-info.txt)
{rule}

",
        q(&token),
        q(&format!("{client_id}:{client_secret}")),
        q(&format!("redirect_uri={redirect_uri}")),
        q(&format!("code_verifier={verifier}")),
        q(&me),
        q(&refresh),
        q(&format!("client_id={client_id}")),
        q(&format!("client_secret={client_secret}")),
        q(&introspect),
        q(&format!("{client_id}:{client_secret}")),
        q(&revoke),
        q(&format!("{client_id}:{client_secret}")),
        q(&metadata),
    )
}

/// The user the dev login signs in as by default (`dev|<username>`, username `alice`): the demo
/// API key acts for this user, and the example bookings table has rows for it.
pub const DEMO_USER: &str = "dev|alice";

/// The part of the info text about the product's own API (`functions/list-bookings`).
pub fn api_info_text(issuer: &str, api_key: &str) -> String {
    let bookings = format!("{issuer}/api/bookings");
    let q = shell_quote;
    format!(
        " The product's own API (functions/list-bookings, needs READ_BOOKING):
   bookings:  {bookings}
   Demo API key for {DEMO_USER} (shown only here): {api_key}

   curl -sS {} -H {}
   curl -sS {}
   curl -sS {} -H 'Authorization: Bearer PASTE_ACCESS_TOKEN_HERE'   (sign in as alice)

",
        q(&bookings),
        q(&format!("Authorization: Bearer {api_key}")),
        q(&format!("{bookings}?apiKey={api_key}")),
        q(&bookings),
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_shell_words_are_quoted_only_where_needed() {
        assert_eq!(
            urlencode("http://127.0.0.1:8976/callback"),
            "http%3A%2F%2F127.0.0.1%3A8976%2Fcallback"
        );
        assert_eq!(
            urlencode("READ_PROFILE READ_BOOKING"),
            "READ_PROFILE%20READ_BOOKING"
        );
        assert_eq!(
            shell_quote("http://127.0.0.1:9000/api/auth/oauth/token"),
            "http://127.0.0.1:9000/api/auth/oauth/token"
        );
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
    }

    /// RFC 8252 §7.3: the demo app's redirect is a loopback IP literal with its port.
    #[test]
    fn the_demo_client_is_registered_with_the_demo_apps_loopback_redirect() {
        assert_eq!(
            demo_redirect_uri(DEFAULT_DEMO_PORT),
            "http://127.0.0.1:8976/callback"
        );
        assert!(info_text(&Info {
            issuer: "http://127.0.0.1:9300",
            client_id: "c1",
            client_secret: "s",
            redirect_uri: &demo_redirect_uri(8976),
            state: "st",
            verifier: "v",
        })
        .contains("make demo"));
    }

    #[test]
    fn the_info_names_the_client_the_endpoints_and_a_complete_authorize_url() {
        let text = info_text(&Info {
            issuer: "http://127.0.0.1:9300",
            client_id: "c1",
            client_secret: "pc_cs_s",
            redirect_uri: "http://127.0.0.1:8976/callback",
            state: "st",
            verifier: "v".repeat(43).as_str(),
        });
        assert!(text.contains("client_id:     c1\n"));
        let api = api_info_text("http://127.0.0.1:9300", "pc_ak_k");
        assert!(
            api.contains(
                "curl -sS http://127.0.0.1:9300/api/bookings -H 'Authorization: Bearer pc_ak_k'"
            ),
            "{api}"
        );
        assert!(
            api.contains("'http://127.0.0.1:9300/api/bookings?apiKey=pc_ak_k'"),
            "{api}"
        );
        assert!(text.contains("client_secret: pc_cs_s\n"));
        assert!(text.contains(
            "http://127.0.0.1:9300/auth/oauth2/authorize?client_id=c1&redirect_uri=http%3A%2F%2F127.0.0.1%3A8976%2Fcallback&response_type=code&scope=READ_PROFILE%20READ_BOOKING&state=st&code_challenge="
        ));
        // PKCE: the challenge of the printed verifier, and the verifier in the exchange.
        let challenge = portcullis_core::pkce::CodeChallenge::s256(&"v".repeat(43));
        assert!(text.contains(&format!(
            "code_challenge={}&code_challenge_method=S256",
            challenge.as_str()
        )));
        assert!(text.contains(&format!("code_verifier={}", "v".repeat(43))));
        assert!(text.contains("-u c1:pc_cs_s"));
        assert!(text.contains("me:        http://127.0.0.1:9300/api/auth/oauth/me\n"));
    }
}
