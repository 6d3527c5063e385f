//! The SSRF guard of the image fetcher: which addresses a server-side fetch may reach
//! ([`is_forbidden`], with `--media-allow-hosts` as [`AllowList`]) and the resolver that
//! enforces it on every connection (`GuardedResolver`). `docs/media.md` describes the
//! behaviour for users.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use actix_tls::connect::Resolve;
use futures_util::future::LocalBoxFuture;

/// Hosts and networks that bypass the guard (`--media-allow-hosts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Lowercase host names, without a trailing dot.
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

impl AllowList {
    /// Parses entries that are host names, IP addresses or CIDR networks.
    pub fn parse(entries: &[String]) -> Result<AllowList, String> {
        let mut list = AllowList::default();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            if let Some((addr, prefix)) = entry.split_once('/') {
                let net = IpNet::parse(addr, prefix).ok_or_else(|| {
                    format!("--media-allow-hosts: '{entry}' is not a valid CIDR network")
                })?;
                list.nets.push(net);
            } else if let Some(ip) = parse_ip_host(entry) {
                list.nets.push(IpNet::single(ip));
            } else if entry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            {
                list.hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!(
                    "--media-allow-hosts: '{entry}' is not a host name, IP address or CIDR network"
                ));
            }
        }
        Ok(list)
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether the guard lets Pollux connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_forbidden(ip) || self.nets.iter().any(|n| n.contains(ip))
    }
}

/// An IP network; v4-mapped IPv6 forms are stored and compared as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    fn single(ip: IpAddr) -> IpNet {
        let ip = ip.to_canonical();
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        IpNet { addr: ip, prefix }
    }

    fn parse(addr: &str, prefix: &str) -> Option<IpNet> {
        let addr = parse_ip_host(addr)?;
        let prefix: u8 = prefix.parse().ok()?;
        match addr {
            IpAddr::V4(_) if prefix <= 32 => Some(IpNet { addr, prefix }),
            IpAddr::V6(v6) if prefix <= 128 => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => Some(IpNet {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                }),
                _ => Some(IpNet { addr, prefix }),
            },
            _ => None,
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IP address written as a URL host or allow-list entry (`[::1]` or `::1`).
pub(super) fn parse_ip_host(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Addresses a server-side fetch must never reach: loopback, private, link-local (the cloud
/// metadata address 169.254.169.254 among them), unspecified, multicast, broadcast, CGNAT
/// and other special-purpose ranges, in IPv4, IPv6 and IPv4-mapped IPv6 forms.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4_forbidden(v4),
        IpAddr::V6(v6) => v6_forbidden(v6),
    }
}

fn v4_forbidden(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", 0.0.0.0 included
        || ip.is_loopback() // 127/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local() // 169.254/16
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || ip.is_multicast() // 224/4
        || a >= 240 // reserved 240/4 and broadcast
}

fn v6_forbidden(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast() // ff00::/8
        || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
        // Forms that embed an IPv4 address a gateway would reach: IPv4-compatible
        // ::a.b.c.d, NAT64 64:ff9b::/96 and 6to4 2002::/16.
        || (seg[..6] == [0; 6] && v4_forbidden(embedded_v4(seg[6], seg[7])))
        || (seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && v4_forbidden(embedded_v4(seg[6], seg[7])))
        || (seg[0] == 0x2002 && v4_forbidden(embedded_v4(seg[1], seg[2])))
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

/// The resolver of the fetch client: resolves with the system resolver, keeps only the
/// addresses the guard permits, and fails when none remain, so the connector only ever
/// connects to checked addresses.
pub(super) struct GuardedResolver {
    pub(super) allow: Arc<AllowList>,
}

/// The guard refused every address of a host.
#[derive(Debug, thiserror::Error)]
#[error("'{host}' resolves only to addresses that are not allowed")]
pub(super) struct Refused {
    pub(super) host: String,
}

impl Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn StdError>>> {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match parse_ip_host(host) {
                Some(ip) => vec![SocketAddr::new(ip, port)],
                None => tokio::net::lookup_host((host, port)).await?.collect(),
            };
            if self.allow.allows_host(host) {
                return Ok(addrs);
            }
            let kept: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| self.allow.permits(a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(Box::new(Refused {
                    host: host.to_owned(),
                }) as Box<dyn StdError>);
            }
            Ok(kept)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_internal_addresses_are_forbidden() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_forbidden(ip(s)), "{s} must be forbidden");
        }
    }

    #[test]
    fn v4_public_addresses_pass() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "142.250.74.46",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.255.255",
            "192.169.0.1",
            "11.0.0.1",
        ] {
            assert!(!is_forbidden(ip(s)), "{s} must be allowed");
        }
    }

    #[test]
    fn v6_internal_addresses_are_forbidden() {
        for s in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff05::2",
            // IPv4-compatible, NAT64 and 6to4 forms of internal IPv4 addresses.
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a00:1::1",
        ] {
            assert!(is_forbidden(ip(s)), "{s} must be forbidden");
        }
    }

    #[test]
    fn v6_public_addresses_pass() {
        for s in [
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_forbidden(ip(s)), "{s} must be allowed");
        }
    }

    #[test]
    fn v4_mapped_v6_is_judged_as_v4() {
        for s in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::ffff:100.64.0.1",
            "::ffff:0.0.0.0",
            "::ffff:255.255.255.255",
            "::ffff:7f00:1",
        ] {
            assert!(is_forbidden(ip(s)), "{s} must be forbidden");
        }
        assert!(!is_forbidden(ip("::ffff:8.8.8.8")));
    }

    #[test]
    fn metadata_address_is_forbidden_in_every_form() {
        for s in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "::ffff:a9fe:a9fe",
            "fd00:ec2::254",
        ] {
            assert!(is_forbidden(ip(s)), "{s} must be forbidden");
        }
    }

    #[test]
    fn allow_list_parses_hosts_ips_and_networks() {
        let list = AllowList::parse(&[
            "127.0.0.1".to_owned(),
            " Images.Internal. ".to_owned(),
            "10.1.0.0/16".to_owned(),
            "[::1]".to_owned(),
            "fd00::/8".to_owned(),
            "::ffff:192.168.0.0/112".to_owned(),
            "".to_owned(),
        ])
        .unwrap();
        assert!(list.permits(ip("127.0.0.1")));
        assert!(list.permits(ip("::ffff:127.0.0.1")));
        assert!(!list.permits(ip("127.0.0.2")));
        assert!(list.permits(ip("10.1.200.3")));
        assert!(!list.permits(ip("10.2.0.1")));
        assert!(list.permits(ip("::1")));
        assert!(list.permits(ip("fd12::1")));
        assert!(!list.permits(ip("fc00::1")));
        assert!(list.permits(ip("192.168.44.1")));
        assert!(!list.permits(ip("169.254.169.254")));
        assert!(list.permits(ip("8.8.8.8")));
        assert!(list.allows_host("images.internal"));
        assert!(list.allows_host("IMAGES.internal."));
        assert!(!list.allows_host("other.internal"));
    }

    #[test]
    fn allow_list_rejects_garbage() {
        for bad in ["10.0.0.0/33", "::/129", "x/8", "a b", "http://host/"] {
            assert!(
                AllowList::parse(&[bad.to_owned()]).is_err(),
                "{bad} must be refused"
            );
        }
    }

    #[test]
    fn ip_hosts_in_brackets_parse() {
        assert_eq!(parse_ip_host("[::1]"), Some(ip("::1")));
        assert_eq!(parse_ip_host("127.0.0.1"), Some(ip("127.0.0.1")));
        assert_eq!(parse_ip_host("localhost"), None);
    }
}
