//! Which proxy a download goes through, from the environment as curl reads it: `HTTPS_PROXY`
//! for https URLs, `HTTP_PROXY` for http ones, `ALL_PROXY` for both (lower-case names too), and
//! `NO_PROXY` — hosts (and their subdomains) to reach directly, `*` for all. ureq 2 reads the
//! first three but not `NO_PROXY`, so the choice is made here.

use percent_encoding::percent_decode_str;

/// The proxy for `url`, given how to read an environment variable; `None` to connect directly.
pub fn proxy_for(url: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    // The upper-case name first, then the lower-case one; an empty value counts as unset.
    let read = |name: &str| {
        [name.to_string(), name.to_lowercase()]
            .iter()
            .find_map(|n| env(n).filter(|value| !value.trim().is_empty()))
    };
    let (scheme, rest) = url.split_once("://")?;
    let host = host_of(rest);
    if let Some(no_proxy) = read("NO_PROXY")
        && bypasses(&no_proxy, &host)
    {
        return None;
    }
    let specific = match scheme.to_ascii_lowercase().as_str() {
        "https" => read("HTTPS_PROXY"),
        "http" => read("HTTP_PROXY"),
        _ => None,
    };
    specific.or_else(|| read("ALL_PROXY"))
}

/// `proxy` as messages show it: a password in it (`http://user:secret@host`) replaced by `***`,
/// and a user name without one, or with an empty one (often a token), hidden whole, since
/// messages end up in logs and bug reports (hostile round 13's verifier, and round 14's for the
/// token).
pub fn proxy_shown(proxy: &str) -> String {
    let (scheme, rest) = split_scheme(proxy);
    let Some((user_info, host)) = user_info_and_host(rest) else {
        return proxy.to_string();
    };
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    match user_info.split_once(':') {
        Some((user, password)) if !password.is_empty() => format!("{scheme}{user}:***@{host}"),
        _ => format!("{scheme}***@{host}"),
    }
}

/// The `user:password` of `proxy` when it names a user, each percent-decoded as curl and Python
/// read them (a password holding `@` or `:` is written `%40`, `%3A`; `+` stays `+`): ureq 2
/// sent them as written in an https CONNECT, and so did glimpse's own header for http, and an
/// authenticating proxy refused `p%40ss` it knew as `p@ss`. A user name without a password
/// (often a token) goes with an empty one, as curl sends it. An error when the decoded user
/// name holds `:` (Basic authentication cannot carry one) or either is not UTF-8.
pub fn proxy_credentials(proxy: &str) -> Result<Option<String>, &'static str> {
    let Some((user_info, _)) = user_info_and_host(split_scheme(proxy).1) else {
        return Ok(None);
    };
    if user_info.is_empty() {
        return Ok(None);
    }
    let (user, password) = user_info.split_once(':').unwrap_or((user_info, ""));
    let user = percent_decoded(user)?;
    if user.contains(':') {
        return Err("its user name holds `:` once percent-decoded, which Basic authentication cannot carry");
    }
    Ok(Some(format!("{user}:{}", percent_decoded(password)?)))
}

fn percent_decoded(text: &str) -> Result<std::borrow::Cow<'_, str>, &'static str> {
    percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| "its user name or password is not UTF-8 text once percent-decoded")
}

/// `proxy` as ureq 2 is to read it: its user name and password percent-decoded
/// ([`proxy_credentials`]), since ureq sends them as it finds them, and `http://` written out
/// where it names no scheme (ureq's default), so that a decoded password holding `://` is never
/// taken for the end of one.
pub fn proxy_for_ureq(proxy: &str) -> Result<String, &'static str> {
    let (scheme, rest) = split_scheme(proxy);
    let scheme = if scheme.is_empty() { "http" } else { scheme };
    Ok(match (proxy_credentials(proxy)?, user_info_and_host(rest)) {
        (Some(credentials), Some((_, host))) => format!("{scheme}://{credentials}@{host}"),
        _ => format!("{scheme}://{rest}"),
    })
}

/// `proxy`'s scheme (empty where it names none) and what follows its `://`.
fn split_scheme(proxy: &str) -> (&str, &str) {
    proxy.split_once("://").unwrap_or(("", proxy))
}

/// What follows a proxy's `scheme://`, split at its last `@` as ureq splits it: a password may
/// hold `/`, `?`, `#` or `@` (one with `/` was shown whole when only the authority was read).
fn user_info_and_host(rest: &str) -> Option<(&str, &str)> {
    rest.rsplit_once('@')
}

/// The host of what follows `scheme://`, lower-case, without user info, port or path.
fn host_of(rest: &str) -> String {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.to_ascii_lowercase()
}

