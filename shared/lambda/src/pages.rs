//! HTML pages, from compile-time-checked askama templates (auto-escaped).
use askama::Template;
use portcullis_core::scope::ScopeDef;

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub logo_uri: Option<&'a str>,
    pub user_display: &'a str,
    pub scopes: Vec<&'a ScopeDef>,
    pub redirect_host: &'a str,
    pub action: &'a str,
    pub hidden: Vec<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub action: &'a str,
    pub return_to: &'a str,
}

/// Renders a page; a template failure (none is expected: templates are checked at compile
/// time) degrades to a plain message rather than a panic.
pub fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|_| {
        "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
    })
}

pub fn error_page(status: u16, message: &str) -> lambda_http::Response<lambda_http::Body> {
    let title = match status {
        503 => "Temporarily unavailable",
        500 => "Something went wrong",
        404 => "Not found",
        _ => "This request cannot be completed",
    };
    crate::http::html(status, render(&ErrorPage { title, message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_clients_registered() {
        let d = ScopeDef {
            name: "READ_PROFILE".into(),
            description: "See your profile".into(),
        };
        let html = render(&ConsentPage {
            client_name: "<script>alert(1)</script>",
            logo_uri: Some("https://x/\"onerror=\"alert(1)"),
            user_display: "ada",
            scopes: vec![&d],
            redirect_host: "app.example",
            action: "/auth/oauth2/authorize",
            hidden: vec![("state", "\"><b>")],
        });
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("\"onerror=\""), "{html}");
        assert!(!html.contains("\"><b>"), "{html}");
        assert!(html.contains("See your profile"));
        assert!(html.contains(r#"name="decision" value="allow""#));
        assert!(html.contains(r#"name="decision" value="deny""#));
    }
}
