//! The SSRF guard: which addresses the host's own requests may reach. Two clients use it:
//!
//! - webhook delivery: an endpoint URL must be `http(s)` to a public address, checked when the
//!   endpoint is created or changed ([`check_url`], [`check_resolved`]) and at every delivery;
//! - vendor calls ([`crate::upstream`]): a URL a manifest template or a component built must not
//!   reach a loopback, private, link-local or metadata address ([`check_literal`]).
//!
//! Both check literal addresses before sending, and names after DNS resolution, in the client's
//! resolver ([`GuardedResolver`]), so a name that resolves to a private address when the request
//! is sent (DNS rebinding) is refused too. Neither client follows redirects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Whether an address is publicly routable: not loopback, private, link-local (cloud metadata
/// `169.254.169.254` included), shared, multicast, documentation, reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local (AWS metadata fd00:ec2::254 included)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b)) // NAT64 of IPv4 space
}

/// Refuses a URL whose host is a literal non-public address, naming it; names are left to
/// [`GuardedResolver`].
pub fn check_literal(url: &Url) -> Result<(), String> {
    match url.host() {
        Some(Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => Err(format!("the non-public address {ip}")),
        Some(Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => Err(format!("the non-public address {ip}")),
        _ => Ok(()),
    }
}

/// Checks an endpoint URL's shape, and its address when it is a literal; returns the parsed URL.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`url` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("`url` must be https or http, not {}", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("`url` must not carry credentials".into());
    }
    if url.host().is_none() {
        return Err("`url` needs a host".into());
    }
    if !allow_private {
        let localhost = url.host_str().is_some_and(|h| {
            let h = h.to_ascii_lowercase();
            h == "localhost" || h.ends_with(".localhost")
        });
        let literal = if localhost {
            Err("localhost".into())
        } else {
            check_literal(&url)
        };
        literal.map_err(|what| {
            format!(
                "`url` points to {what}; webhooks are delivered only to public addresses \
                 (--allow-private-delivery-targets lifts this)"
            )
        })?;
    }
    Ok(url)
}

/// Checks every address a URL's host resolves to (at endpoint creation).
pub async fn check_resolved(url: &Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let Some(Host::Domain(name)) = url.host() else {
        return Ok(()); // literals were checked by `check_url`
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| format!("`url` host {name} does not resolve: {e}"))?
        .collect();
    match addrs.iter().find(|a| !is_public(a.ip())) {
        Some(a) => Err(format!(
            "`url` host {name} resolves to the non-public address {}; webhooks are delivered only to public \
             addresses (--allow-private-delivery-targets lifts this)",
            a.ip()
        )),
        None => Ok(()),
    }
}

/// A name that resolved to an address the guard refuses (found in a failed request's error
/// chain by [`refusal`]).
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to the non-public address {ip}")]
pub struct NonPublic {
    host: String,
    ip: IpAddr,
}

impl NonPublic {
    /// The name that was resolved.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The address refused.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

/// The guard's refusal behind a failed request, if that is why it failed.
pub fn refusal<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e NonPublic> {
    std::iter::successors(Some(error), |e| e.source()).find_map(|e| e.downcast_ref::<NonPublic>())
}

/// A guarded client's resolver: resolves, then refuses a name with any non-public address.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(Box::new(NonPublic { host, ip: bad.ip() }) as Box<_>);
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "240.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} passed");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} refused");
        }
    }

    #[tokio::test]
    async fn the_delivery_resolver_refuses_names_of_private_addresses() {
        use reqwest::dns::Resolve;
        let err = GuardedResolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost resolves to loopback");
        assert!(err.to_string().contains("non-public"), "{err}");
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        for bad in [
            "ftp://example.com/",
            "http://127.0.0.1:9000/",
            "http://[::1]/",
            "http://localhost/",
            "http://169.254.169.254/latest/meta-data",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} passed");
        }
        assert!(check_url("http://127.0.0.1:9000/", true).is_ok());
    }
}
