//! `forja media install`: the installer's main, run by `/forja/init` inside the installer's initramfs.
//! Finds the payload (the USB image's payload partition, or `forja.url=` from the kernel command line), verifies
//! it, picks the target by the rule, writes the image ([`super::install`]) and, from USB, leaves an install
//! record on the payload partition. Every step prints one `forja-installer:` line on the console.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::install::{self, Payload};
use super::select::{self, Machine, SelectedBy};
use super::target::{self, Disk, TargetRule};
use super::{InstallerConfig, Mode};
use crate::error::{Exit, fail};
use crate::sign::PublicKey;

/// Where the USB payload partition is mounted.
pub const PAYLOAD_MOUNT: &str = "/run/forja-payload";
/// The folder on the payload partition that receives install records.
pub const RECORDS: &str = "install-records";

/// One line of the console protocol (the QEMU tests read these).
pub fn say(msg: impl AsRef<str>) {
    println!("forja-installer: {}", msg.as_ref());
}

/// The value of `forja.url=` on a kernel command line.
pub fn cmdline_url(cmdline: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("forja.url="))
        .map(str::to_owned)
}

/// What the installer leaves on the USB payload partition (`install-records/TIME-HOST-SERIAL.json`), and prints
/// on the console from PXE: which host was installed (and, from a site's stick, why this machine is that host),
/// the machine's own identity, the target disk and the image.
#[derive(Debug, serde::Serialize)]
pub struct Record {
    pub time_unix: u64,
    pub result: String,
    /// The host installed; `None` when the machine was refused as no (or more than one) host of the site.
    pub host: Option<String>,
    /// The site, when the medium carries a site's hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The profile (for a site's host, the site) the build came from.
    pub profile: String,
    /// What picked the host on a site's stick (a single host's medium installs its one host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_by: Option<SelectedBy>,
    /// The NICs' MACs and DMI serial the installer saw.
    pub machine: Machine,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Disk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<crate::hashio::Sha256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<u64>,
    /// Whether the firmware ran the installer with Secure Boot enforcing.
    pub secure_boot: bool,
}

/// The host this run installs: the medium's one host, or the site's host this machine is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub host: String,
    /// Its payload folder under the medium's payload (`None`: the payload's root).
    pub dir: Option<String>,
    pub by: Option<SelectedBy>,
    pub target: TargetRule,
    pub skip: Vec<super::Region>,
}

/// Picks the host: a single host's medium has one; a site's stick picks by `machine` ([`select::select`]).
pub fn choose(cfg: &InstallerConfig, machine: &Machine) -> anyhow::Result<Chosen> {
    match &cfg.site {
        None => Ok(Chosen {
            host: cfg.host.clone(),
            dir: None,
            by: None,
            target: cfg.target.clone(),
            skip: cfg.skip.clone(),
        }),
        Some(site) => {
            let (h, by) = select::select(machine, site)?;
            Ok(Chosen {
                host: h.name.clone(),
                dir: Some(h.dir.clone()),
                by: Some(by),
                target: h.target.clone(),
                skip: h.skip.clone(),
            })
        }
    }
}

/// The record of one run: `chosen` is `None` when the machine was refused.
pub fn record(
    cfg: &InstallerConfig,
    machine: &Machine,
    chosen: Option<&Chosen>,
    outcome: &anyhow::Result<(Disk, install::Written)>,
    secure_boot: bool,
    time_unix: u64,
) -> Record {
    let (result, target, written) = match outcome {
        Ok((t, w)) => ("ok".to_owned(), Some(t.clone()), Some(w)),
        Err(e) => (format!("failed: {e:#}"), None, None),
    };
    Record {
        time_unix,
        result,
        host: chosen.map(|c| c.host.clone()),
        site: cfg.site.as_ref().map(|s| s.site.clone()),
        profile: cfg.profile.clone(),
        selected_by: chosen.and_then(|c| c.by.clone()),
        machine: machine.clone(),
        target,
        image_sha256: written.map(|w| w.image_sha256),
        bytes_written: written.map(|w| w.bytes),
        secure_boot,
    }
}

