//! Which host of a site this machine is, for the site's one USB stick: the MAC of any of the machine's NICs
//! (`/sys/class/net/*/address`) or, where the site profile declares one, its DMI serial
//! (`/sys/class/dmi/id/product_serial`), matched against every host the stick carries.
//!
//! Exactly one host must match. A machine that matches none, or two hosts (one by a MAC, another by the serial,
//! or the same MAC declared twice, which `forja check` refuses anyway), is refused with a line naming what it
//! saw: there is no default host, as in the site's PXE tree. The choice is a pure function over a sysfs root,
//! so it is tested on fake trees. Deliberately not here: any trust decision. The chosen host's payload is still
//! verified against the key built into the installer before anything is written.

use std::fs;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Region;
use super::target::TargetRule;
use crate::error::{Exit, fail};

/// What identifies the machine the installer runs on, as sysfs shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// The NICs' MACs, lower-case with colons, sorted (loopback and all-zero addresses left out).
    pub macs: Vec<String>,
    /// The DMI product serial, trimmed; `None` when the firmware gives none (or an empty one).
    pub serial: Option<String>,
}

/// Sysfs attributes are a page at most; anything longer is not one.
const ATTR_CAP: u64 = 4096;

fn attr(p: &Path) -> Option<String> {
    let mut s = String::new();
    fs::File::open(p)
        .ok()?
        .take(ATTR_CAP)
        .read_to_string(&mut s)
        .ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A MAC as the site manifest and the PXE tree write it: lower-case, colons.
pub fn normalise_mac(mac: &str) -> String {
    mac.trim().to_ascii_lowercase().replace('-', ":")
}

impl Machine {
    /// Reads the machine's identity under `sys` (normally `/sys`). A missing folder is an empty identity, which
    /// then matches no host.
    pub fn read(sys: &Path) -> Machine {
        let mut macs: Vec<String> = fs::read_dir(sys.join("class/net"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name() != "lo")
            .filter_map(|e| attr(&e.path().join("address")))
            .map(|m| normalise_mac(&m))
            .filter(|m| m.chars().any(|c| c != '0' && c != ':'))
            .collect();
        macs.sort();
        macs.dedup();
        Machine {
            macs,
            serial: attr(&sys.join("class/dmi/id/product_serial")),
        }
    }

    /// One line for the console and the refusal: `MACs a, b; serial S` (or `no DMI serial`).
    pub fn describe(&self) -> String {
        let macs = if self.macs.is_empty() {
            "no NIC with a MAC".to_owned()
        } else {
            format!("MACs {}", self.macs.join(", "))
        };
        match &self.serial {
            Some(s) => format!("{macs}; DMI serial {s:?}"),
            None => format!("{macs}; no DMI serial"),
        }
    }
}

/// One host a site stick can install: how to recognise its machine, where its payload is, how it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HostChoice {
    pub name: String,
    /// Its payload folder on the stick's payload partition (`hosts/NAME`).
    pub dir: String,
    /// The MACs of its NICs, lower-case with colons.
    pub macs: Vec<String>,
    /// Its machine's DMI serial, when the site profile declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Its profile's `[install] target` rule.
    #[serde(default)]
    pub target: TargetRule,
    /// Byte ranges its image leaves empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<Region>,
}

/// The hosts of a site stick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SiteChoices {
    pub site: String,
    pub hosts: Vec<HostChoice>,
}

/// What made the installer pick its host (written into the install record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectedBy {
    /// The MAC of one of the machine's NICs.
    Mac(String),
    /// The machine's DMI serial.
    Serial(String),
}

impl std::fmt::Display for SelectedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SelectedBy::Mac(m) => write!(f, "MAC {m}"),
            SelectedBy::Serial(s) => write!(f, "DMI serial {s:?}"),
        }
    }
}

