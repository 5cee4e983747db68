//! Network addresses in logs: only a truncated form, the network a packet
//! came from and not the machine (docs/privacy.md). Full addresses live in
//! memory only, where the throttles count by them.

use std::net::IpAddr;

/// An address cut to its network: IPv4 to /24 (`192.0.2.0/24`), IPv6 to
/// /48 (`2001:db8:5::/48`); an IPv4-mapped IPv6 address as IPv4.
pub fn truncated(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => truncated(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
                format!("{net}/48")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_part_never_shows() {
        assert_eq!(
            truncated("198.51.100.77".parse().unwrap()),
            "198.51.100.0/24"
        );
        assert_eq!(
            truncated("2001:db8:5:1234::abcd".parse().unwrap()),
            "2001:db8:5::/48"
        );
        assert_eq!(
            truncated("::ffff:203.0.113.9".parse().unwrap()),
            "203.0.113.0/24"
        );
    }
}
