//! `forja media usb SITE_BUILD --out DIR`: one USB stick for every host of a site build. The installer on it
//! picks the host this machine is by the MAC of any of its NICs or its DMI serial ([`super::select`]) and
//! installs that host's own signed payload; a machine that is no host, or two, is refused and nothing is written.
//!
//! ```text
//! ESP        EFI/BOOT/BOOTX64.EFI   one installer (signed UKI), its installer.json listing every host
//!            secure-boot/           the site's PK/KEK/db enrolment files (signed builds)
//! payload    hosts/NAME/            that host's disk parts (the root's frame stored once), SHA256SUMS (+ .sig,
//!                                   .sshsig), forja.pub
//!            install-records/       one record per install: host, how it was chosen, the machine, the disk
//! ```
//!
//! One installer, not one per host: the firmware boots exactly one file from a stick's removable-media path, and
//! a boot menu would make a person, not the machine's identity, choose the host. The installer's kernel only
//! has to write a disk, so the first host's kernel and initrd serve every host; a site's hosts are built from
//! the one Debian base, so they are the same bytes, and a log line says so when they are not. Each host's
//! payload is still checked with the key built into the installer, host by host, before anything is written.

use std::path::Path;

use super::InstallerConfig;
use super::Mode;
use super::build::{self, BuildFacts};
use super::select::{HostChoice, SiteChoices};
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::plan::site::{HOSTS_DIR, SiteManifest};
use crate::secureboot::SiteKeys;
use crate::sign::{self, SigningKey};

/// Builds the site's stick into `out/usb.img` with its signed `SHA256SUMS`. Every host in `site.json` must be
/// built and verify with `key`.
pub fn usb(
    site_dir: &Path,
    manifest: &SiteManifest,
    key: &SigningKey,
    sb: Option<&SiteKeys>,
    out: &Path,
) -> anyhow::Result<sign::Sums> {
    super::site_pxe::check_site_list(site_dir, key)?;
    crate::artifact::create_out_dir(out, "the media folder")?;
    if build::same_dir(out, site_dir) {
        return Err(fail(
            Exit::Input,
            "--out must not be the site's build folder: the USB image gets its own SHA256SUMS beside it",
        ));
    }
    let work = build::work_dir(out)?;
    let mut hosts: Vec<(HostChoice, BuildFacts)> = Vec::new();
    for h in &manifest.hosts {
        if !h.built {
            return Err(fail(
                Exit::Input,
                format!(
                    "{}: host {} is not built; a site's stick needs every host (forja build --host {})",
                    site_dir.display(),
                    h.name,
                    h.name
                ),
            ));
        }
        log::info!("site USB: verifying host {}", h.name);
        let hw = work.path().join("hosts").join(&h.name);
        std::fs::create_dir_all(&hw)?;
        let b = build::read_build(&site_dir.join(&h.dir), key, &hw)?;
        super::uki::check_keys(&b, sb)?;
        let choice = HostChoice {
            name: h.name.clone(),
            dir: format!("{HOSTS_DIR}/{}", h.name),
            macs: h.macs.clone(),
            serial: h.serial.clone(),
            target: b.target.clone(),
            skip: b.empty.clone(),
        };
        hosts.push((choice, b));
    }
    let Some((_, first)) = hosts.first() else {
        return Err(fail(
            Exit::Input,
            format!("{}/site.json lists no host", site_dir.display()),
        ));
    };
    same_installer_kernel(&hosts, work.path())?;
    let seed = format!(
        "{}:site:{}/media-usb",
        manifest.site,
        manifest.profile_sha256.hex()
    );
    let cfg = InstallerConfig {
        mode: Mode::Usb,
        usb_disk_guid: Some(crate::ids::guid(&seed, "disk")),
        payload_partition: Some(2),
        target: Default::default(),
        skip: Vec::new(),
        host: String::new(),
        profile: first.profile.clone(),
        site: Some(SiteChoices {
            site: manifest.site.clone(),
            hosts: hosts.iter().map(|(c, _)| c.clone()).collect(),
        }),
    };
    let esp_work = work.path().join("installer");
    std::fs::create_dir_all(&esp_work)?;
    let esp = build::usb_esp(first, &cfg, key, sb, &esp_work)?;
    let payload = build::usb_payload(work.path())?;
    let mut copied = build::Copied::new();
    for (c, b) in &hosts {
        build::copy_payload(b, &payload.join(&c.dir), &mut copied)?;
    }
    build::usb_image(
        &seed,
        first.epoch,
        esp,
        payload,
        &out.join(build::USB_IMAGE),
    )?;
    sign::sign_dir(out, key, &[build::USB_IMAGE])
}

/// Whether every host's kernel and initrd are the first host's (the installer uses the first's for all). They
/// should be: the hosts of a site share the Debian base. When not, the stick still works (the installer only
/// writes a disk), and the log says so.
fn same_installer_kernel(hosts: &[(HostChoice, BuildFacts)], work: &Path) -> anyhow::Result<bool> {
    let mut seen: Option<(Sha256, Sha256)> = None;
    let mut same = true;
    for (c, b) in hosts {
        let w = work.join("kernels").join(&c.name);
        std::fs::create_dir_all(&w)?;
        let (k, i) = super::uki::boot_files(b, &w)?;
        let pair = (Sha256::of_file(&k)?, Sha256::of_file(&i)?);
        match &seen {
            None => seen = Some(pair),
            Some(first) if *first != pair => {
                log::warn!(
                    "site USB: host {}'s kernel or initrd differs from the first host's; the stick's installer \
                     uses the first host's (it only writes the disk; each host's own kernel is in its image)",
                    c.name
                );
                same = false;
            }
            Some(_) => {}
        }
        std::fs::remove_dir_all(&w)?;
    }
    if same {
        log::info!("site USB: every host has the same kernel and initrd: one installer for all");
    }
    Ok(same)
}
