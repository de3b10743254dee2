//! `forja bundle` and `forja update apply`: arguments and output only; the work is in [`crate::update`].

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::error::Exit;
use crate::plan::disk::Slot;
use crate::sign::{PublicKey, SigningKey};
use crate::update::{apply, bundle};

/// Arguments of `forja bundle`.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The build folder (`forja build --out`): verified with the key before anything is read from it.
    #[arg(value_name = "BUILD_DIR")]
    pub build_dir: PathBuf,
    /// The folder to write `forja-update-VERSION.bundle` into (created if missing; its parent must exist).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The signify secret key that signed the build; it signs the bundle's manifest.
    #[arg(long, value_name = "FILE")]
    pub signing_key: PathBuf,
    /// Print what was written (path, SHA-256, size, the manifest) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The update subcommands.
#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Install a signed update bundle into the inactive root slot of a disk (or disk image), verifying it as it
    /// streams in; the slot boots next with systemd-boot's try counter.
    Apply(ApplyArgs),
}

/// A root slot on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SlotArg {
    A,
    B,
}

/// Arguments of `forja update apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The bundle: a file (e.g. on the USB stick) or an http(s):// URL on the site's server.
    #[arg(value_name = "BUNDLE_OR_URL")]
    pub bundle: String,
    /// The disk to update: a block device or a disk image file with a forja GPT (default on a running forja
    /// host: the disk it booted from, whose ESP is mounted on /efi).
    #[arg(long, value_name = "DEV_OR_IMAGE")]
    pub target_disk: Option<PathBuf>,
    /// The slot to write (default: the one this host did not boot from; required off a forja host).
    #[arg(long, value_enum, value_name = "SLOT")]
    pub slot: Option<SlotArg>,
    /// Install a bundle that is not newer than the running system (a downgrade); logged and reported.
    #[arg(long)]
    pub allow_older: bool,
    /// The signify public key that must have signed the bundle (default: the key built into this host's image,
    /// /usr/share/forja/forja.pub).
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// Verify the whole bundle against the target (signature, version, the hash tree, every block) and write
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// After writing, read the slot back with `veritysetup verify` (an independent check for audits; apply has
    /// already proven every block it wrote against the signed hash tree).
    #[arg(long, conflicts_with = "dry_run")]
    pub verify_written: bool,
    /// Verify the whole bundle (as --dry-run does) before the first write, then write it, proving every block
    /// again: a refused bundle leaves the slot and the ESP untouched (a used slot keeps the previous version), at
    /// the cost of reading the bundle (or downloading it) twice.
    #[arg(long, conflicts_with = "dry_run")]
    pub verify_first: bool,
    /// Print the update record as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn bundle(a: BundleArgs) -> anyhow::Result<Exit> {
    let key = SigningKey::load(&a.signing_key)?;
    let w = bundle::make(&a.build_dir, &key, &a.out)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&w)?);
    } else {
        println!("{}  {}", w.sha256, w.path.display());
        log::info!(
            "version {} of profile {}, {} bytes, signed by {}",
            w.manifest.version,
            w.manifest.profile,
            w.size,
            key.public().fingerprint()
        );
    }
    Ok(Exit::Ok)
}

pub fn run(cmd: UpdateCommand) -> anyhow::Result<Exit> {
    match cmd {
        UpdateCommand::Apply(a) => {
            let pubkey = a
                .pubkey
                .clone()
                .unwrap_or_else(|| PathBuf::from(crate::compose::selfcheck::PUBLIC_KEY));
            let key = PublicKey::load(&pubkey)?;
            let target = match &a.target_disk {
                Some(t) => t.clone(),
                None => apply::host_disk()?,
            };
            let o = apply::Options {
                source: &a.bundle,
                target: &target,
                slot: a.slot.map(|s| match s {
                    SlotArg::A => Slot::A,
                    SlotArg::B => Slot::B,
                }),
                allow_older: a.allow_older,
                key: &key,
                dry_run: a.dry_run,
                verify_written: a.verify_written,
                verify_first: a.verify_first,
            };
            let done = apply::apply(&o)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else if done.dry_run {
                log::info!(
                    "dry run: bundle version {} verified for slot {}; nothing written",
                    done.version,
                    done.slot.name()
                );
            } else {
                log::info!(
                    "slot {} now holds version {} ({}{}); systemd-boot tries it next ({}) and returns to the other \
                     slot if it fails its tries",
                    done.slot.name(),
                    done.version,
                    done.profile,
                    if done.verified_first {
                        ", verified whole before the first write"
                    } else {
                        ""
                    },
                    done.esp_image.as_deref().unwrap_or("-"),
                );
            }
            Ok(Exit::Ok)
        }
    }
}
