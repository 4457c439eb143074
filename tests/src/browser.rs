//! The user's browser, as far as the flow needs one: no automatic redirects (each hop is
//! checked), the session cookie sent by hand, consent forms read and submitted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::header::{COOKIE, LOCATION};
use reqwest::StatusCode;

pub struct Browser {
    http: reqwest::Client,
    cookie: Option<String>,
}

/// A response, read whole.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: no_redirect_client(),
            cookie: None,
        }
    }

    /// A browser holding the host application's session cookie.
    pub fn signed_in(session_token: &str) -> Self {
        Self {
            http: no_redirect_client(),
            cookie: Some(format!("session={session_token}")),
        }
    }

    pub fn set_cookie(&mut self, cookie: String) {
        self.cookie = Some(cookie);
    }

    pub async fn get(&self, url: &str) -> Page {
        let mut r = self.http.get(url);
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        read(r.send().await.unwrap()).await
    }

    pub async fn post_form(&self, url: &str, pairs: &[(String, String)]) -> Page {
        let mut r = self.http.post(url).form(pairs);
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        read(r.send().await.unwrap()).await
    }

    /// Opens an authorization URL, expects the consent page, and clicks `decision`
    /// ("allow" or "deny"). Returns where the browser is sent.
    pub async fn consent(&self, authorize_url: &str, decision: &str) -> String {
        let page = self.get(authorize_url).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "expected the consent page, got: {}",
            page.body
        );
        let mut fields = hidden_fields(&page.body);
        fields.push(("decision".into(), decision.into()));
        let action = form_action(&page.body).expect("consent form action");
        let after = self.post_form(&action, &fields).await;
        assert_eq!(
            after.status,
            StatusCode::SEE_OTHER,
            "consent POST: {}",
            after.body
        );
        after.location.expect("Location after consent")
    }
}

pub fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn read(r: reqwest::Response) -> Page {
    let status = r.status();
    let headers = r.headers().clone();
    let location = headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = r.text().await.unwrap_or_default();
    Page {
        status,
        location,
        headers,
        body,
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The hidden inputs of the page's form, unescaped.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            if attr(tag, "type")? != "hidden" {
                return None;
            }
            Some((attr(tag, "name")?, attr(tag, "value")?))
        })
        .collect()
}

pub fn form_action(html: &str) -> Option<String> {
    let rest = &html[html.find("<form")?..];
    attr(&rest[..rest.find('>')?], "action")
}

/// HTML character references, as a browser decodes them in attribute values.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
