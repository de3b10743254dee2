//! Network value types used by the profile: MAC addresses, addresses with prefix, and the address mode.
//!
//! They parse at the edge (TOML strings) so the rest of forja never handles an unchecked address string.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An Ethernet MAC address, shown lower-case with colons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        let bad =
            || format!("`{s}` is not a MAC address: expected six hex pairs like 52:54:00:12:34:56");
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}
string_serde!(Mac);

/// An address with its prefix length, e.g. `192.0.2.10/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// The IPv4 netmask in dotted form (what Pexip's wizard asks for), or `None` for IPv6.
    pub fn netmask_v4(&self) -> Option<std::net::Ipv4Addr> {
        match self.addr {
            IpAddr::V4(_) => {
                let bits = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                Some(std::net::Ipv4Addr::from(bits))
            }
            IpAddr::V6(_) => None,
        }
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = self.netmask_v4().map(u32::from).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let p = u32::from(self.prefix);
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| {
            format!(
                "`{s}` has no prefix length: write the address with its prefix, e.g. 192.0.2.10/24"
            )
        })?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("`{p}` is not a prefix length between 0 and {max}"))?;
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}
string_serde!(Cidr);

/// How an interface gets its address. Only `Static` is acceptable (§24); `Dhcp` parses so that the policy can
/// refuse it with the guide's reason instead of a bare type error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressMode {
    Static(Cidr),
    Dhcp,
}

impl AddressMode {
    pub fn static_cidr(&self) -> Option<Cidr> {
        match self {
            AddressMode::Static(c) => Some(*c),
            AddressMode::Dhcp => None,
        }
    }
}

impl FromStr for AddressMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("dhcp") || s.eq_ignore_ascii_case("auto") {
            Ok(AddressMode::Dhcp)
        } else {
            s.parse().map(AddressMode::Static)
        }
    }
}

impl fmt::Display for AddressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressMode::Static(c) => c.fmt(f),
            AddressMode::Dhcp => f.write_str("dhcp"),
        }
    }
}
string_serde!(AddressMode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_macs_and_cidrs() {
        let m: Mac = "52-54-00-AB-cd-01".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:ab:cd:01");
        assert!("52:54:00:ab:cd".parse::<Mac>().is_err());
        let c: Cidr = "192.0.2.10/24".parse().unwrap();
        assert_eq!(c.netmask_v4().unwrap().to_string(), "255.255.255.0");
        assert!(c.contains("192.0.2.200".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!("192.0.2.10".parse::<Cidr>().unwrap_err().contains("prefix"));
        assert!("192.0.2.10/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn dhcp_is_a_mode_not_a_parse_error() {
        assert_eq!("DHCP".parse::<AddressMode>().unwrap(), AddressMode::Dhcp);
    }
}
