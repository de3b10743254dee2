//! Names and short texts from the profile that end up in a file, a path or a command line: host and domain
//! names (RFC 1123), server names, object names (Pexip nodes, libvirt domains, file stems), bridge names, time
//! zones, Debian suites, mirrors and package names, and single lines of free text.
//!
//! Each is a type that can only be made by parsing, so a value that reached the rest of forja was checked here,
//! at load time, with the profile's file:line:column (serde reports the span). The rules are deliberately
//! narrower than what each consumer would tolerate: a character that some config syntax would treat specially
//! (quote, `#`, `;`, whitespace, a control character, a leading `-`) is refused for every consumer, and the
//! writers in [`crate::compose`] quote or refuse again on their side.

use std::fmt;
use std::str::FromStr;

/// The boilerplate of a validated string: parse on deserialise, print as the string, read as `&str`.
macro_rules! checked_string {
    ($(#[$meta:meta])* $t:ident, $check:path) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $t(String);

        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $check(s).map(|()| $t(s.to_owned()))
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

checked_string!(
    /// One label of a host name (RFC 1123): 1–63 letters, digits and `-`, not starting or ending with `-`.
    /// What `/etc/hostname` holds and what Pexip's wizard asks for as "hostname".
    HostName,
    check_host_name
);

checked_string!(
    /// A DNS domain (RFC 1123): labels as in [`HostName`] joined by `.`, at most 253 characters.
    DomainName,
    check_domain_name
);

checked_string!(
    /// A server the host or the nodes talk to (NTP, syslog, LDAP): an IP address or a DNS name.
    ServerName,
    check_server_name
);

checked_string!(
    /// The name of an object forja makes files, libvirt domains or API objects from (a Pexip node): 1–63
    /// ASCII letters, digits, `-` and `_`, starting with a letter or digit.
    ObjectName,
    check_object_name
);

checked_string!(
    /// A Linux network interface name for the VM bridge: 1–15 ASCII letters, digits, `-` and `_`, starting with a
    /// letter (the kernel's limit is 15 bytes).
    BridgeName,
    check_bridge_name
);

checked_string!(
    /// A time zone as the tz database names it (`Europe/Madrid`, `UTC`): its syntax here; that the zone exists is
    /// checked against a zoneinfo tree (the base's, when building).
    TimeZone,
    check_time_zone
);

checked_string!(
    /// A Debian suite or codename (`bookworm`, `stable`, `bookworm-backports`).
    Suite,
    check_suite
);

checked_string!(
    /// A Debian mirror URL: `http://`, `https://` or `file://`, no whitespace, quotes or control characters.
    MirrorUrl,
    check_mirror
);

checked_string!(
    /// A Debian package name (Debian policy §5.6.7): lower-case letters, digits, `+`, `-`, `.`, at least two
    /// characters, starting with a letter or digit.
    PackageName,
    check_package
);

checked_string!(
    /// One line of free text (a name shown to people, an e-mail address, a user name, a URL): 1–255 characters,
    /// none of them a control character (so no newline, tab or NUL).
    Line,
    check_line
);

checked_string!(
    /// An OpenSSH token (an algorithm name such as `aes256-gcm@openssh.com`): letters, digits, `-`, `.`, `@`, `_`.
    SshToken,
    check_ssh_token
);

checked_string!(
    /// One `authorized_keys` line: printable, no control characters, at most 16 KiB.
    KeyLine,
    check_key_line
);

impl TimeZone {
    /// Whether the zone is a compiled zone file (TZif) in the tz database at `zoneinfo` (e.g. the base's
    /// `/usr/share/zoneinfo`).
    pub fn is_in(&self, zoneinfo: &std::path::Path) -> bool {
        is_zone_file(&zoneinfo.join(&self.0))
    }
}

/// Whether `path` is a regular file that starts with the TZif magic (symlinks inside a tz database followed).
pub fn is_zone_file(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    crate::inbound::open_regular(path)
        .and_then(|mut f| f.read_exact(&mut magic).map_err(anyhow::Error::from))
        .is_ok_and(|()| &magic == b"TZif")
}

/// Multi-line text (a login banner): any printable character, newlines and tabs, at most 4 KiB.
#[derive(Clone, PartialEq, Eq)]
pub struct Banner(String);

impl Banner {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Banner {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() > 4096 {
            return Err(format!(
                "a banner of {} bytes is too long: at most 4096",
                s.len()
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        {
            return Err(format!(
                "the banner holds the control character {:?}; only printable text, newlines and tabs",
                c
            ));
        }
        Ok(Banner(s.to_owned()))
    }
}

impl fmt::Debug for Banner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Banner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Banner {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Banner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Banner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `{s:?}` cut to a readable length, for error messages about hostile values.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(60).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

fn label_problem(label: &str) -> Option<&'static str> {
    if label.is_empty() {
        Some("an empty label")
    } else if label.len() > 63 {
        Some("a label longer than 63 characters")
    } else if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Some("a character other than a letter, digit or `-`")
    } else if label.starts_with('-') || label.ends_with('-') {
        Some("a label that starts or ends with `-`")
    } else {
        None
    }
}

fn check_host_name(s: &str) -> Result<(), String> {
    match label_problem(s) {
        None => Ok(()),
        Some(why) => Err(format!(
            "{} is not a host name ({why}): use 1-63 letters, digits and `-` (RFC 1123), without the domain",
            shown(s)
        )),
    }
}

fn check_domain_name(s: &str) -> Result<(), String> {
    let why = if s.len() > 253 {
        Some("longer than 253 characters")
    } else {
        s.split('.').find_map(label_problem)
    };
    match why {
        None => Ok(()),
        Some(why) => Err(format!(
            "{} is not a domain name ({why}): use labels of letters, digits and `-` joined by `.` (RFC 1123), e.g. \"sede.example\"",
            shown(s)
        )),
    }
}

fn check_server_name(s: &str) -> Result<(), String> {
    if s.parse::<std::net::IpAddr>().is_ok() || check_domain_name(s).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{} is neither an IP address nor a DNS name (RFC 1123 labels joined by `.`)",
            shown(s)
        ))
    }
}

fn check_object_name(s: &str) -> Result<(), String> {
    let ok = (1..=63).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a usable name: 1-63 letters, digits, `-` and `_`, starting with a letter or digit (it names files and libvirt domains)",
            shown(s)
        ))
    }
}

