//! `forja media usb|pxe|install`: arguments and output only; the work is in [`crate::media`].

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::error::{Exit, fail};
use crate::media;
use crate::sign::{PublicKey, SigningKey, Sums};

/// The media subcommands.
#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// Make a bootable UEFI USB installer image from a signed build; from a site build, one stick for every host,
    /// which picks its host by the machine's MACs or DMI serial.
    Usb(UsbArgs),
    /// Make a PXE/HTTP boot tree (kernel, installer initrd, iPXE script, signed payload) from a signed build; from
    /// a site build, one tree where each machine gets its own host's installer by its MAC.
    Pxe(PxeArgs),
    /// Run the installer (inside the installer's initramfs; never on a build host).
    #[command(hide = true)]
    Install(InstallArgs),
}

/// Arguments of `forja media usb`.
#[derive(Debug, Args)]
pub struct UsbArgs {
    /// The build folder (`forja build --out`), or a site build's folder (with `site.json`): verified with the key
    /// before anything is made.
    #[arg(value_name = "BUILD_DIR")]
    pub build_dir: PathBuf,
    /// The folder to write `usb.img` and its signed SHA256SUMS into (created if missing; its parent must exist;
    /// not BUILD_DIR).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The signify secret key that signed the build; its public half is built into the installer.
    #[arg(long, value_name = "FILE")]
    pub signing_key: PathBuf,
    /// The site's Secure Boot keys (the folder the profile names as boot.firmware.secure-boot-keys): the
    /// installer is signed with its db key, and the stick carries PK/KEK/db for enrolment. Needed when the build
    /// is signed.
    #[arg(long, value_name = "DIR")]
    pub secure_boot_keys: Option<PathBuf>,
    /// Print what was written (names, SHA-256, the key's fingerprint) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `forja media pxe`.
#[derive(Debug, Args)]
pub struct PxeArgs {
    /// The build folder (`forja build --out`), or a site build's folder (with `site.json`): verified with the key
    /// before anything is made.
    #[arg(value_name = "BUILD_DIR")]
    pub build_dir: PathBuf,
    /// The folder to write the tree into, served as is over HTTP (created if missing; its parent must exist).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The signify secret key that signed the build; its public half is built into the installer.
    #[arg(long, value_name = "FILE")]
    pub signing_key: PathBuf,
    /// The HTTP URL the tree will be served at (written into boot.ipxe).
    #[arg(long, value_name = "URL")]
    pub base_url: String,
    /// The site's Secure Boot keys: `installer.efi` is signed with its db key. Needed when the build is signed.
    #[arg(long, value_name = "DIR")]
    pub secure_boot_keys: Option<PathBuf>,
    /// Print what was written (names, SHA-256, the key's fingerprint) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of the hidden `forja media install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The installer's configuration (installer.json).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The public key built into the installer.
    #[arg(long, value_name = "FILE")]
    pub pubkey: PathBuf,
    /// The payload URL (default: `forja.url=` on the kernel command line; PXE only).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

pub fn run(cmd: MediaCommand) -> anyhow::Result<Exit> {
    match cmd {
        MediaCommand::Usb(a) => {
            let key = SigningKey::load(&a.signing_key)?;
            let sb = site_keys(a.secure_boot_keys.as_deref())?;
            let sums = match crate::plan::site::SiteManifest::load(&a.build_dir)? {
                Some(m) => media::site_usb::usb(&a.build_dir, &m, &key, sb.as_ref(), &a.out)?,
                None => media::build::usb(&a.build_dir, &key, sb.as_ref(), &a.out)?,
            };
            report(&a.out, &key, &sums, a.json)
        }
        MediaCommand::Pxe(a) => {
            let key = SigningKey::load(&a.signing_key)?;
            let sb = site_keys(a.secure_boot_keys.as_deref())?;
            let sums = match crate::plan::site::SiteManifest::load(&a.build_dir)? {
                Some(m) => {
                    media::site_pxe::pxe(&a.build_dir, &m, &key, sb.as_ref(), &a.out, &a.base_url)?
                }
                None => media::build::pxe(&a.build_dir, &key, sb.as_ref(), &a.out, &a.base_url)?,
            };
            report(&a.out, &key, &sums, a.json)
        }
        MediaCommand::Install(a) => {
            let cfg: media::InstallerConfig =
                serde_json::from_slice(&crate::inbound::read_capped(&a.config, 1 << 20)?)
                    .map_err(|e| fail(Exit::Input, format!("{}: {e}", a.config.display())))?;
            let key = PublicKey::load(&a.pubkey)?;
            if let Err(e) = media::run::run(&cfg, &key, a.url) {
                media::run::say(format!("ERROR: {e:#}"));
                return Err(e);
            }
            Ok(Exit::Ok)
        }
    }
}

fn site_keys(dir: Option<&std::path::Path>) -> anyhow::Result<Option<crate::secureboot::SiteKeys>> {
    dir.map(crate::secureboot::SiteKeys::load).transpose()
}

/// What a media command wrote: one `NAME  SHA256` line per signed file, or the same as JSON for a CI.
fn report(
    out: &std::path::Path,
    key: &SigningKey,
    sums: &Sums,
    json: bool,
) -> anyhow::Result<Exit> {
    if json {
        let files: Vec<_> = sums
            .entries()
            .iter()
            .map(|e| serde_json::json!({"name": e.name, "sha256": e.sha256}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "out": out,
                "signer": key.public().fingerprint(),
                "files": files,
            }))?
        );
    } else {
        for e in sums.entries() {
            println!("{}  {}", e.sha256, e.name);
        }
        log::info!(
            "signed by {}; check with `forja verify {} --pubkey forja.pub`",
            key.public().fingerprint(),
            out.display()
        );
    }
    Ok(Exit::Ok)
}