/// Whether `NO_PROXY` (comma-separated hosts or domains, a leading dot optional, `*` for all)
/// covers `host`.
fn bypasses(no_proxy: &str, host: &str) -> bool {
    no_proxy.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.').to_ascii_lowercase();
        // `host:port` loses its port; an IPv6 address (several colons) is kept whole.
        let entry = match entry.matches(':').count() {
            1 => entry.split(':').next().unwrap_or(""),
            _ => entry.trim_start_matches('[').trim_end_matches(']'),
        };
        entry == "*" || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}"))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        for (proxy, shown) in [
            ("http://alice:s3cr3t@proxy:3128", "http://alice:***@proxy:3128"),
            (
                "http://alice:s3:cr@t@proxy:3128/x",
                "http://alice:***@proxy:3128/x",
            ),
            ("http://token@proxy", "http://***@proxy"),
            ("http://token:@proxy", "http://***@proxy"),
            ("http://alice:p/ss?#w@proxy:3128", "http://alice:***@proxy:3128"),
            ("alice:s3cr3t@proxy:3128", "alice:***@proxy:3128"),
            ("http://proxy:3128", "http://proxy:3128"),
        ] {
            assert_eq!(proxy_shown(proxy), shown, "{proxy}");
        }
    }

    #[test]
    fn credentials_are_the_user_and_password_percent_decoded() {
        for (proxy, credentials) in [
            ("http://alice:s3cr3t@proxy:3128", Some("alice:s3cr3t")),
            ("http://alice:p/ss@w@proxy", Some("alice:p/ss@w")),
            ("alice:pw@proxy", Some("alice:pw")),
            ("http://al%69ce:p%40ss%3Aw%2F@proxy", Some("alice:p@ss:w/")),
            ("http://alice:100%@proxy", Some("alice:100%")),
            // As curl reads them: `+` is no space, a token goes with an empty password.
            ("http://alice:a+b@proxy", Some("alice:a+b")),
            ("http://alice:@proxy", Some("alice:")),
            ("http://token@proxy", Some("token:")),
            ("http://:pw@proxy", Some(":pw")),
            ("http://@proxy", None),
            ("http://proxy:3128", None),
        ] {
            assert_eq!(
                proxy_credentials(proxy).unwrap().as_deref(),
                credentials,
                "{proxy}"
            );
        }
        assert!(
            proxy_credentials("http://a%3Ab:pw@proxy")
                .unwrap_err()
                .contains("`:`")
        );
        assert!(
            proxy_credentials("http://alice:%FF@proxy")
                .unwrap_err()
                .contains("UTF-8")
        );
    }

    #[test]
    fn ureq_is_given_the_decoded_credentials() {
        for (proxy, for_ureq) in [
            ("http://alice:p%40ss@proxy:3128", "http://alice:p@ss@proxy:3128"),
            ("alice:p%2Fss@proxy", "http://alice:p/ss@proxy"),
            // A decoded `://` is not taken for the end of a scheme.
            ("alice:a%3A%2F%2Fb@proxy", "http://alice:a://b@proxy"),
            ("http://token@proxy", "http://token:@proxy"),
            ("http://proxy:3128", "http://proxy:3128"),
            ("proxy:3128", "http://proxy:3128"),
        ] {
            assert_eq!(proxy_for_ureq(proxy).unwrap(), for_ureq, "{proxy}");
            ureq::Proxy::new(proxy_for_ureq(proxy).unwrap()).unwrap();
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_scheme_picks_the_variable_and_all_proxy_is_the_fallback() {
        let vars = env(&[
            ("HTTPS_PROXY", "http://secure:3128"),
            ("http_proxy", "http://plain:3128"),
        ]);
        assert_eq!(
            proxy_for("https://download.pytorch.org/x", &vars).as_deref(),
            Some("http://secure:3128")
        );
        assert_eq!(
            proxy_for("http://example.org/x", &vars).as_deref(),
            Some("http://plain:3128")
        );
        let all = env(&[("ALL_PROXY", "socks5://s:1080")]);
        assert_eq!(
            proxy_for("https://a.b/c", &all).as_deref(),
            Some("socks5://s:1080")
        );
        assert_eq!(proxy_for("https://a.b/c", env(&[])), None);
        assert_eq!(proxy_for("https://a.b/c", env(&[("HTTPS_PROXY", " ")])), None);
        let empty_upper = env(&[
            ("NO_PROXY", ""),
            ("no_proxy", "a.b"),
            ("HTTPS_PROXY", "http://p:1"),
        ]);
        assert_eq!(proxy_for("https://a.b/c", empty_upper), None);
    }

    #[test]
    fn no_proxy_names_hosts_domains_or_everything() {
        let vars = |no: &str| env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", no)]);
        let direct = |url: &str, no: &str| proxy_for(url, vars(no)).is_none();
        assert!(direct("https://files.example.org/a", "example.org"));
        assert!(direct("https://files.example.org/a", ".example.org"));
        assert!(direct("https://example.org:8443/a", "localhost, example.org"));
        assert!(direct("https://user:pw@EXAMPLE.org/a", "example.org"));
        assert!(direct("https://anything.net/a", "*"));
        assert!(direct("https://[::1]:8080/a", "::1"));
        assert!(!direct("https://badexample.org/a", "example.org"));
        assert!(!direct("https://example.org.evil.net/a", "example.org"));
        assert!(!direct("https://example.org/a", ""));
    }
}
