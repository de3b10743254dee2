//! `forja media install`: the installer's main, run by `/forja/init` inside the installer's initramfs.
//! Finds the payload (the USB image's payload partition, or `forja.url=` from the kernel command line), verifies
//! it, picks the target by the rule, writes the image ([`super::install`]) and, from USB, leaves an install
//! record on the payload partition. Every step prints one `forja-installer:` line on the console.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::install::{self, Payload};
use super::target::{self, Disk};
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

/// What the installer leaves on the USB payload partition (`install-records/TIME-SERIAL.json`).
#[derive(Debug, serde::Serialize)]
pub struct Record {
    pub time_unix: u64,
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Disk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<crate::hashio::Sha256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<u64>,
    /// Whether the firmware ran the installer with Secure Boot enforcing.
    pub secure_boot: bool,
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
    let payload = open_payload(cfg, url, &disks, sys, dev)?;
    let outcome = verify_and_write(cfg, key, &payload, &disks);
    if let Payload::Dir(d) = &payload {
        leave_record(d, &outcome, sb);
    }
    let (t, w) = outcome?;
    say(format!(
        "DONE: {} bytes written to {} (serial {:?}), image SHA-256 {}",
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
fn leave_record(dir: &Path, outcome: &anyhow::Result<(Disk, install::Written)>, secure_boot: bool) {
    let rec = match outcome {
        Ok((t, w)) => Record {
            time_unix: now(),
            result: "ok".into(),
            target: Some(t.clone()),
            image_sha256: Some(w.image_sha256),
            bytes_written: Some(w.bytes),
            secure_boot,
        },
        Err(e) => Record {
            time_unix: now(),
            result: format!("failed: {e:#}"),
            target: None,
            image_sha256: None,
            bytes_written: None,
            secure_boot,
        },
    };
    if let Err(e) = write_record(dir, &rec) {
        say(format!("could not write the install record: {e:#}"));
    }
    let _ = crate::exec::Task::new("unmounting the payload", "umount")
        .arg(dir)
        .run();
}

fn verify_and_write(
    cfg: &InstallerConfig,
    key: &PublicKey,
    payload: &Payload,
    disks: &[Disk],
) -> anyhow::Result<(Disk, install::Written)> {
    say("checking the signature of SHA256SUMS with the built-in key");
    let trusted = install::verify_list(payload, key)?;
    say(format!(
        "signature ok; signed image SHA-256 {}",
        trusted.raw.hex()
    ));
    say(match payload {
        Payload::Dir(_) => format!("hashing {} before touching any disk", install::IMAGE_ZST),
        Payload::Http(_) => format!(
            "fetching {} once to hash it before touching any disk (it is fetched again to write)",
            install::IMAGE_ZST
        ),
    });
    install::verify_image(payload, &trusted)?;
    say("payload ok");
    let t = target::choose(disks, &cfg.target, cfg.usb_disk_guid)?.clone();
    say(format!(
        "target: {} ({} bytes, model {:?}, serial {:?})",
        t.dev.display(),
        t.size,
        t.model,
        t.serial
    ));
    let w = install::write_image(payload, &trusted, &t.dev, &cfg.skip)?;
    Ok((t, w))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn write_record(dir: &Path, rec: &Record) -> anyhow::Result<()> {
    let folder = dir.join(RECORDS);
    std::fs::create_dir_all(&folder)?;
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
    let path = folder.join(format!("{}-{serial}.json", rec.time_unix));
    // Atomic, so a power cut leaves either no record or a whole one; then the folder is flushed before umount.
    crate::artifact::write_atomic(&path, &crate::artifact::json_lines(rec)?)?;
    let _ = crate::exec::Task::new("flushing the payload partition", "sync").run();
    say(format!("install record: {}", path.display()));
    Ok(())
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
}
