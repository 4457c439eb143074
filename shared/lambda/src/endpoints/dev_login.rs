//! Local development only (`DEV_LOGIN=true`): a form at the login URL's path that signs in
//! whoever is typed, by setting the session cookie the host application would set. The authorize
//! function serves it, so the local stack needs no host application.
use crate::http::{form_params, html, query_params, see_other_with_cookie};
use crate::pages::{error_page, render, LoginPage};
use crate::respond::PageError;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_core::clock::Clock;
use portcullis_core::ids::Subject;
use portcullis_core::keys::{KeyCache, KeySource, Keys};
use portcullis_core::model::UserInfo;
use portcullis_core::session::{sign_session, Session};
use portcullis_core::settings::AuthorizeSettings;

/// How long a dev-login session lasts.
const DEV_SESSION_TTL: u64 = 8 * 3600;

/// Whether `path` is the login URL's path (where the form is served).
pub fn is_login_path(settings: &AuthorizeSettings, path: &str) -> bool {
    url::Url::parse(&settings.login_url).is_ok_and(|u| u.path() == path)
}

/// GET: the form. POST: sign in, then back to `return_to` (only into this server).
pub async fn handle<K: KeySource<Keys = Keys>>(
    settings: &AuthorizeSettings,
    keys: &KeyCache<K>,
    clock: &dyn Clock,
    req: &Request,
) -> Result<Response<Body>, PageError> {
    match *req.method() {
        Method::GET => {
            let query = query_params(req);
            Ok(html(
                200,
                render(&LoginPage {
                    product: &settings.pages,
                    action: &settings.login_url,
                    return_to: query.get("return_to").unwrap_or(""),
                }),
            ))
        }
        Method::POST => {
            let form = form_params(req).unwrap_or_default();
            let field = |name: &str| form.get(name).map(|v| v.trim().to_string());
            let Some(username) = field("username").filter(|u| !u.is_empty() && u.len() <= 64)
            else {
                return Ok(error_page(400, "Type a username of at most 64 characters."));
            };
            let keys = keys.get(clock.now()).await?;
            let session = Session {
                user: UserInfo {
                    sub: Subject::new(format!("dev|{username}")),
                    username: Some(username.clone()),
                    email: Some(format!("{username}@example.test")),
                    name: Some(username),
                },
                exp: clock.now() + DEV_SESSION_TTL,
            };
            let token = sign_session(&session, &keys.session);
            let secure = if settings.issuer.starts_with("https://") {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={DEV_SESSION_TTL}{secure}",
                settings.session_cookie,
                token.secret()
            );
            let return_to = field("return_to")
                .filter(|r| r.starts_with(&format!("{}/", settings.issuer)))
                .unwrap_or_else(|| settings.issuer.clone() + "/");
            Ok(see_other_with_cookie(&return_to, &cookie))
        }
        _ => Ok(error_page(405, "Use GET or POST.")),
    }
}