/// Whether the firmware enforces Secure Boot: the last byte of its `SecureBoot` variable is 1. Debian's initrd
/// does not carry the efivarfs module, so the installer usually cannot read the variable; then the kernel's own
/// verdict counts: Debian's kernel locks itself down (`integrity`) exactly when it was booted under Secure Boot
/// (CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT), and the installer's command line sets no `lockdown=`.
pub fn secure_boot() -> bool {
    match std::fs::read("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c")
    {
        Ok(v) => v.last().copied() == Some(1),
        Err(_) => std::fs::read_to_string("/sys/kernel/security/lockdown")
            .map(|t| locked_down(&t))
            .unwrap_or(false),
    }
}

/// `none [integrity] confidentiality`: true when a lockdown mode other than `none` is selected.
fn locked_down(text: &str) -> bool {
    text.split_whitespace()
        .any(|w| w.starts_with('[') && w != "[none]")
}

/// Runs the installer. `Err` means nothing bootable was written (see [`install`]).
pub fn run(cfg: &InstallerConfig, key: &PublicKey, url: Option<String>) -> anyhow::Result<()> {
    let sys = Path::new("/sys/block");
    let dev = Path::new("/dev");
    let sb = secure_boot();
    say(format!(
        "Secure Boot {}",
        if sb { "enforcing" } else { "off" }
    ));
    let disks = target::scan(sys, dev).context("listing disks")?;
    for d in &disks {
        say(format!(
            "disk {} {} bytes model {:?} serial {:?}{}",
            d.name,
            d.size,
            d.model,
            d.serial,
            if d.removable { " removable" } else { "" }
        ));
    }
    let machine = Machine::read(Path::new("/sys"));
    say(format!("this machine: {}", machine.describe()));
    let payload = open_payload(cfg, url, &disks, sys, dev)?;
    let (chosen, outcome) = match choose(cfg, &machine) {
        Ok(c) => {
            say(match &c.by {
                Some(by) => format!("host {} (chosen by {by})", c.host),
                None => format!("host {}", c.host),
            });
            let here = match (&payload, &c.dir) {
                (Payload::Dir(d), Some(sub)) => Payload::Dir(d.join(sub)),
                _ => payload.clone(),
            };
            let o = verify_and_write(&c, cfg.usb_disk_guid, key, &here, &disks);
            (Some(c), o)
        }
        Err(e) => (None, Err(e)),
    };
    let rec = record(cfg, &machine, chosen.as_ref(), &outcome, sb, now());
    match &payload {
        Payload::Dir(d) => leave_record(d, &rec),
        // No writable medium over the network: the record goes to the console.
        Payload::Http(_) => match serde_json::to_string(&rec) {
            Ok(line) => say(format!("install record: {line}")),
            Err(e) => say(format!("could not print the install record: {e}")),
        },
    }
    let (t, w) = outcome?;
    say(format!(
        "DONE: host {}: {} bytes written to {} (serial {:?}), image SHA-256 {}",
        rec.host.as_deref().unwrap_or_default(),
        w.bytes,
        t.dev.display(),
        t.serial,
        w.image_sha256.hex()
    ));
    Ok(())
}

/// Where the payload is: the USB image's payload partition (mounted), or `forja.url=` for PXE.
fn open_payload(
    cfg: &InstallerConfig,
    url: Option<String>,
    disks: &[Disk],
    sys: &Path,
    dev: &Path,
) -> anyhow::Result<Payload> {
    match cfg.mode {
        Mode::Usb => {
            let guid = cfg
                .usb_disk_guid
                .context("installer.json: usb-disk-guid missing")?;
            let usb = disks
                .iter()
                .find(|d| d.gpt_guid == Some(guid))
                .ok_or_else(|| {
                    fail(
                        Exit::Input,
                        format!("the installer medium (GPT {guid}) is not among the disks"),
                    )
                })?;
            let part =
                target::partition_dev(sys, dev, &usb.name, cfg.payload_partition.unwrap_or(2))?;
            std::fs::create_dir_all(PAYLOAD_MOUNT)?;
            crate::exec::Task::new("mounting the payload partition", "mount")
                .args(["-t", "ext4"])
                .arg(&part)
                .arg(PAYLOAD_MOUNT)
                .run()?;
            say(format!("payload: {} on {PAYLOAD_MOUNT}", part.display()));
            Ok(Payload::Dir(PathBuf::from(PAYLOAD_MOUNT)))
        }
        Mode::Pxe => {
            let url = url
                .or_else(|| {
                    std::fs::read_to_string("/proc/cmdline")
                        .ok()
                        .and_then(|c| cmdline_url(&c))
                })
                .ok_or_else(|| fail(Exit::Input, "no forja.url= on the kernel command line"))?;
            say(format!("payload: {url}"));
            Ok(Payload::Http(url))
        }
    }
}

