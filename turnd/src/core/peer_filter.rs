//! Which peer addresses a relay may talk to (RFC 8656 §21.4.1: the server decides).
//!
//! The default deny list is eturnal's "recommended" list: loopback, private,
//! link-local, documentation, benchmarking, multicast, reserved, NAT64 and Teredo
//! ranges. Before any check the address is canonicalised, so that an IPv4 address
//! wrapped in an IPv6 one cannot slip past the IPv4 list:
//!
//! - IPv4-mapped `::ffff:a.b.c.d` and IPv4-compatible `::a.b.c.d` become `a.b.c.d`;
//! - an address of NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`) or 6to4 (`2002::/16`)
//!   is checked twice: as itself and as the IPv4 address embedded in it.
//!
//! Semantics: every form of the address (the canonical one, plus the embedded
//! IPv4 address if there is one) must pass. A form passes when it is inside an
//! `allow` range, or outside every deny range (the defaults plus `deny`). So
//! `allow` punches holes in the deny list (for example `127.0.0.1/32` for a demo)
//! and `deny` extends it; allowing `64:ff9b::/96` for a NAT64 deployment still
//! refuses `64:ff9b::7f00:1`, because its embedded `127.0.0.1` is denied.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::config::PeerFilterConfig;

/// eturnal's recommended IPv4 deny list: (address, prefix length).
const DEFAULT_DENY_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 88, 99, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
    ([255, 255, 255, 255], 32),
];

/// eturnal's recommended IPv6 deny list: (address segments, prefix length).
const DEFAULT_DENY_V6: &[([u16; 8], u8)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128),
    ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
];

/// The deny ranges every filter starts with (eturnal's recommended list).
pub fn default_deny() -> Vec<IpNet> {
    let v4 = DEFAULT_DENY_V4.iter().filter_map(|(a, len)| {
        Ipv4Net::new(Ipv4Addr::from(*a), *len).ok().map(IpNet::V4)
    });
    let v6 = DEFAULT_DENY_V6.iter().filter_map(|(s, len)| {
        let [a, b, c, d, e, f, g, h] = *s;
        Ipv6Net::new(Ipv6Addr::new(a, b, c, d, e, f, g, h), *len).ok().map(IpNet::V6)
    });
    v4.chain(v6).collect()
}

/// Unwrap IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) addresses.
///
/// `::` and `::1` are left alone: they are IPv6 addresses in their own right and
/// are on the deny list as such.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            match v6.segments() {
                [0, 0, 0, 0, 0, 0, 0, 0 | 1] => ip,
                [0, 0, 0, 0, 0, 0, hi, lo] => IpAddr::V4(v4_from_segments(hi, lo)),
                _ => ip,
            }
        }
    }
}

/// The IPv4 address embedded in a NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`) or
/// 6to4 (`2002::/16`) address.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    match ip.segments() {
        // RFC 6052 well-known prefix: the last 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4_from_segments(hi, lo)),
        // RFC 8215 local-use prefix 64:ff9b:1::/48. Operators pick the embedding
        // length; treat the common /96 layout (last 32 bits) as the embedded address.
        [0x64, 0xff9b, 1, _, _, _, hi, lo] => Some(v4_from_segments(hi, lo)),
        // RFC 3056 6to4: bits 16..48.
        [0x2002, hi, lo, _, _, _, _, _] => Some(v4_from_segments(hi, lo)),
        _ => None,
    }
}

