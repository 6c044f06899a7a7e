//! Where result images may be fetched from. A provider's callback names the image URLs; signed
//! or not, a URL is only a request to fetch, and a fetch is never made where it does not belong
//! (our own Redis, a cloud metadata address, the local network).
//!
//! Allowed: `https` URLs whose host is one of `delivery.image_hosts` or under one (fal's media
//! CDN by default), whose addresses are all public after DNS resolution; and URLs of an origin
//! the operator names exactly in `delivery.image_origins` (the local provider adds its own), as
//! they are. Redirects follow the same rules. Anything else (another scheme, an IP literal, a
//! loopback or private address, an unparsable URL) is refused for good.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use url::{Host, Origin, Url};

/// The allowed hosts and origins.
#[derive(Clone, Debug, Default)]
pub struct ImageSources {
    /// Domains (lower case, no leading dot): the domain itself and any name under it, https only.
    hosts: Vec<String>,
    /// Exact origins trusted as configured (no address check).
    origins: Vec<Origin>,
}

/// How far an allowed URL is trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// An origin named exactly by the operator.
    Named,
    /// A host under an allowed domain: its addresses must be public.
    Public,
}

impl ImageSources {
    #[must_use]
    pub fn new(hosts: &[String], origins: &[Url]) -> Self {
        Self {
            hosts: hosts
                .iter()
                .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            origins: origins.iter().map(Url::origin).collect(),
        }
    }

    /// Also trusts `origin` exactly (the local provider's own address).
    #[must_use]
    pub fn with_origin(mut self, origin: &Url) -> Self {
        self.origins.push(origin.origin());
        self
    }

    /// Whether `url` may be fetched, and how far it is trusted; why not otherwise.
    pub fn check(&self, url: &Url) -> Result<Trust, String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{} URLs are never fetched", url.scheme()));
        }
        if self.origins.contains(&url.origin()) {
            return Ok(Trust::Named);
        }
        if url.scheme() != "https" {
            return Err("only https image URLs are fetched".into());
        }
        match url.host() {
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let allowed = self.hosts.iter().any(|h| {
                    name == *h
                        || name
                            .strip_suffix(h.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                });
                if allowed && url.port_or_known_default() == Some(443) {
                    Ok(Trust::Public)
                } else if allowed {
                    Err(format!("{name}: only port 443"))
                } else {
                    Err(format!("{name} is not an allowed image host"))
                }
            }
            Some(_) => Err("image URLs with an IP address are not fetched".into()),
            None => Err("image URL without a host".into()),
        }
    }

    /// The host names of the named origins (they may resolve to any address).
    fn named_hosts(&self) -> Vec<String> {
        self.origins
            .iter()
            .filter_map(|o| match o {
                Origin::Tuple(_, Host::Domain(d), _) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect()
    }

    /// A resolver for the image client: names resolve only to public addresses, except the
    /// hosts of named origins. A second guard behind [`Self::resolve_public`] (an answer that
    /// changed in between, a redirect).
    #[must_use]
    pub fn resolver(&self) -> Arc<PublicOnly> {
        Arc::new(PublicOnly {
            trusted: self.named_hosts(),
        })
    }

    /// Resolves `url`'s host: `Err(NotPublic)` when any address is not public (for good),
    /// `Err(Lookup)` when the lookup itself failed (worth another try).
    pub async fn resolve_public(url: &Url) -> Result<(), Unresolved> {
        let Some(Host::Domain(name)) = url.host() else {
            return Err(Unresolved::NotPublic(
                "image URL without a host name".into(),
            ));
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| Unresolved::Lookup(format!("{name} does not resolve: {e}")))?
            .collect();
        if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(Unresolved::NotPublic(format!(
                "{name} resolves to an address that is not public"
            )));
        }
        Ok(())
    }
}

/// Why [`ImageSources::resolve_public`] refused a host.
#[derive(Debug)]
pub enum Unresolved {
    NotPublic(String),
    Lookup(String),
}

/// See [`ImageSources::resolver`].
#[derive(Debug)]
pub struct PublicOnly {
    trusted: Vec<String>,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let trusted = self.trusted.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| trusted || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host}: no public address").into();
                return Err(refused);
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// An address anyone on the internet could reach: not loopback, private, link-local (the cloud
/// metadata address among them), shared, multicast, documentation or otherwise reserved.
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // IPv4-mapped and IPv4-compatible (::/96) addresses carry an IPv4 address.
            if s[..5] == [0; 5]
                && (s[5] == 0xffff || s[5] == 0)
                && let Some(v4) = v6.to_ipv4()
            {
                return s[5] == 0xffff && is_public_v4(v4);
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2001 && s[1] == 0) // Teredo: an IPv4 inside
                || s[0] == 0x2002 // 6to4: an IPv4 inside
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: an IPv4 inside
                || v6 == Ipv6Addr::UNSPECIFIED)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

#[cfg(test)]
mod tests {
    use super::{ImageSources, Trust, is_public};
    use url::Url;

    fn sources() -> ImageSources {
        ImageSources::new(
            &["fal.media".to_owned()],
            &[Url::parse("http://127.0.0.1:9000").unwrap()],
        )
    }

    fn check(url: &str) -> Result<Trust, String> {
        sources().check(&Url::parse(url).map_err(|e| e.to_string())?)
    }

    #[test]
    fn only_allowed_hosts_and_named_origins() {
        assert_eq!(check("https://v3.fal.media/files/x.png"), Ok(Trust::Public));
        assert_eq!(check("https://fal.media/x.png"), Ok(Trust::Public));
        assert_eq!(check("https://V3.FAL.MEDIA./x.png"), Ok(Trust::Public));
        assert_eq!(check("http://127.0.0.1:9000/files/1.png"), Ok(Trust::Named));
        // The same origin however the address is spelled.
        assert_eq!(check("http://2130706433:9000/x.png"), Ok(Trust::Named));
        for refused in [
            "http://v3.fal.media/x.png",
            "https://evilfal.media/x.png",
            "https://v3.fal.media:6379/x.png",
            "https://fal.media.evil.com/x.png",
            "http://127.0.0.1:6379/",
            "http://127.0.0.1:9001/",
            "https://127.0.0.1:9000/",
            "http://localhost:9000/",
            // 127.0.0.1 spelled otherwise, on another port than the named origin's.
            "http://2130706433:9001/",
            "http://0x7f000001:9001/",
            "http://0177.0.0.1:9001/",
            "https://[::1]/x.png",
            "https://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
            "gopher://127.0.0.1:6379/_INFO",
            "data:image/png;base64,iVBORw0KGgo=",
            "not a url",
        ] {
            assert!(check(refused).is_err(), "{refused} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_told_apart() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::7f00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "fec0::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "151.101.1.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