/// Writes the install record onto the USB payload partition, whatever the outcome, and unmounts it.
fn leave_record(dir: &Path, rec: &Record) {
    if let Err(e) = write_record(dir, rec) {
        say(format!("could not write the install record: {e:#}"));
    }
    let _ = crate::exec::Task::new("unmounting the payload", "umount")
        .arg(dir)
        .run();
}

fn verify_and_write(
    c: &Chosen,
    usb_disk_guid: Option<uuid::Uuid>,
    key: &PublicKey,
    payload: &Payload,
    disks: &[Disk],
) -> anyhow::Result<(Disk, install::Written)> {
    say("checking the signature of SHA256SUMS with the built-in key");
    let trusted = install::verify_list(payload, key)?;
    say(format!("signature ok; {}", trusted.describe()));
    let files = trusted.files().collect::<Vec<_>>().join(", ");
    say(match payload {
        Payload::Dir(_) => format!("hashing {files} before touching any disk"),
        Payload::Http(_) => format!(
            "fetching {files} once to hash it before touching any disk (it is fetched again to write)"
        ),
    });
    install::verify_image(payload, &trusted)?;
    say("payload ok");
    let t = target::choose(disks, &c.target, usb_disk_guid)?.clone();
    say(format!(
        "target: {} ({} bytes, model {:?}, serial {:?})",
        t.dev.display(),
        t.size,
        t.model,
        t.serial
    ));
    let w = install::write_image(payload, &trusted, &t.dev, &c.skip)?;
    Ok((t, w))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// File-name-safe: ASCII letters, digits and `-` only (host names and serials come from outside).
fn name_part(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// Writes `rec` as `dir/install-records/TIME-HOST-SERIAL.json` and returns its path.
pub fn write_record(dir: &Path, rec: &Record) -> anyhow::Result<PathBuf> {
    let folder = dir.join(RECORDS);
    std::fs::create_dir_all(&folder)?;
    let host = rec
        .host
        .as_deref()
        .map(name_part)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "refused".into());
    let serial: String = rec
        .target
        .as_ref()
        .map(|t| {
            t.serial
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect()
        })
        .unwrap_or_else(|| "none".into());
    let path = folder.join(format!("{}-{host}-{serial}.json", rec.time_unix));
    // Atomic, so a power cut leaves either no record or a whole one; then the folder is flushed before umount.
    crate::artifact::write_atomic(&path, &crate::artifact::json_lines(rec)?)?;
    let _ = crate::exec::Task::new("flushing the payload partition", "sync").run();
    say(format!("install record: {}", path.display()));
    Ok(path)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_selected_lockdown_mode_means_secure_boot() {
        assert!(locked_down("none [integrity] confidentiality\n"));
        assert!(locked_down("none integrity [confidentiality]\n"));
        assert!(!locked_down("[none] integrity confidentiality\n"));
        assert!(!locked_down(""));
    }

    use super::*;

    #[test]
    fn url_comes_from_the_kernel_command_line() {
        assert_eq!(
            cmdline_url("console=ttyS0 forja.url=http://10.0.2.2:8080/payload quiet"),
            Some("http://10.0.2.2:8080/payload".into())
        );
        assert_eq!(cmdline_url("console=ttyS0"), None);
    }

    fn disk() -> Disk {
        Disk {
            name: "vda".into(),
            dev: "/dev/vda".into(),
            size: 1 << 34,
            removable: false,
            model: "QEMU".into(),
            serial: "forja-target-1".into(),
            gpt_guid: None,
        }
    }

    fn written() -> install::Written {
        install::Written {
            bytes: 42,
            image_sha256: crate::hashio::Sha256::of(b"image"),
        }
    }

    fn machine() -> Machine {
        Machine {
            macs: vec!["52:54:00:0a:02:01".into(), "52:54:00:0a:02:02".into()],
            serial: Some("CZ2041ABCD".into()),
        }
    }

    fn single() -> InstallerConfig {
        InstallerConfig {
            mode: Mode::Usb,
            usb_disk_guid: None,
            payload_partition: Some(2),
            target: TargetRule::default(),
            skip: Vec::new(),
            host: "kvm-lab".into(),
            profile: "lab".into(),
            site: None,
        }
    }

    fn site() -> InstallerConfig {
        let h = |name: &str, macs: &[&str]| select::HostChoice {
            name: name.into(),
            dir: format!("hosts/{name}"),
            macs: macs.iter().map(|m| m.to_string()).collect(),
            serial: None,
            target: TargetRule::default(),
            skip: vec![super::super::Region {
                offset: 1 << 20,
                len: 4096,
            }],
        };
        InstallerConfig {
            host: String::new(),
            profile: "lab-site".into(),
            site: Some(select::SiteChoices {
                site: "lab-site".into(),
                hosts: vec![
                    h("kvm-lab-1", &["52:54:00:0a:01:01"]),
                    h("kvm-lab-2", &["52:54:00:0a:02:02"]),
                ],
            }),
            ..single()
        }
    }

    fn read_back(dir: &Path, rec: &Record) -> (String, serde_json::Value) {
        let path = write_record(dir, rec).unwrap();
        assert_eq!(path.parent().unwrap(), dir.join(RECORDS));
        let v = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        (path.file_name().unwrap().to_string_lossy().into_owned(), v)
    }

    #[test]
    fn a_single_host_record_names_the_host_and_the_machine() {
        let cfg = single();
        let c = choose(&cfg, &machine()).unwrap();
        assert_eq!(c.dir, None);
        let rec = record(
            &cfg,
            &machine(),
            Some(&c),
            &Ok((disk(), written())),
            true,
            1_800_000_000,
        );
        let d = tempfile::tempdir().unwrap();
        let (name, v) = read_back(d.path(), &rec);
        assert_eq!(name, "1800000000-kvm-lab-forjatarget1.json");
        assert_eq!(v["host"], "kvm-lab");
        assert_eq!(v["profile"], "lab");
        assert!(
            v.get("site").is_none() && v.get("selected_by").is_none(),
            "{v}"
        );
        assert_eq!(v["machine"]["macs"][1], "52:54:00:0a:02:02");
        assert_eq!(v["machine"]["serial"], "CZ2041ABCD");
        assert_eq!(v["result"], "ok");
        assert_eq!(v["target"]["serial"], "forja-target-1");
        assert_eq!(v["bytes_written"], 42);
        assert_eq!(v["image_sha256"], crate::hashio::Sha256::of(b"image").hex());
    }

    #[test]
    fn a_site_record_names_the_site_the_host_and_the_mac_that_chose_it() {
        let cfg = site();
        let c = choose(&cfg, &machine()).unwrap();
        assert_eq!(c.host, "kvm-lab-2");
        assert_eq!(c.dir.as_deref(), Some("hosts/kvm-lab-2"));
        assert_eq!(c.skip.len(), 1, "the chosen host's own regions");
        let rec = record(
            &cfg,
            &machine(),
            Some(&c),
            &Ok((disk(), written())),
            false,
            7,
        );
        let d = tempfile::tempdir().unwrap();
        let (name, v) = read_back(d.path(), &rec);
        assert_eq!(name, "7-kvm-lab-2-forjatarget1.json");
        assert_eq!(v["site"], "lab-site");
        assert_eq!(v["host"], "kvm-lab-2");
        assert_eq!(v["selected_by"]["mac"], "52:54:00:0a:02:02");
    }

    #[test]
    fn a_refused_machine_leaves_a_record_naming_no_host() {
        let cfg = site();
        let stranger = Machine {
            macs: vec!["02:00:00:00:00:09".into()],
            serial: None,
        };
        let e = choose(&cfg, &stranger).unwrap_err();
        let rec = record(&cfg, &stranger, None, &Err(e), false, 7);
        let d = tempfile::tempdir().unwrap();
        let (name, v) = read_back(d.path(), &rec);
        assert_eq!(name, "7-refused-none.json");
        assert!(v["host"].is_null(), "{v}");
        assert_eq!(v["site"], "lab-site");
        assert_eq!(v["machine"]["macs"][0], "02:00:00:00:00:09");
        let result = v["result"].as_str().unwrap();
        assert!(
            result.starts_with("failed: REFUSED") && result.contains("02:00:00:00:00:09"),
            "{result}"
        );
        assert!(v.get("target").is_none() && v.get("image_sha256").is_none());
    }
}
