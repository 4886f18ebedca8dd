//! Which webhook URLs may be called: never the service's own network (SSRF guard).
//! Checked at registration and again on every resolved address at send time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// Not a parseable absolute URL.
    #[error("is not a valid URL: {0}")]
    Invalid(String),
    /// Not http or https.
    #[error("scheme {0:?} is not allowed: use http or https")]
    Scheme(String),
    /// Userinfo in a webhook URL only serves to disguise the host.
    #[error("must not contain a user name or password")]
    Credentials,
    /// The host is or resolves to a forbidden address.
    #[error("resolves to {0}, a private, loopback, link-local or otherwise internal address")]
    Forbidden(IpAddr),
    /// DNS gave no address.
    #[error("host {0:?} does not resolve")]
    Unresolvable(String),
}

/// The policy in force: the deployed default refuses every internal range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Allows 127.0.0.0/8 and ::1 (and nothing else): local runs and tests only.
    pub allow_loopback: bool,
}

impl UrlPolicy {
    /// Checks the URL's shape and any literal IP host; hostnames are checked after DNS.
    pub fn check_syntax(&self, raw: &str) -> Result<Url, UrlRefused> {
        let url = Url::parse(raw).map_err(|e| UrlRefused::Invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefused::Scheme(url.scheme().to_string()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefused::Credentials);
        }
        match url.host() {
            None => Err(UrlRefused::Invalid("has no host".into())),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)).map(|_| url),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)).map(|_| url),
            Some(Host::Domain(_)) => Ok(url),
        }
    }

    /// Checks the URL completely, resolving its host name.
    pub async fn check(&self, raw: &str) -> Result<Url, UrlRefused> {
        let url = self.check_syntax(raw)?;
        if let Some(Host::Domain(domain)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            self.resolve(domain, port).await?;
        }
        Ok(url)
    }

    /// Checks a URL about to be saved over `saved`: one left unchanged passes as it is,
    /// so that an owner can still switch off or retune an endpoint whose domain lapsed
    /// (the sender checks every address it resolves at send time all the same).
    pub async fn check_changed(&self, raw: &str, saved: Option<&str>) -> Result<Url, UrlRefused> {
        match saved.filter(|saved| same_as_saved(raw, saved)) {
            Some(_) => Url::parse(raw).map_err(|e| UrlRefused::Invalid(e.to_string())),
            None => self.check(raw).await,
        }
    }
}

/// Whether `raw` is the URL `saved` holds (URLs are saved normalised: `HTTP://A/` is
/// `http://a/`).
pub fn same_as_saved(raw: &str, saved: &str) -> bool {
    Url::parse(raw).is_ok_and(|url| url.as_str() == saved)
}

impl UrlPolicy {
    /// Resolves a host name; every address must be allowed, or none is used.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, UrlRefused> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| UrlRefused::Unresolvable(host.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(UrlRefused::Unresolvable(host.to_string()));
        }
        for addr in &addrs {
            self.check_ip(addr.ip())?;
        }
        Ok(addrs)
    }

    /// Refuses internal addresses (loopback only when the policy allows it).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), UrlRefused> {
        let ip = canonical(ip);
        if self.allow_loopback && ip.is_loopback() {
            return Ok(());
        }
        if is_internal(ip) {
            return Err(UrlRefused::Forbidden(ip));
        }
        Ok(())
    }
}

/// IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is judged as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()        // 0.0.0.0/8 below covers it; kept for clarity
        || a == 0              // "this network"
        || ip.is_loopback()    // 127/8
        || ip.is_private()     // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()  // 169.254/16, incl. the metadata service
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments 192.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || ip.is_multicast()   // 224/4
        || a >= 240            // reserved 240/4 and broadcast
        || ip.is_documentation()
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
        || ip.is_multicast()
        || ip.segments()[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible ::a.b.c.d
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b // NAT64 may reach internal v4
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_loopback: false,
    };
    const LOCAL: UrlPolicy = UrlPolicy {
        allow_loopback: true,
    };

    #[test]
    fn refuses_internal_literal_addresses() {
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://127.0.0.1/",
            "http://0.0.0.0/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
        ] {
            assert!(
                matches!(STRICT.check_syntax(url), Err(UrlRefused::Forbidden(_))),
                "{url} should be refused"
            );
        }
    }

    /// Internal destinations in every spelling an attacker might try. Each must be refused.
    const SSRF_CORPUS: &[&str] = &[
        // IPv4 private, loopback, link-local (metadata), CGNAT, this-network, reserved
        "http://10.0.0.1/",
        "http://10.255.255.255/",
        "http://172.16.0.1/",
        "http://172.31.255.255/",
        "http://192.168.0.1/",
        "http://127.0.0.1/",
        "http://127.255.255.254/",
        "http://169.254.169.254/",
        "http://169.254.0.1/",
        "http://100.64.0.1/",
        "http://100.127.255.255/",
        "http://0.0.0.0/",
        "http://0.1.2.3/",
        "http://192.0.0.1/",
        "http://198.18.0.1/",
        "http://240.0.0.1/",
        // broadcast and multicast
        "http://255.255.255.255/",
        "http://224.0.0.1/",
        "http://239.255.255.250/",
        // IPv6 loopback, unspecified, link-local, unique-local, multicast, site-local
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[febf::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[ff02::1]/",
        "http://[fec0::1]/",
        // IPv4 hidden in IPv6: mapped, compatible, NAT64
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::a00:1]/",
        // numeric spellings of 127.0.0.1 and 0.0.0.0
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0/",
        // userinfo tricks
        "http://evil@127.0.0.1/",
        "http://user:pass@10.0.0.1/",
        "http://example.com@169.254.169.254/",
    ];

    #[test]
    fn the_ssrf_corpus_has_no_bypass() {
        assert!(SSRF_CORPUS.len() >= 30);
        let bypasses: Vec<&&str> = SSRF_CORPUS
            .iter()
            .filter(|url| STRICT.check_syntax(url).is_ok())
            .collect();
        assert!(
            bypasses.is_empty(),
            "{} of {} bypassed: {bypasses:?}",
            bypasses.len(),
            SSRF_CORPUS.len()
        );
        // With the local loopback allowance, only the loopback spellings pass.
        let local: Vec<&&str> = SSRF_CORPUS
            .iter()
            .filter(|url| LOCAL.check_syntax(url).is_ok())
            .collect();
        for url in &local {
            let host = url::Url::parse(url).unwrap();
            let ip = match host.host().unwrap() {
                Host::Ipv4(ip) => IpAddr::V4(ip),
                Host::Ipv6(ip) => canonical(IpAddr::V6(ip)),
                Host::Domain(d) => panic!("{d}"),
            };
            assert!(ip.is_loopback(), "{url} passed with only loopback allowed");
        }
    }

    #[test]
    fn refuses_other_schemes_and_userinfo() {
        assert_eq!(
            STRICT.check_syntax("ftp://example.com/"),
            Err(UrlRefused::Scheme("ftp".into()))
        );
        assert_eq!(
            STRICT.check_syntax("http://evil@example.com/"),
            Err(UrlRefused::Credentials)
        );
        assert!(matches!(
            STRICT.check_syntax("not a url"),
            Err(UrlRefused::Invalid(_))
        ));
    }

    #[test]
    fn loopback_flag_allows_loopback_and_nothing_else() {
        assert!(LOCAL.check_syntax("http://127.0.0.1:9000/hook").is_ok());
        assert!(LOCAL.check_syntax("http://127.9.9.9/").is_ok());
        assert!(LOCAL.check_syntax("http://[::1]:9000/").is_ok());
        assert!(LOCAL.check_syntax("http://10.0.0.1/").is_err());
        assert!(LOCAL.check_syntax("http://169.254.169.254/").is_err());
        assert!(LOCAL.check_syntax("http://[fd00::1]/").is_err());
    }

    #[test]
    fn public_addresses_pass() {
        assert!(STRICT.check_syntax("https://93.184.216.34/hook").is_ok());
        assert!(STRICT.check_syntax("https://[2606:4700::1111]/").is_ok());
        assert!(STRICT.check_syntax("https://hooks.example.com/x").is_ok());
    }

    #[tokio::test]
    async fn hostnames_resolving_to_loopback_are_refused() {
        let err = STRICT.check("http://localhost:8080/").await.unwrap_err();
        assert!(
            matches!(err, UrlRefused::Forbidden(ip) if ip.is_loopback()),
            "{err:?}"
        );
        assert!(LOCAL.check("http://localhost:8080/").await.is_ok());
    }

    #[tokio::test]
    async fn only_a_changed_url_is_checked_again() {
        // As stored (normalised): the same URL however it is written passes unchecked.
        let saved = Some("http://127.0.0.1/hook");
        for same in ["http://127.0.0.1/hook", "HTTP://2130706433/hook"] {
            assert!(STRICT.check_changed(same, saved).await.is_ok(), "{same}");
        }
        for changed in ["http://127.0.0.1/other", "http://10.0.0.1/hook"] {
            assert!(
                STRICT.check_changed(changed, saved).await.is_err(),
                "{changed}"
            );
        }
        let first = STRICT.check_changed("http://127.0.0.1/hook", None).await;
        assert!(first.is_err(), "a first registration is checked");
    }

    #[test]
    fn a_url_is_the_saved_one_however_it_is_written() {
        assert!(same_as_saved(
            "HTTP://Hooks.Example.com:80/x",
            "http://hooks.example.com/x"
        ));
        assert!(!same_as_saved(
            "http://hooks.example.com/y",
            "http://hooks.example.com/x"
        ));
        assert!(!same_as_saved("not a url", "not a url"));
    }
}