fn check_bridge_name(s: &str) -> Result<(), String> {
    let ok = (1..=15).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a bridge name: 1-15 letters, digits, `-` and `_`, starting with a letter (a Linux interface name)",
            shown(s)
        ))
    }
}

fn check_time_zone(s: &str) -> Result<(), String> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && !p.starts_with('-')
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
    };
    if s.len() <= 64 && s.split('/').all(part_ok) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a time zone: write a tz database name such as \"Europe/Madrid\" or \"UTC\"",
            shown(s)
        ))
    }
}

fn check_suite(s: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a Debian suite: lower-case letters, digits, `-` and `.`, e.g. \"bookworm\"",
            shown(s)
        ))
    }
}

fn check_mirror(s: &str) -> Result<(), String> {
    let rest = ["http://", "https://", "file://"]
        .iter()
        .find_map(|p| s.strip_prefix(p));
    let ok = s.len() <= 1024
        && rest.is_some_and(|r| {
            !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_graphic() && !"\"'`\\<>{}|^".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a mirror URL: write http://, https:// or file:// and a path without spaces or quotes, e.g. \"http://deb.debian.org/debian\"",
            shown(s)
        ))
    }
}

fn check_package(s: &str) -> Result<(), String> {
    let ok = (2..=128).contains(&s.len())
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a Debian package name: lower-case letters, digits, `+`, `-` and `.`, starting with a letter or digit",
            shown(s)
        ))
    }
}

fn check_line(s: &str) -> Result<(), String> {
    if s.is_empty() {
        Err("an empty value: write the text".into())
    } else if s.chars().count() > 255 {
        Err(format!("{} is longer than 255 characters", shown(s)))
    } else if let Some(c) = s.chars().find(|c| c.is_control()) {
        Err(format!(
            "{} holds the control character {c:?}: one line of printable text",
            shown(s)
        ))
    } else {
        Ok(())
    }
}

fn check_ssh_token(s: &str) -> Result<(), String> {
    let ok = (1..=128).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.@_".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not an SSH algorithm name: letters, digits, `-`, `.`, `@` and `_`",
            shown(s)
        ))
    }
}

