//! What the operator types, checked before anything is sent to AWS: redirect URIs, logos, names,
//! durations; and epoch seconds shown as UTC dates.
use crate::error::CliError;
use portcullis_core::ids::RedirectUri;
use url::Url;

/// At most this many redirect URIs per client.
pub const MAX_REDIRECT_URIS: usize = 10;
/// The longest `--name`, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest `--keep-old-for`: an overlap is for updating an integration, not a second secret.
pub const MAX_OVERLAP_SECS: u64 = 30 * 24 * 3600;

/// Parameters the server adds to a redirect (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 `iss`): a
/// registered URI whose query already has one would make the response ambiguous.
const RESPONSE_PARAMS: &[&str] = &[
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
];

/// Loopback hosts, where `http` is allowed (RFC 8252 §7.3, RFC 9700 §2.6).
const LOOPBACK: &[&str] = &["127.0.0.1", "[::1]", "localhost"];

/// Checks one redirect URI:
/// - absolute, without a fragment (RFC 6749 §3.1.2);
/// - no user information, which can disguise the host a user sees (RFC 3986 §7.6);
/// - `https` with a host; `http` only on a loopback host (RFC 8252 §7.3, RFC 9700 §2.6); or a
///   private-use scheme in reverse-domain form, with a dot (RFC 8252 §7.1: `com.example.app:/cb`);
/// - no query parameter the server adds to the redirect (`code`, `state`, `iss`, `error`...).
pub fn redirect_uri(uri: &str) -> Result<RedirectUri, String> {
    let url = Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URI ({e})"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "`{uri}` has a fragment, which a redirect URI must not have (RFC 6749 §3.1.2)"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{uri}` has user information (`user@`), which can disguise its host (RFC 3986 §7.6)"
        ));
    }
    match url.scheme() {
        "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("`{uri}` has no host"));
            }
        }
        "http" => {
            let host = url.host_str().unwrap_or_default();
            if !LOOPBACK.contains(&host) {
                return Err(format!(
                    "`{uri}` uses http on a host that is not loopback: use https, or http on \
                     127.0.0.1, [::1] or localhost for a native app (RFC 8252 §7.3)"
                ));
            }
        }
        scheme if scheme.contains('.') => {}
        scheme => {
            return Err(format!(
                "`{uri}`: scheme `{scheme}` is not https, loopback http, or a private-use scheme \
                 in reverse-domain form such as com.example.app:/cb (RFC 8252 §7.1)"
            ))
        }
    }
    if let Some((param, _)) = url
        .query_pairs()
        .find(|(k, _)| RESPONSE_PARAMS.contains(&k.as_ref()))
    {
        return Err(format!(
            "`{uri}` already has `{param}` in its query, a parameter the server adds to the \
             redirect (RFC 6749 §4.1.2, RFC 9207)"
        ));
    }
    Ok(RedirectUri::from(uri))
}

/// Checks the `--redirect-uri` list: 1 to [`MAX_REDIRECT_URIS`], each valid; repeats are
/// dropped, the order kept.
pub fn redirect_uris(uris: &[String]) -> Result<Vec<RedirectUri>, CliError> {
    let mut out: Vec<RedirectUri> = Vec::new();
    for uri in uris.iter().map(|u| u.trim()) {
        let checked =
            redirect_uri(uri).map_err(|e| CliError::Invalid(format!("--redirect-uri {e}")))?;
        if !out.contains(&checked) {
            out.push(checked);
        }
    }
    if out.is_empty() || out.len() > MAX_REDIRECT_URIS {
        return Err(CliError::Invalid(format!(
            "--redirect-uri: a client has 1 to {MAX_REDIRECT_URIS} redirect URIs, got {}",
            out.len()
        )));
    }
    Ok(out)
}

/// `--name`: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters (it is shown on
/// the consent page).
pub fn name(name: &str) -> Result<String, CliError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(CliError::Invalid(format!(
            "--name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(CliError::Invalid(
            "--name must not contain control characters (tabs, new lines)".into(),
        ));
    }
    Ok(name.to_string())
}

/// `--logo`: an absolute `https` URL with a host and no user information.
pub fn logo(logo: &str) -> Result<String, CliError> {
    let bad = || CliError::Invalid(format!("--logo `{logo}` must be an https URL"));
    let url = Url::parse(logo).map_err(|_| bad())?;
    if url.scheme() != "https"
        || url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(bad());
    }
    Ok(logo.to_string())
}

/// A duration such as `24h`, `90m`, `3600s`, `2d` or `0`; a bare number is seconds. At most
/// [`MAX_OVERLAP_SECS`].
pub fn duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    let n: u64 = digits.parse().ok().filter(|_| per > 0).ok_or_else(|| {
        format!("`{text}` is not a duration: use a number with s, m, h or d (`24h`, `90m`, `0`)")
    })?;
    let secs = n.saturating_mul(per);
    if secs > MAX_OVERLAP_SECS {
        return Err(format!("`{text}` is longer than 30 days"));
    }
    Ok(secs)
}