/// What in `m` identifies host `h`, if anything (a MAC before the serial).
fn matches(m: &Machine, h: &HostChoice) -> Option<SelectedBy> {
    let declared: Vec<String> = h.macs.iter().map(|x| normalise_mac(x)).collect();
    if let Some(mac) = m.macs.iter().find(|x| declared.contains(x)) {
        return Some(SelectedBy::Mac(mac.clone()));
    }
    match (&m.serial, &h.serial) {
        (Some(have), Some(want)) if have == want.trim() => Some(SelectedBy::Serial(have.clone())),
        _ => None,
    }
}

/// The one host of `site` that `m` is. None or several: refused (exit 2), naming what the machine showed.
pub fn select<'a>(
    m: &Machine,
    site: &'a SiteChoices,
) -> anyhow::Result<(&'a HostChoice, SelectedBy)> {
    let found: Vec<(&HostChoice, SelectedBy)> = site
        .hosts
        .iter()
        .filter_map(|h| matches(m, h).map(|by| (h, by)))
        .collect();
    match found.as_slice() {
        [(h, by)] => Ok((*h, by.clone())),
        [] => {
            let known: Vec<&str> = site.hosts.iter().map(|h| h.name.as_str()).collect();
            Err(fail(
                Exit::Input,
                format!(
                    "REFUSED: this machine ({}) is not a host of site {} (hosts: {}); nothing is written, there \
                     is no default host",
                    m.describe(),
                    site.site,
                    known.join(", ")
                ),
            ))
        }
        many => {
            let which: Vec<String> = many
                .iter()
                .map(|(h, by)| format!("{} by {by}", h.name))
                .collect();
            Err(fail(
                Exit::Input,
                format!(
                    "REFUSED: this machine ({}) matches {} hosts of site {}: {}; nothing is written",
                    m.describe(),
                    many.len(),
                    site.site,
                    which.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, macs: &[&str], serial: Option<&str>) -> HostChoice {
        HostChoice {
            name: name.into(),
            dir: format!("hosts/{name}"),
            macs: macs.iter().map(|m| m.to_string()).collect(),
            serial: serial.map(str::to_owned),
            target: TargetRule::default(),
            skip: Vec::new(),
        }
    }

    fn lab_site() -> SiteChoices {
        SiteChoices {
            site: "lab-site".into(),
            hosts: vec![
                host(
                    "kvm-lab-1",
                    &["52:54:00:0a:01:01", "52:54:00:0a:01:02"],
                    None,
                ),
                host(
                    "kvm-lab-2",
                    &["52:54:00:0a:02:01", "52:54:00:0a:02:02"],
                    Some("CZ2041ABCD"),
                ),
            ],
        }
    }

    /// A fake sysfs: `nics` as (interface, address), and an optional DMI serial.
    fn sysfs(nics: &[(&str, &str)], serial: Option<&str>) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, addr) in nics {
            let n = d.path().join("class/net").join(name);
            fs::create_dir_all(&n).unwrap();
            fs::write(n.join("address"), format!("{addr}\n")).unwrap();
        }
        if let Some(s) = serial {
            let p = d.path().join("class/dmi/id");
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join("product_serial"), format!("{s}\n")).unwrap();
        }
        d
    }

    fn pick(nics: &[(&str, &str)], serial: Option<&str>) -> anyhow::Result<(String, SelectedBy)> {
        let sys = sysfs(nics, serial);
        let site = lab_site();
        select(&Machine::read(sys.path()), &site).map(|(h, by)| (h.name.clone(), by))
    }

    #[test]
    fn reads_every_nic_but_loopback_and_the_serial() {
        let sys = sysfs(
            &[
                ("lo", "00:00:00:00:00:00"),
                ("enp2s0", "52:54:00:0A:02:02"),
                ("enp1s0", "52:54:00:0a:02:01"),
                ("dummy0", "00:00:00:00:00:00"),
            ],
            Some("  CZ2041ABCD \n"),
        );
        let m = Machine::read(sys.path());
        assert_eq!(m.macs, ["52:54:00:0a:02:01", "52:54:00:0a:02:02"]);
        assert_eq!(m.serial.as_deref(), Some("CZ2041ABCD"));
        assert_eq!(
            Machine::read(&sys.path().join("absent")),
            Machine::default()
        );
    }

    #[test]
    fn picks_the_host_by_the_mac_of_either_nic() {
        let by_vm_nic = pick(
            &[("eth0", "02:00:00:00:00:09"), ("eth1", "52:54:00:0a:01:02")],
            None,
        );
        assert_eq!(
            by_vm_nic.unwrap(),
            (
                "kvm-lab-1".into(),
                SelectedBy::Mac("52:54:00:0a:01:02".into())
            )
        );
        let by_mgmt_nic = pick(&[("eth0", "52:54:00:0a:02:01")], None).unwrap();
        assert_eq!(by_mgmt_nic.0, "kvm-lab-2");
    }

    #[test]
    fn upper_case_macs_match_lower_case_declarations() {
        let (name, by) = pick(&[("eth0", "52:54:00:0A:01:01")], None).unwrap();
        assert_eq!(name, "kvm-lab-1");
        assert_eq!(by, SelectedBy::Mac("52:54:00:0a:01:01".into()));
        // And a declaration written in upper case matches what sysfs writes.
        let mut site = lab_site();
        site.hosts[0].macs = vec!["52:54:00:0A:01:01".into()];
        let sys = sysfs(&[("eth0", "52:54:00:0a:01:01")], None);
        assert_eq!(
            select(&Machine::read(sys.path()), &site).unwrap().0.name,
            "kvm-lab-1"
        );
    }

    #[test]
    fn picks_the_host_by_its_dmi_serial() {
        let (name, by) = pick(&[("eth0", "02:00:00:00:00:09")], Some("CZ2041ABCD")).unwrap();
        assert_eq!(name, "kvm-lab-2");
        assert_eq!(by, SelectedBy::Serial("CZ2041ABCD".into()));
    }

    #[test]
    fn refuses_a_machine_no_host_declares_naming_its_macs_and_serial() {
        let e = pick(
            &[("eth0", "02:00:00:00:00:09"), ("eth1", "02:00:00:00:00:0A")],
            Some("OTHER-1"),
        )
        .unwrap_err();
        assert_eq!(crate::error::exit_of(&e), Exit::Input);
        let msg = format!("{e:#}");
        assert!(msg.contains("REFUSED"), "{msg}");
        assert!(
            msg.contains("MACs 02:00:00:00:00:09, 02:00:00:00:00:0a; DMI serial \"OTHER-1\""),
            "{msg}"
        );
        assert!(msg.contains("not a host of site lab-site"), "{msg}");
        let none = pick(&[], None).unwrap_err();
        assert!(
            format!("{none:#}").contains("no NIC with a MAC; no DMI serial"),
            "{none:#}"
        );
    }

    #[test]
    fn refuses_a_machine_that_matches_two_hosts() {
        // Host 1's MAC on a machine with host 2's serial: which disk image it should get is unknowable.
        let e = pick(&[("eth0", "52:54:00:0a:01:01")], Some("CZ2041ABCD")).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("matches 2 hosts"), "{msg}");
        assert!(
            msg.contains("kvm-lab-1 by MAC 52:54:00:0a:01:01")
                && msg.contains("kvm-lab-2 by DMI serial \"CZ2041ABCD\""),
            "{msg}"
        );
        // The same MAC declared by two hosts (which `forja check` refuses) is refused here too.
        let mut site = lab_site();
        site.hosts[1].macs.push("52:54:00:0a:01:01".into());
        let sys = sysfs(&[("eth0", "52:54:00:0a:01:01")], None);
        assert!(select(&Machine::read(sys.path()), &site).is_err());
    }
}
