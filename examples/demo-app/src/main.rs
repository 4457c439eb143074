//! The demo third-party app: what an integration such as Zapier does with Portcullis, end to end,
//! on the `oauth2` crate.
//!
//! 1. discovers the endpoints from the metadata document (RFC 8414), falling back to the fixed
//!    paths;
//! 2. serves a loopback redirect listener on `127.0.0.1` (RFC 8252 §7.3) and prints the
//!    authorization URL, with PKCE (RFC 7636) and `state`;
//! 3. receives the code, checks `state` and `iss` (RFC 9207), exchanges the code, calls `/me` and
//!    `/api/bookings`, refreshes (RFC 6749 §6), revokes (RFC 7009) and shows that the revoked
//!    token no longer works;
//! 4. shows each step on a small page and on the terminal, then exits (0 when every step passed).
//!
//! `make demo` runs it against `make dev`'s stack; the client it uses is the demo client `make dev`
//! registered (`.local/demo-client.json`). Tokens are shown only as a short prefix.
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The default port of the redirect listener (`DEMO_PORT` overrides it; `make dev` registers the
/// same port).
const DEFAULT_PORT: u16 = 8976;
const SCOPES: &[&str] = &["READ_PROFILE", "READ_BOOKING"];

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Where the app finds its client and the server.
struct Config {
    issuer: String,
    client_id: String,
    client_secret: String,
    port: u16,
    open_browser: bool,
}

fn usage() -> &'static str {
    "demo-app: plays a third-party app against a running Portcullis (make dev, then make demo)

Usage: demo-app [--open]

  --open    also open the authorization URL in the default browser (xdg-open)

Environment (each optional):
  DEMO_CLIENT_FILE     the demo client file make dev writes (default .local/demo-client.json)
  DEMO_CLIENT_ID       client id (default: from DEMO_CLIENT_FILE)
  DEMO_CLIENT_SECRET   client secret (default: from DEMO_CLIENT_FILE)
  PORTCULLIS_ISSUER    the server (default: from DEMO_CLIENT_FILE, else http://127.0.0.1:$PORTCULLIS_PORT)
  DEMO_PORT            the loopback redirect listener's port (default 8976; make dev registers the same)"
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads the configuration: flags, then the environment, then the file `make dev` writes.
fn config() -> Result<Config, Error> {
    let mut open_browser = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--open" => open_browser = true,
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`\n\n{}", usage()).into()),
        }
    }
    let file = env("DEMO_CLIENT_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".local/demo-client.json"));
    let saved: Value = match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", file.display()))?,
        Err(_) => Value::Null,
    };
    let pick = |var: &str, key: &str| env(var).or_else(|| saved[key].as_str().map(str::to_string));
    let missing = |what: &str| -> Error {
        format!(
            "no {what}: start the stack with `make dev` first (it writes {}), or set DEMO_CLIENT_ID and DEMO_CLIENT_SECRET",
            file.display()
        )
        .into()
    };
    let port = match env("DEMO_PORT") {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("DEMO_PORT must be a port number, got `{p}`"))?,
        None => saved["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(DEFAULT_PORT),
    };
    let issuer = pick("PORTCULLIS_ISSUER", "issuer").unwrap_or_else(|| {
        format!(
            "http://127.0.0.1:{}",
            env("PORTCULLIS_PORT").unwrap_or_else(|| "9000".into())
        )
    });
    Ok(Config {
        issuer: issuer.trim_end_matches('/').to_string(),
        client_id: pick("DEMO_CLIENT_ID", "client_id").ok_or_else(|| missing("client id"))?,
        client_secret: pick("DEMO_CLIENT_SECRET", "client_secret")
            .ok_or_else(|| missing("client secret"))?,
        port,
        open_browser,
    })
}

/// The endpoints, from the metadata document when the server publishes one.
struct Endpoints {
    authorize: String,
    token: String,
    me: String,
    revoke: Option<String>,
    bookings: String,
}

/// The endpoints, and what was found; an error when the server does not answer at all.
async fn discover(http: &reqwest::Client, issuer: &str) -> Result<(Endpoints, String), Error> {
    let fallback = Endpoints {
        authorize: format!("{issuer}/auth/oauth2/authorize"),
        token: format!("{issuer}/api/auth/oauth/token"),
        me: format!("{issuer}/api/auth/oauth/me"),
        revoke: None,
        bookings: format!("{issuer}/api/bookings"),
    };
    let url = format!("{issuer}/.well-known/oauth-authorization-server");
    let doc = match http.get(&url).send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
        Ok(_) => None,
        Err(e) if e.is_connect() || e.is_timeout() => {
            return Err(format!(
                "nothing answers at {issuer} ({e}): start the stack with `make dev` first"
            )
            .into())
        }
        Err(_) => None,
    };
    let Some(doc) = doc else {
        return Ok((
            fallback,
            format!("no metadata at {url}; using the fixed paths"),
        ));
    };
    let field = |k: &str| doc[k].as_str().map(str::to_string);
    let e = Endpoints {
        authorize: field("authorization_endpoint").unwrap_or(fallback.authorize),
        token: field("token_endpoint").unwrap_or(fallback.token),
        me: field("userinfo_endpoint").unwrap_or(fallback.me),
        revoke: field("revocation_endpoint"),
        bookings: fallback.bookings,
    };
    let summary = format!(
        "GET {url}\nauthorization_endpoint: {}\ntoken_endpoint: {}\nuserinfo_endpoint: {}\nrevocation_endpoint: {}",
        e.authorize,
        e.token,
        e.me,
        e.revoke.as_deref().unwrap_or("(none)")
    );
    Ok((e, summary))
}

/// One step of the flow, as the page and the terminal show it.
struct Step {
    title: String,
    ok: bool,
    detail: String,
}

struct Report {
    steps: Vec<Step>,
}

impl Report {
    fn add(&mut self, title: &str, ok: bool, detail: impl Into<String>) {
        let step = Step {
            title: title.into(),
            ok,
            detail: detail.into(),
        };
        println!(
            "\n[{}] {}\n{}",
            if ok { " ok " } else { "FAIL" },
            step.title,
            indent(&step.detail)
        );
        self.steps.push(step);
    }

    fn all_ok(&self) -> bool {
        self.steps.iter().all(|s| s.ok)
    }

    fn html(&self) -> String {
        let mut body = String::new();
        for (i, s) in self.steps.iter().enumerate() {
            let _ = writeln!(
                body,
                "<li class=\"{}\"><h2>{}. {} <span>{}</span></h2><pre>{}</pre></li>",
                if s.ok { "ok" } else { "fail" },
                i + 1,
                escape(&s.title),
                if s.ok { "passed" } else { "failed" },
                escape(&s.detail)
            );
        }
        let verdict = if self.all_ok() {
            "Every step passed: the app signed you in, read your profile and bookings, refreshed and revoked its access."
        } else {
            "A step failed: see the details below and the terminal."
        };
        page(
            "Demo app: result",
            &format!(
                "<h1 id=\"result\">Demo app: the whole flow</h1><p class=\"verdict\">{}</p><ol class=\"steps\">{body}</ol>",
                escape(verdict)
            ),
        )
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// HTML-escapes text for the demo's pages.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>
body{{font-family:system-ui,sans-serif;background:#f6f7f9;color:#1d2330;margin:0;padding:2rem 1rem}}
main{{max-width:46rem;margin:auto;background:#fff;border-radius:12px;padding:1.5rem 2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}}
ol.steps{{list-style:none;padding:0}} ol.steps li{{border-left:4px solid #15803d;padding:.2rem 1rem;margin:1rem 0}}
ol.steps li.fail{{border-color:#b91c1c}} h2{{font-size:1rem;margin:.3rem 0}} h2 span{{font-weight:400;color:#4f5869;font-size:.85rem}}
pre{{background:#f3f4f6;padding:.6rem;border-radius:6px;white-space:pre-wrap;word-break:break-all;font-size:.8rem}}
a.button{{display:inline-block;background:#1d4ed8;color:#fff;padding:.7rem 1.2rem;border-radius:8px;text-decoration:none;font-weight:600}}
</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

/// A secret shown as its first characters only.
fn short(secret: &str) -> String {
    let head: String = secret.chars().take(10).collect();
    format!("{head}… ({} characters)", secret.chars().count())
}

/// A JSON body with every token-looking field shortened.
fn redacted(v: &Value) -> String {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        for (k, val) in map.iter_mut() {
            if k.contains("token") {
                if let Some(s) = val.as_str() {
                    *val = Value::String(short(s));
                }
            }
        }
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// `GET url` with a bearer token: the status and the body.
async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> (u16, String) {
    match http.get(url).bearer_auth(token).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(|v| format!("WWW-Authenticate: {v}\n"))
                .unwrap_or_default();
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            (
                status,
                format!("GET {url}\n{status}\n{challenge}{}", redacted(&body)),
            )
        }
        Err(e) => (0, format!("GET {url}\nrequest failed: {e}")),
    }
}

/// A minimal HTTP/1.1 request line reader for the loopback listener: the path and query of a
/// GET. Headers are read and ignored.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    loop {
        let mut header = String::new();
        let n = reader.read_line(&mut header).await.ok()?;
        if n == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    Some(target)
}

async fn respond(stream: &mut TcpStream, status: &str, html: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{html}",
        html.len()
    );
    if let Err(e) = stream.write_all(response.as_bytes()).await {
        eprintln!("demo-app: could not answer the browser: {e}");
    }
    let _ = stream.shutdown().await;
}

fn query_param(target: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(&format!("http://127.0.0.1{target}")).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The flow after the browser came back with a code.
async fn finish(
    cfg: &Config,
    http: &reqwest::Client,
    endpoints: &Endpoints,
    target: &str,
    state: &CsrfToken,
    verifier: PkceCodeVerifier,
    report: &mut Report,
) -> Result<(), Error> {
    if let Some(error) = query_param(target, "error") {
        report.add(
            "Authorization response",
            false,
            format!(
                "The server sent the browser back with error={error}{}",
                query_param(target, "error_description")
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
        );
        return Ok(());
    }
    // RFC 6749 §10.12: the state must be the one this app sent.
    let state_ok = query_param(target, "state").as_deref() == Some(state.secret().as_str());
    // RFC 9207 §2.4: the `iss` must be the issuer this app talked to.
    let iss = query_param(target, "iss");
    let iss_ok = iss.as_deref().is_none_or(|i| i == cfg.issuer);
    let Some(code) = query_param(target, "code").filter(|_| state_ok && iss_ok) else {
        report.add(
            "Authorization response",
            false,
            format!("Refused: state matches: {state_ok}; iss matches: {iss_ok}; or no code"),
        );
        return Ok(());
    };
    report.add(
        "Authorization response",
        true,
        format!(
            "code: {}\nstate matches: yes\niss: {}",
            short(&code),
            iss.unwrap_or_else(|| "(not sent)".into())
        ),
    );

    let client = BasicClient::new(ClientId::new(cfg.client_id.clone()))
        .set_client_secret(ClientSecret::new(cfg.client_secret.clone()))
        .set_token_uri(TokenUrl::new(endpoints.token.clone())?)
        .set_redirect_uri(redirect_url(cfg)?);

    let tokens = match client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            report.add("Exchange the code (POST token)", false, describe(&e));
            return Ok(());
        }
    };
    let access = tokens.access_token().secret().clone();
    report.add(
        "Exchange the code (POST token, with the PKCE verifier)",
        true,
        format!(
            "POST {}\naccess_token: {}\nrefresh_token: {}\nexpires_in: {}\nscope: {}",
            endpoints.token,
            short(&access),
            tokens
                .refresh_token()
                .map(|r| short(r.secret()))
                .unwrap_or_else(|| "(none)".into()),
            tokens
                .expires_in()
                .map_or_else(|| "(none)".into(), |d| format!("{} s", d.as_secs())),
            tokens
                .scopes()
                .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        ),
    );

    let (status, detail) = get_json(http, &endpoints.me, &access).await;
    report.add("Who is this? (GET /me)", status == 200, detail);
    let (status, detail) = get_json(http, &endpoints.bookings, &access).await;
    report.add(
        "The product's API (GET /api/bookings)",
        status == 200,
        detail,
    );

    let Some(refresh) = tokens.refresh_token() else {
        report.add("Refresh", false, "the token response had no refresh token");
        return Ok(());
    };
    let refreshed = match client
        .exchange_refresh_token(refresh)
        .request_async(http)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            report.add(
                "Refresh (POST token, grant_type=refresh_token)",
                false,
                describe(&e),
            );
            return Ok(());
        }
    };
    let new_refresh = refreshed.refresh_token().cloned();
    report.add(
        "Refresh (POST token, grant_type=refresh_token)",
        true,
        format!(
            "new access_token: {}\nnew refresh_token: {} (the old one is retired)",
            short(refreshed.access_token().secret()),
            new_refresh
                .as_ref()
                .map(|r| short(r.secret()))
                .unwrap_or_else(|| "(none)".into())
        ),
    );

    let Some(rt) = new_refresh else {
        return Ok(());
    };
    let Some(revoke_url) = endpoints.revoke.as_deref() else {
        report.add("Revoke", false, "the metadata names no revocation_endpoint");
        return Ok(());
    };
    // RFC 7009 §2.1, by hand: the oauth2 crate sends revocation only to https URLs, and the local
    // stack is plain http on 127.0.0.1. RFC 6749 §2.3.1: the Basic credentials are form-encoded.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let revoked = http
        .post(revoke_url)
        .basic_auth(enc(&cfg.client_id), Some(enc(&cfg.client_secret)))
        .form(&[
            ("token", rt.secret().as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await;
    match revoked {
        Ok(r) if r.status().is_success() => {
            report.add(
                "Revoke the grant (POST revoke, RFC 7009)",
                true,
                format!(
                    "POST {revoke_url}\n{}: the refresh token and its grant are revoked",
                    r.status().as_u16()
                ),
            );
            let (status, detail) =
                get_json(http, &endpoints.me, refreshed.access_token().secret()).await;
            report.add(
                "The revoked grant's access token is refused (GET /me)",
                status == 401,
                detail,
            );
        }
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            report.add(
                "Revoke the grant (POST revoke, RFC 7009)",
                false,
                format!("POST {revoke_url}\n{status}\n{body}"),
            );
        }
        Err(e) => report.add("Revoke (POST revoke)", false, describe(&e)),
    }
    Ok(())
}

fn describe<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(text, "\n  caused by: {s}");
        source = s.source();
    }
    text
}

fn redirect_url(cfg: &Config) -> Result<RedirectUrl, Error> {
    Ok(RedirectUrl::new(format!(
        "http://127.0.0.1:{}/callback",
        cfg.port
    ))?)
}

async fn run() -> Result<bool, Error> {
    let cfg = config()?;
    // The app follows no redirects from the server (RFC 9700 §4.11).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut report = Report { steps: Vec::new() };

    let (endpoints, summary) = discover(&http, &cfg.issuer).await?;
    report.add("Discover the endpoints (RFC 8414 metadata)", true, summary);

    let listener = TcpListener::bind(("127.0.0.1", cfg.port))
        .await
        .map_err(|e| {
            format!(
                "cannot listen on 127.0.0.1:{} ({e}); set DEMO_PORT",
                cfg.port
            )
        })?;
    let home = format!("http://127.0.0.1:{}/", cfg.port);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let app = BasicClient::new(ClientId::new(cfg.client_id.clone()))
        .set_auth_uri(AuthUrl::new(endpoints.authorize.clone())?)
        .set_redirect_uri(redirect_url(&cfg)?);
    let mut request = app
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for s in SCOPES {
        request = request.add_scope(Scope::new((*s).into()));
    }
    let (authorize_url, state) = request.url();
    report.add(
        "Build the authorization URL (PKCE S256 + state)",
        true,
        format!(
            "client_id: {}\nredirect_uri: {}callback",
            cfg.client_id, home
        ),
    );
    println!(
        "\nOpen this in a browser, sign in, and click Allow:\n\n    {authorize_url}\n\n(or open {home} and click the button)"
    );
    if cfg.open_browser {
        if let Err(e) = std::process::Command::new("xdg-open")
            .arg(authorize_url.as_str())
            .spawn()
        {
            println!("(could not open a browser: {e}; open the URL above yourself)");
        }
    }

    let mut verifier = Some(verifier);
    loop {
        let (mut stream, _) = listener.accept().await?;
        let Some(target) = read_request(&mut stream).await else {
            continue;
        };
        if target.starts_with("/callback") {
            let Some(v) = verifier.take() else {
                continue;
            };
            finish(&cfg, &http, &endpoints, &target, &state, v, &mut report).await?;
            respond(&mut stream, "200 OK", &report.html()).await;
            println!(
                "\n{}",
                if report.all_ok() {
                    "demo-app: every step passed."
                } else {
                    "demo-app: a step failed."
                }
            );
            return Ok(report.all_ok());
        } else if target == "/" {
            let body = format!(
                "<h1>Demo app</h1><p>This app wants to read your profile and your bookings from the server at <code>{}</code>.</p><p><a class=\"button\" id=\"connect\" href=\"{}\">Connect your account</a></p>",
                escape(&cfg.issuer),
                escape(authorize_url.as_str())
            );
            respond(&mut stream, "200 OK", &page("Demo app", &body)).await;
        } else {
            respond(
                &mut stream,
                "404 Not Found",
                &page("Not found", "<p>Not found.</p>"),
            )
            .await;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("demo-app: error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_shown_only_as_a_short_prefix() {
        let v =
            serde_json::json!({"access_token": "pc_at_0123456789abcdef", "scope": "READ_PROFILE"});
        let text = redacted(&v);
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(text.contains("pc_at_0123"), "{text}");
        assert!(text.contains("READ_PROFILE"), "{text}");
    }

    #[test]
    fn the_result_page_escapes_what_the_server_sent() {
        let mut r = Report { steps: Vec::new() };
        r.add("<b>step</b>", true, "<script>alert(1)</script>");
        let html = r.html();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;b&gt;step"), "{html}");
    }

    #[test]
    fn the_callback_query_is_read_by_name() {
        assert_eq!(
            query_param("/callback?code=a%2Bb&state=s", "code").as_deref(),
            Some("a+b")
        );
        assert_eq!(query_param("/callback?state=s", "code"), None);
    }
}
