//! Where webhooks may go (server-side request forgery): only `https://`
//! URLs (`http://` if the operator allows it) and only public addresses,
//! checked when an endpoint is created and again at every connection, on
//! the addresses the name resolves to then, so a name that later points at
//! the server's own network is refused. Redirects are never followed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What the operator allows beyond public HTTPS.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    pub allow_http: bool,
    /// Loopback, private, link-local and other non-public addresses.
    pub allow_private: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("the URL cannot be read")]
    Malformed,
    #[error("the URL must start with https://")]
    Scheme,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL points at an address that is not public")]
    NotPublic,
    #[error("the URL is longer than 2000 characters")]
    TooLong,
}

/// Checks an endpoint URL's form and, for an IP literal, its address.
pub fn check_url(url: &str, policy: Policy) -> Result<hyper::Uri, UrlError> {
    if url.len() > 2000 {
        return Err(UrlError::TooLong);
    }
    let uri: hyper::Uri = url.parse().map_err(|_| UrlError::Malformed)?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if policy.allow_http => {}
        _ => return Err(UrlError::Scheme),
    }
    let authority = uri.authority().ok_or(UrlError::Malformed)?;
    if authority.as_str().contains('@') {
        return Err(UrlError::Credentials);
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(UrlError::Malformed);
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if !allowed(ip, policy) {
            return Err(UrlError::NotPublic);
        }
    }
    Ok(uri)
}

/// Whether a connection to `ip` is allowed.
pub fn allowed(ip: IpAddr, policy: Policy) -> bool {
    policy.allow_private || is_public(ip)
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            // Forms that carry an IPv4 address: judged by the IPv4 rules.
            // IPv4-compatible (::/96), NAT64 (64:ff9b::/96), 6to4 (2002::/16).
            if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified()
                || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            {
                return is_public_v4(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return is_public_v4(embedded(s[1], s[2]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || s[0] == 0x64 && s[1] == 0xff9b // local NAT64 (64:ff9b:1::/48)
                || s[0] == 0x2001 && s[1] == 0 // Teredo
                || s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240)
}

/// Why a host has no address to connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// The name does not resolve (now).
    Unresolved,
    /// It resolves, but only to addresses that are not allowed.
    NotPublic,
}

/// The allowed addresses of `host` (a name, an address, or an IPv6
/// address in brackets) at `port`, resolved now.
pub async fn resolve(
    host: &str,
    port: u16,
    policy: Policy,
) -> Result<Vec<SocketAddr>, Unreachable> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| Unreachable::Unresolved)?
            .collect(),
    };
    if found.is_empty() {
        return Err(Unreachable::Unresolved);
    }
    let kept: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| allowed(a.ip(), policy))
        .collect();
    if kept.is_empty() {
        return Err(Unreachable::NotPublic);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Policy = Policy {
        allow_http: false,
        allow_private: false,
    };

    #[test]
    fn only_public_https_urls_pass_by_default() {
        assert!(check_url("https://hooks.example.com/in?x=1", STRICT).is_ok());
        assert!(check_url("https://93.184.216.34:8443/x", STRICT).is_ok());
        for (url, why) in [
            ("http://hooks.example.com/", UrlError::Scheme),
            ("ftp://hooks.example.com/", UrlError::Scheme),
            ("hooks.example.com/x", UrlError::Malformed),
            ("https://user:pw@hooks.example.com/", UrlError::Credentials),
            ("https://127.0.0.1/", UrlError::NotPublic),
            ("https://10.1.2.3/", UrlError::NotPublic),
            (
                "https://169.254.169.254/latest/meta-data",
                UrlError::NotPublic,
            ),
            ("https://[::1]/", UrlError::NotPublic),
            ("https://[::ffff:192.168.0.1]/", UrlError::NotPublic),
            ("https://[fd00::1]/", UrlError::NotPublic),
            ("https://[64:ff9b::a00:1]/", UrlError::NotPublic),
            ("https://[::7f00:1]/", UrlError::NotPublic),
            ("https://[2002:a00:1::]/", UrlError::NotPublic),
            ("https://[2001:0:4136:e378::1]/", UrlError::NotPublic),
            ("https://[64:ff9b:1::1]/", UrlError::NotPublic),
            ("https://100.64.0.1/", UrlError::NotPublic),
            ("https://0.0.0.0/", UrlError::NotPublic),
            ("https:// bad/", UrlError::Malformed),
        ] {
            assert_eq!(check_url(url, STRICT).err(), Some(why), "{url}");
        }
        assert_eq!(
            check_url(&format!("https://a.example/{}", "x".repeat(2000)), STRICT).err(),
            Some(UrlError::TooLong)
        );
    }

    #[test]
    fn the_operator_can_allow_plain_http_and_private_addresses() {
        let open = Policy {
            allow_http: true,
            allow_private: true,
        };
        assert!(check_url("http://127.0.0.1:9000/hook", open).is_ok());
        assert!(allowed("192.168.1.1".parse().unwrap(), open));
        assert!(!allowed("192.168.1.1".parse().unwrap(), STRICT));
        assert!(allowed("2606:4700::1111".parse().unwrap(), STRICT));
        assert!(
            allowed("2002:5db8:d822::1".parse().unwrap(), STRICT),
            "6to4 of a public address"
        );
    }

    #[actix_web::test]
    async fn names_that_resolve_to_loopback_are_refused() {
        assert_eq!(
            resolve("localhost", 443, STRICT).await,
            Err(Unreachable::NotPublic)
        );
        assert_eq!(
            resolve("[::1]", 443, STRICT).await,
            Err(Unreachable::NotPublic)
        );
        assert_eq!(
            resolve("[2606:4700::1111]", 443, STRICT).await.unwrap(),
            ["[2606:4700::1111]:443".parse::<SocketAddr>().unwrap()],
            "an IPv6 literal in brackets is connected to as given"
        );
        let open = Policy {
            allow_http: true,
            allow_private: true,
        };
        assert!(!resolve("localhost", 443, open).await.unwrap().is_empty());
    }
}