fn v4_from_segments(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// A compiled peer policy: allow ranges first, then the deny list.
#[derive(Debug, Clone)]
pub struct PeerFilter {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl Default for PeerFilter {
    fn default() -> Self {
        Self { allow: Vec::new(), deny: default_deny() }
    }
}

impl PeerFilter {
    /// Build the filter from configuration: defaults plus `deny`, with `allow` holes.
    pub fn new(config: &PeerFilterConfig) -> Self {
        let mut deny = default_deny();
        deny.extend(config.deny.iter().copied());
        Self { allow: config.allow.clone(), deny }
    }

    /// Whether the relay may send to, or accept from, `ip`.
    pub fn is_allowed(&self, ip: IpAddr) -> bool {
        let c = canonical(ip);
        if !self.form_passes(c) {
            return false;
        }
        match c {
            IpAddr::V6(v6) => match embedded_v4(v6) {
                Some(v4) => self.form_passes(IpAddr::V4(v4)),
                None => true,
            },
            IpAddr::V4(_) => true,
        }
    }

    fn form_passes(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|n| n.contains(&ip)) || !self.deny.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> PeerFilter {
        let config = PeerFilterConfig {
            allow: allow.iter().map(|s| s.parse().unwrap()).collect(),
            deny: deny.iter().map(|s| s.parse().unwrap()).collect(),
        };
        PeerFilter::new(&config)
    }

    /// (address, allowed by the default policy)
    const DEFAULT_POLICY: &[(&str, bool)] = &[
        ("8.8.8.8", true),
        ("1.1.1.1", true),
        ("0.0.0.0", false),
        ("0.1.2.3", false),
        ("10.1.2.3", false),
        ("100.64.0.1", false),
        ("100.128.0.1", true),
        ("127.0.0.1", false),
        ("127.255.255.254", false),
        ("169.254.169.254", false),
        ("172.16.0.1", false),
        ("172.31.255.255", false),
        ("172.32.0.1", true),
        ("192.0.0.8", false),
        ("192.0.2.1", false),
        ("192.88.99.1", false),
        ("192.168.1.1", false),
        ("198.18.0.1", false),
        ("198.19.255.255", false),
        ("198.20.0.1", true),
        ("198.51.100.7", false),
        ("203.0.113.9", false),
        ("224.0.0.1", false),
        ("239.255.255.250", false),
        ("240.0.0.1", false),
        ("255.255.255.255", false),
        ("2606:4700:4700::1111", true),
        ("::", false),
        ("::1", false),
        ("64:ff9b::808:808", false),
        ("100::1", false),
        ("2001::1", false),
        ("2001:db8::1", false),
        ("fc00::1", false),
        ("fd12:3456::1", false),
        ("fe80::1", false),
        ("ff02::1", false),
        // Canonicalisation: IPv4-mapped and IPv4-compatible.
        ("::ffff:8.8.8.8", true),
        ("::ffff:127.0.0.1", false),
        ("::ffff:0.0.0.0", false),
        ("::ffff:10.0.0.1", false),
        ("::ffff:192.168.0.1", false),
        ("::127.0.0.1", false),
        ("::10.0.0.1", false),
        ("::8.8.8.8", true),
        // NAT64 local-use prefix with an embedded denied / public address.
        ("64:ff9b:1::7f00:1", false),
        ("64:ff9b:1::808:808", true),
        // 6to4 embedding 127.0.0.1, 10.0.0.1 and 8.8.8.8.
        ("2002:7f00:1::1", false),
        ("2002:a00:1::1", false),
        ("2002:808:808::1", true),
    ];

    #[test]
    fn default_policy_table() {
        let f = PeerFilter::default();
        for (addr, expected) in DEFAULT_POLICY {
            let ip: IpAddr = addr.parse().unwrap();
            assert_eq!(f.is_allowed(ip), *expected, "{addr}");
        }
    }

    /// (allow, deny, address, allowed)
    const CONFIGURED_POLICY: &[(&[&str], &[&str], &str, bool)] = &[
        (&["127.0.0.1/32"], &[], "127.0.0.1", true),
        (&["127.0.0.1/32"], &[], "::ffff:127.0.0.1", true),
        (&["127.0.0.1/32"], &[], "127.0.0.2", false),
        (&["127.0.0.1/32"], &[], "::1", false),
        (&["127.0.0.1/32"], &[], "64:ff9b::7f00:1", false),
        (&["10.0.0.0/8"], &[], "10.9.8.7", true),
        (&["10.0.0.0/8"], &[], "::ffff:10.9.8.7", true),
        (&[], &["8.8.8.0/24"], "8.8.8.8", false),
        (&[], &["8.8.8.0/24"], "::ffff:8.8.8.8", false),
        (&[], &["8.8.8.0/24"], "2002:808:808::1", false),
        (&[], &["8.8.8.0/24"], "8.8.4.4", true),
        (&["64:ff9b::/96"], &[], "64:ff9b::808:808", true),
        (&["64:ff9b::/96"], &[], "64:ff9b::7f00:1", false),
        (&["64:ff9b::/96"], &[], "64:ff9b::c0a8:1", false),
        (&["::1/128"], &[], "::1", true),
        (&["0.0.0.0/0", "::/0"], &[], "192.168.1.1", true),
        (&["0.0.0.0/0", "::/0"], &[], "fe80::1", true),
    ];

    #[test]
    fn configured_policy_table() {
        for (allow, deny, addr, expected) in CONFIGURED_POLICY {
            let f = filter(allow, deny);
            let ip: IpAddr = addr.parse().unwrap();
            assert_eq!(f.is_allowed(ip), *expected, "allow={allow:?} deny={deny:?} {addr}");
        }
    }

    #[test]
    fn cve_2020_26262_unspecified_and_loopback_v6_are_forbidden() {
        let f = PeerFilter::default();
        for addr in ["0.0.0.0", "::", "::1", "0.0.0.1", "::ffff:0.0.0.0"] {
            assert!(!f.is_allowed(addr.parse().unwrap()), "{addr}");
        }
    }

    #[test]
    fn cve_2026_27624_ipv4_mapped_loopback_is_forbidden() {
        let f = PeerFilter::default();
        for addr in ["::ffff:127.0.0.1", "::ffff:127.1.2.3", "::ffff:7f00:1"] {
            assert!(!f.is_allowed(addr.parse().unwrap()), "{addr}");
        }
        // Even when only the plain IPv4 loopback has been allowed, another
        // loopback address wrapped in IPv6 stays forbidden.
        let f = filter(&["127.0.0.1/32"], &[]);
        assert!(!f.is_allowed("::ffff:127.0.0.2".parse().unwrap()));
    }

    /// (input, canonical form)
    const CANONICAL: &[(&str, &str)] = &[
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("::1.2.3.4", "1.2.3.4"),
        ("::", "::"),
        ("::1", "::1"),
        ("::2", "0.0.0.2"),
        ("2001:db8::1", "2001:db8::1"),
        ("9.9.9.9", "9.9.9.9"),
    ];

    #[test]
    fn canonical_table() {
        for (input, out) in CANONICAL {
            let got = canonical(input.parse().unwrap());
            assert_eq!(got, out.parse::<IpAddr>().unwrap(), "{input}");
        }
    }

    /// (input, embedded IPv4)
    const EMBEDDED: &[(&str, Option<&str>)] = &[
        ("64:ff9b::102:304", Some("1.2.3.4")),
        ("64:ff9b:1::102:304", Some("1.2.3.4")),
        ("2002:102:304::", Some("1.2.3.4")),
        ("64:ff9b:0:0:1::102:304", None),
        ("2001:db8::1", None),
    ];

    #[test]
    fn embedded_v4_table() {
        for (input, out) in EMBEDDED {
            let got = embedded_v4(input.parse().unwrap());
            assert_eq!(got, out.map(|s| s.parse().unwrap()), "{input}");
        }
    }
}