/// Epoch seconds as a UTC date and time (`2026-11-30T01:05:11Z`), for people.
pub fn utc(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(uri: &str) -> String {
        redirect_uri(uri).expect_err(uri)
    }

    /// RFC 6749 §3.1.2: a redirect URI is absolute.
    #[test]
    fn a_relative_redirect_uri_is_refused() {
        for bad in ["/cb", "cb", "", "//app.example/cb"] {
            assert!(refused(bad).contains("not an absolute URI"), "{bad}");
        }
    }

    /// RFC 6749 §3.1.2: a redirect URI has no fragment.
    #[test]
    fn a_redirect_uri_with_a_fragment_is_refused() {
        assert!(refused("https://app.example/cb#x").contains("fragment"));
        assert!(refused("https://app.example/cb#").contains("fragment"));
    }

    /// RFC 3986 §7.6: `https://good.example@evil.example/` shows one host and goes to another.
    #[test]
    fn a_redirect_uri_with_user_information_is_refused() {
        for bad in [
            "https://user@app.example/cb",
            "https://user:pw@app.example/cb",
            "http://app.example@127.0.0.1/cb",
        ] {
            assert!(refused(bad).contains("user information"), "{bad}");
        }
    }

    /// RFC 8252 §7.3, RFC 9700 §2.6: http only on a loopback host.
    #[test]
    fn http_is_refused_except_on_loopback_hosts() {
        for bad in [
            "http://app.example/cb",
            "http://127.0.0.2/cb",
            "http://localhost.evil.example/cb",
            "http://10.0.0.1/cb",
        ] {
            assert!(refused(bad).contains("not loopback"), "{bad}");
        }
        for good in [
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8765/callback",
            "http://[::1]:9/cb",
            "http://localhost/cb",
            "https://app.example/cb?tenant=1",
        ] {
            assert!(redirect_uri(good).is_ok(), "{good}");
        }
    }

    /// RFC 8252 §7.1: a native app's private-use scheme is a reverse domain name (has a dot);
    /// other schemes (`javascript:`, `data:`, a dotless custom scheme) are refused.
    #[test]
    fn only_reverse_domain_private_use_schemes_are_allowed() {
        assert!(redirect_uri("com.example.app:/cb").is_ok());
        assert!(redirect_uri("com.example.app://cb").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "myapp:/cb",
            "ftp://app.example/cb",
            "file:///etc/passwd",
        ] {
            assert!(refused(bad).contains("private-use scheme"), "{bad}");
        }
    }

    /// RFC 6749 §4.1.2 and RFC 9207: the server adds `code`, `state`, `iss` and `error` to the
    /// redirect; a registered query that has them already is refused.
    #[test]
    fn a_redirect_uri_whose_query_has_response_parameters_is_refused() {
        for p in RESPONSE_PARAMS {
            let uri = format!("https://app.example/cb?x=1&{p}=v");
            assert!(refused(&uri).contains(&format!("`{p}`")), "{uri}");
        }
        assert!(redirect_uri("https://app.example/cb?codes=1&x=state").is_ok());
    }

    #[test]
    fn one_to_ten_redirect_uris_repeats_dropped() {
        let list = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("https://app.example/cb{i}"))
                .collect()
        };
        assert!(redirect_uris(&list(10)).is_ok());
        let e = redirect_uris(&list(11)).unwrap_err().to_string();
        assert_eq!(
            e,
            "--redirect-uri: a client has 1 to 10 redirect URIs, got 11"
        );
        assert!(redirect_uris(&[]).is_err());
        let twice = vec![
            "https://a.example/cb".to_string(),
            " https://a.example/cb ".into(),
        ];
        assert_eq!(redirect_uris(&twice).unwrap().len(), 1);
        let e = redirect_uris(&["https://a.example/cb#f".into()]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("--redirect-uri `https://a.example/cb#f`"));
    }

    #[test]
    fn the_name_is_1_to_100_characters_without_control_characters() {
        assert_eq!(name("  Zap  ").unwrap(), "Zap");
        assert!(name(&"é".repeat(100)).is_ok());
        assert!(name(&"é".repeat(101)).is_err());
        assert!(name(" ").is_err());
        assert!(name("a\nb").unwrap_err().to_string().contains("control"));
    }

    #[test]
    fn the_logo_is_an_https_url_with_a_host() {
        assert!(logo("https://app.example/logo.png").is_ok());
        for bad in [
            "http://app.example/l.png",
            "https://",
            "l.png",
            "https://u@app.example/l.png",
            "data:image/png;base64,AA",
        ] {
            assert!(logo(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_take_a_unit_and_zero_ends_at_once() {
        assert_eq!(duration("0"), Ok(0));
        assert_eq!(duration("24h"), Ok(86_400));
        assert_eq!(duration("90m"), Ok(5_400));
        assert_eq!(duration("3600s"), Ok(3_600));
        assert_eq!(duration("2d"), Ok(172_800));
        assert_eq!(duration("45"), Ok(45));
        assert_eq!(duration("30d"), Ok(MAX_OVERLAP_SECS));
        for bad in [
            "",
            "h",
            "24x",
            "-1h",
            "1.5h",
            "24 h",
            "31d",
            "99999999999999999999d",
        ] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn epoch_seconds_print_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_000_711), "2026-11-30T01:05:11Z");
    }
}
