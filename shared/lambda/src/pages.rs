//! HTML pages, from compile-time-checked askama templates (auto-escaped: a client name holding
//! `<script>` is shown as text).
//!
//! Every page carries the product's [`PageSettings`] (its name, and the privacy and terms links
//! of the footer). The authorize function sets them once at cold start ([`configure`]); error
//! pages built far from the settings (the error mapping of `respond`) read them from there.
use askama::Template;
use portcullis_core::scope::ScopeDef;
use portcullis_core::settings::{PageSettings, DEFAULT_PRODUCT_NAME};
use std::sync::OnceLock;

static PRODUCT: OnceLock<PageSettings> = OnceLock::new();

/// Sets the product's page settings for this process (the first call wins).
pub fn configure(settings: PageSettings) {
    if PRODUCT.set(settings).is_err() {
        tracing::debug!("page settings were already configured");
    }
}

/// The product's page settings: those [`configure`]d, or the defaults.
pub fn product() -> &'static PageSettings {
    PRODUCT.get_or_init(|| PageSettings {
        product_name: DEFAULT_PRODUCT_NAME.into(),
        privacy_url: None,
        terms_url: None,
    })
}

/// One requested scope as the consent page shows it.
pub struct ScopeLine {
    pub name: String,
    /// A sentence a non-technical user understands.
    pub sentence: String,
}

impl ScopeLine {
    /// The catalog's description; for a scope without one, a sentence naming it.
    pub fn new(name: &str, def: Option<&ScopeDef>) -> Self {
        let sentence = match def.map(|d| d.description.trim()) {
            Some(d) if !d.is_empty() => d.to_string(),
            _ => format!("Use the “{name}” permission"),
        };
        Self {
            name: name.to_string(),
            sentence,
        }
    }
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub product: &'a PageSettings,
    pub client_name: &'a str,
    /// Only an `https` logo is shown; otherwise [`Self::client_initial`].
    pub logo_uri: Option<&'a str>,
    pub client_initial: String,
    pub user_display: &'a str,
    /// The login URL with `return_to` set to this request: "not you?".
    pub switch_account_url: &'a str,
    pub scopes: Vec<ScopeLine>,
    /// RFC 8707: the resource the access is for (its registered name, and its URI), when the
    /// request named one.
    pub resource: Option<(String, &'a str)>,
    pub redirect_host: &'a str,
    pub action: &'a str,
    pub hidden: Vec<(&'a str, &'a str)>,
    /// A client nobody vetted (dynamic registration, a metadata document): the page says so.
    pub unverified: Option<Unverified<'a>>,
}

/// What the consent page says about a client nobody vetted (MCP security considerations, RFC
/// 7591 §5: the name and logo are the client's own claims). Its logo is never shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unverified<'a> {
    /// A metadata-document client: the host that publishes its document (the URL's host, the
    /// one party that vouches for it).
    pub document_host: Option<&'a str>,
    /// Every redirect URI is a loopback one: a program on the user's computer (MCP:
    /// "additional warnings for localhost-only redirect URIs").
    pub local_only: bool,
}