fn check_key_line(s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.len() > 16 << 10 {
        Err("an authorized key must be one non-empty line of at most 16 KiB".into())
    } else if let Some(c) = s.chars().find(|c| c.is_control()) {
        Err(format!(
            "an authorized key holds the control character {c:?}: one line per key"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_follow_rfc_1123() {
        for good in ["kvm-lab", "a", "pexconf01", "X1"] {
            assert!(good.parse::<HostName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a.b",
            "kvm\"\nset superusers=\"\"",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(bad.parse::<HostName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn domains_are_labels_joined_by_dots() {
        assert!("lab.example".parse::<DomainName>().is_ok());
        assert!("example".parse::<DomainName>().is_ok());
        for bad in ["", "a..b", ".a", "a.", "a_b.c", "a b", "x\n"] {
            assert!(bad.parse::<DomainName>().is_err(), "{bad:?}");
        }
        assert!(
            format!("{}.x", "a".repeat(252))
                .parse::<DomainName>()
                .is_err()
        );
    }

    #[test]
    fn server_names_are_addresses_or_dns_names() {
        for good in ["192.0.2.1", "2001:db8::1", "ntp1.lab.example"] {
            assert!(good.parse::<ServerName>().is_ok(), "{good}");
        }
        for bad in ["", "ntp1 iburst", "x\"y", "a;b", "-v"] {
            assert!(bad.parse::<ServerName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn object_and_bridge_names_are_safe_in_paths_and_commands() {
        assert!("pexmgr".parse::<ObjectName>().is_ok());
        assert!("conf_01-a".parse::<ObjectName>().is_ok());
        for bad in ["", "../../x", "a/b", ".hidden", "-x", "a b", "a.b"] {
            assert!(bad.parse::<ObjectName>().is_err(), "{bad:?}");
        }
        assert!("br-pexip".parse::<BridgeName>().is_ok());
        for bad in ["br0; rm -rf", "0br", "a-very-long-bridge", "br/0", ""] {
            assert!(bad.parse::<BridgeName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn time_zones_suites_mirrors_and_packages_never_look_like_options() {
        for good in [
            "Europe/Madrid",
            "UTC",
            "Etc/GMT+1",
            "America/Argentina/Buenos_Aires",
        ] {
            assert!(good.parse::<TimeZone>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "../etc/shadow",
            "/etc/shadow",
            "Europe//Madrid",
            "-x",
            "a b",
        ] {
            assert!(bad.parse::<TimeZone>().is_err(), "{bad:?}");
        }
        assert!("bookworm".parse::<Suite>().is_ok());
        assert!("bookworm-backports".parse::<Suite>().is_ok());
        assert!("--version".parse::<Suite>().is_err());
        assert!("http://deb.debian.org/debian".parse::<MirrorUrl>().is_ok());
        assert!("file:///srv/mirror".parse::<MirrorUrl>().is_ok());
        for bad in [
            "--help",
            "deb http://x bookworm main",
            "http://a b",
            "http://",
        ] {
            assert!(bad.parse::<MirrorUrl>().is_err(), "{bad:?}");
        }
        assert!("libpam-pwquality".parse::<PackageName>().is_ok());
        assert!("g++".parse::<PackageName>().is_ok());
        for bad in ["--force", "a", "Foo", "a,b", "a b"] {
            assert!(bad.parse::<PackageName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lines_keys_and_banners_hold_no_control_characters() {
        assert!("seguridad@lab.example".parse::<Line>().is_ok());
        assert!("sala dirección".parse::<Line>().is_ok());
        for bad in ["", "a\nb", "a\0", "a\tb", &"x".repeat(256)] {
            assert!(bad.parse::<Line>().is_err(), "{bad:?}");
        }
        assert!("ssh-ed25519 AAAA user@host".parse::<KeyLine>().is_ok());
        assert!("ssh-ed25519 AAAA\nssh-rsa BBBB".parse::<KeyLine>().is_err());
        assert!("aes256-gcm@openssh.com".parse::<SshToken>().is_ok());
        assert!("aes256-ctr,3des-cbc".parse::<SshToken>().is_err());
        assert!("ACCESO\nRESTRINGIDO\n".parse::<Banner>().is_ok());
        assert!("a\x1b[2Jb".parse::<Banner>().is_err());
    }

    #[test]
    fn zones_are_looked_up_in_a_tz_database() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("Europe")).unwrap();
        std::fs::write(d.path().join("Europe/Madrid"), b"TZif2\0\0").unwrap();
        std::fs::write(d.path().join("Fake"), b"not a zone").unwrap();
        let tz = |s: &str| s.parse::<TimeZone>().unwrap();
        assert!(tz("Europe/Madrid").is_in(d.path()));
        assert!(!tz("Europe/Nowhere").is_in(d.path()));
        assert!(!tz("Fake").is_in(d.path()));
        assert!(!tz("Europe").is_in(d.path()), "a folder is not a zone");
    }

    #[test]
    fn a_refused_value_is_shown_escaped_and_cut() {
        let err = format!("{}\nset superusers=\"\"", "k".repeat(100))
            .parse::<HostName>()
            .unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains('…'), "{err}");
    }
}