impl<'a> ConsentPage<'a> {
    /// A logo is shown only over https (no mixed content, no `javascript:` or `data:`); the
    /// fallback is the client name's first letter.
    pub fn logo(logo_uri: Option<&'a str>) -> Option<&'a str> {
        logo_uri.filter(|u| {
            url::Url::parse(u).is_ok_and(|p| p.scheme() == "https" && p.host_str().is_some())
        })
    }

    /// The logo a client's consent page shows: [`Self::logo`] of an operator's client; never
    /// one of a client nobody vetted, whose logo URL could point anywhere (a tracking pixel,
    /// an impersonated brand), so its initial is shown instead.
    pub fn client_logo(client: &'a portcullis_core::model::Client) -> Option<&'a str> {
        if client.unvetted() {
            None
        } else {
            Self::logo(client.logo_uri.as_deref())
        }
    }

    /// What the page says about a client nobody vetted, or `None` for an operator's.
    pub fn unverified(client: &'a portcullis_core::model::Client) -> Option<Unverified<'a>> {
        if !client.unvetted() {
            return None;
        }
        let document_host = client.document.as_ref().and_then(|d| {
            let rest = d.url.strip_prefix("https://")?;
            let authority = rest.split('/').next()?;
            Some(authority)
        });
        let local_only =
            portcullis_core::metadata_document::redirects_only_to_loopback(&client.redirect_uris);
        Some(Unverified {
            document_host,
            local_only,
        })
    }

    pub fn initial(client_name: &str) -> String {
        client_name
            .chars()
            .find(|c| c.is_alphanumeric())
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_else(|| "?".into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub product: &'a PageSettings,
    pub title: &'a str,
    /// What happened, in the user's words; never internals.
    pub message: &'a str,
    /// What the user can do about it.
    pub hint: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub product: &'a PageSettings,
    pub action: &'a str,
    pub return_to: &'a str,
}

/// Renders a page; a template failure (none is expected: templates are checked at compile
/// time) degrades to a plain message rather than a panic.
pub fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|_| {
        "<!doctype html><html lang=\"en\"><title>Error</title><p>Something went wrong.</p></html>"
            .into()
    })
}

/// The title and the advice of an error page with this status.
fn title_and_hint(status: u16) -> (&'static str, &'static str) {
    match status {
        503 => (
            "Temporarily unavailable",
            "Wait a moment, then reload this page.",
        ),
        500 => (
            "Something went wrong",
            "Try again later. If it keeps happening, contact the application's support.",
        ),
        404 => (
            "Not found",
            "Check the link, or go back to the application you came from.",
        ),
        405 => (
            "This request cannot be completed",
            "Go back to the application you came from and start again.",
        ),
        _ => (
            "This request cannot be completed",
            "Go back to the application you came from and try again. If the problem persists, contact its developer: the link it sent you here with is not valid.",
        ),
    }
}

pub fn error_page(status: u16, message: &str) -> lambda_http::Response<lambda_http::Body> {
    let (title, hint) = title_and_hint(status);
    crate::http::html(
        status,
        render(&ErrorPage {
            product: product(),
            title,
            message,
            hint,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PageSettings {
        PageSettings {
            product_name: "Acme Calendar".into(),
            privacy_url: Some("https://acme.example/privacy".into()),
            terms_url: None,
        }
    }

    fn consent<'a>(
        product: &'a PageSettings,
        client_name: &'a str,
        logo: Option<&'a str>,
    ) -> String {
        render(&ConsentPage {
            logo_uri: ConsentPage::logo(logo),
            ..page(product, client_name)
        })
    }

    fn page<'a>(product: &'a PageSettings, client_name: &'a str) -> ConsentPage<'a> {
        let d = ScopeDef {
            name: "READ_PROFILE".into(),
            description: "See your profile".into(),
        };
        ConsentPage {
            product,
            client_name,
            logo_uri: None,
            client_initial: ConsentPage::initial(client_name),
            user_display: "alice",
            switch_account_url: "http://127.0.0.1:9000/auth/dev-login?return_to=x",
            scopes: vec![
                ScopeLine::new("READ_PROFILE", Some(&d)),
                ScopeLine::new("WRITE_THINGS", None),
            ],
            resource: None,
            redirect_host: "app.example",
            action: "/auth/oauth2/authorize",
            hidden: vec![("state", "\"><b>")],
            unverified: None,
        }
    }

    /// Issue 18, MCP security considerations: a client nobody vetted is marked unverified, with
    /// the host that publishes its document and a warning when it only redirects to loopback;
    /// its logo is never loaded. An operator's client gets neither.
    #[test]
    fn a_client_nobody_vetted_is_marked_unverified_and_its_logo_is_not_loaded() {
        use portcullis_core::model::{ClientOrigin, DocumentCopy};
        let mut c = portcullis_core::testkit::client("cimd_x")
            .redirect_uris(&["http://127.0.0.1/callback"])
            .build();
        c.logo_uri = Some("https://tracker.example/pixel.png".into());
        assert_eq!(ConsentPage::unverified(&c), None);
        assert_eq!(
            ConsentPage::client_logo(&c),
            Some("https://tracker.example/pixel.png")
        );
        c.origin = ClientOrigin::MetadataDocument;
        c.document = Some(DocumentCopy {
            url: "https://agent.example:8443/oauth/client.json".into(),
            fresh_until: 0,
        });
        assert_eq!(ConsentPage::client_logo(&c), None);
        let u = ConsentPage::unverified(&c).unwrap();
        assert_eq!(u.document_host, Some("agent.example:8443"));
        assert!(u.local_only);
        let p = settings();
        let html = render(&ConsentPage {
            unverified: Some(u),
            logo_uri: ConsentPage::client_logo(&c),
            redirect_host: "127.0.0.1",
            ..page(&p, "Agent")
        });
        assert!(html.contains("has not verified this application"), "{html}");
        assert!(
            html.contains("<strong>agent.example:8443</strong>"),
            "{html}"
        );
        assert!(
            html.contains("allow it only if you started it yourself"),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
        c.origin = ClientOrigin::Registration;
        c.document = None;
        c.redirect_uris = vec!["https://app.example/cb".into()];
        let u = ConsentPage::unverified(&c).unwrap();
        assert_eq!((u.document_host, u.local_only), (None, false));
        let html = render(&ConsentPage {
            unverified: Some(u),
            ..page(&p, "Agent")
        });
        assert!(
            html.contains("registered itself with Acme Calendar"),
            "{html}"
        );
        assert!(!consent(&p, "Zap App", None).contains("not verified"));
    }

    #[test]
    fn pages_escape_what_clients_registered() {
        let p = settings();
        let html = consent(
            &p,
            "<script>alert(1)</script>",
            Some("https://x/\"onerror=\"alert(1)"),
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("\"onerror=\""), "{html}");
        assert!(!html.contains("\"><b>"), "{html}");
        assert!(html.contains(r#"name="decision" value="allow""#));
        assert!(html.contains(r#"name="decision" value="deny""#));
    }

    #[test]
    fn consent_page_says_each_scope_as_a_sentence_and_names_product_account_and_host() {
        let p = settings();
        let html = consent(&p, "Zap App", None);
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("See your profile"), "{html}");
        assert!(html.contains("Use the “WRITE_THINGS” permission"), "{html}");
        assert!(html.contains("your Acme Calendar account"), "{html}");
        assert!(
            html.contains("Signed in as <strong>alice</strong>"),
            "{html}"
        );
        assert!(
            html.contains(
                r#"href="http://127.0.0.1:9000/auth/dev-login?return_to=x">not you?</a>"#
            ),
            "{html}"
        );
        assert!(html.contains("<strong>app.example</strong>"), "{html}");
        assert!(
            html.contains(r#"href="https://acme.example/privacy""#),
            "{html}"
        );
        assert!(!html.contains("Terms of service"), "{html}");
    }

    #[test]
    fn client_logo_is_shown_only_over_https_with_the_initial_as_fallback() {
        assert_eq!(
            ConsentPage::logo(Some("https://cdn.example/logo.png")),
            Some("https://cdn.example/logo.png")
        );
        assert_eq!(ConsentPage::logo(Some("http://cdn.example/logo.png")), None);
        assert_eq!(ConsentPage::logo(Some("javascript:alert(1)")), None);
        assert_eq!(ConsentPage::logo(Some("data:image/png;base64,AA")), None);
        let p = settings();
        let html = consent(&p, "zap App", Some("http://cdn.example/logo.png"));
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains(r#"<span class="initial" aria-hidden="true">Z</span>"#),
            "{html}"
        );
        assert_eq!(ConsentPage::initial("<>"), "?");
    }

    #[test]
    fn error_pages_say_what_the_user_can_do_and_never_internals() {
        let r = error_page(503, "The service is briefly unavailable.");
        let lambda_http::Body::Text(html) = r.body() else {
            panic!("not text")
        };
        assert_eq!(r.status(), 503);
        assert!(html.contains("Temporarily unavailable"), "{html}");
        assert!(html.contains("reload this page"), "{html}");
        let r = error_page(400, "The redirect URI is not registered for this client.");
        let lambda_http::Body::Text(html) = r.body() else {
            panic!("not text")
        };
        assert!(html.contains("Go back to the application"), "{html}");
    }
}
