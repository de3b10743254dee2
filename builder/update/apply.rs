//! `forja update apply`: install a bundle into a disk's inactive slot, verifying everything on the way in.
//!
//! Order, and the exit code each refusal gives:
//! 0. with `--verify-first`, steps 1-5 run once over the whole source as a dry run (the target never opened for
//!    writing, nothing removed from the ESP), and any refusal there ends the run with the slot and the ESP
//!    untouched; then the source is read again and the steps below run as without the flag (every block proven
//!    again: the second read may serve other bytes, refused as any other);
//! 1. the bundle's first member is `manifest.json`, its second `manifest.json.sig`; the signature must verify
//!    with the trusted public key ([`Exit::BadSignature`]) before anything else is read or written;
//! 2. the version must be newer than the running slot's (`IMAGE_VERSION` of its image on the target's ESP), unless
//!    `--allow-older`, which is logged and reported ([`Exit::Refused`]);
//! 3. `root.verity` (the slot's dm-verity tree, a few MiB, bounded by the slot's verity partition) is read into
//!    memory; its SHA-256 must be the manifest's, and its levels must hash up to the signed root hash with the
//!    salt and sizes of its own superblock, exactly as the kernel will walk it ([`verity::check_tree`],
//!    [`Exit::HashMismatch`]), before the target is opened for writing;
//! 4. the slot's images are removed from the ESP: a slot being written is never bootable;
//! 5. the tree goes into the slot's verity partition, and `root.erofs` streams into its root partition
//!    ([`stream`]): every 4 KiB block is hashed as dm-verity does and compared with its level-0 entry *before*
//!    the 4 MiB chunk holding it is written, on every core (with direct I/O where the target takes it:
//!    [`super::slot`]). Both slot images (`forja-a.efi`, `forja-b.efi`: each names its slot's partitions) are
//!    held in memory and hashed on threads while the slot syncs; the slot's own, once its digest matches, is
//!    staged on the ESP under a name systemd-boot does not boot ([`esp::Esp::stage`]). On any mismatch the run
//!    stops, zeroes what it wrote of the slot (and removes a staged image), and exits with
//!    [`Exit::HashMismatch`]; a malformed bundle gives [`Exit::BadArchive`];
//! 6. with `--verify-written` (for auditors), `veritysetup verify` reads the written slot back ([`verify`]);
//! 7. only then the staged image is renamed `forja-SLOT+TRIES.efi` (systemd-boot boot counting); on a running
//!    host through its mount of the ESP ([`esp::Esp`]), elsewhere with mtools.
//!
//! What runs side by side, each only where a refusal still leaves what the order above leaves: the running
//! version's read (an mtools process) beside the tree's proof (a refused version is still reported first); the
//! tree's write beside the root's first chunks; the sync beside reading the slot images and staging.
//!
//! One pass, not two: the tree is proven against the signed root hash before any data arrives, and each data
//! block against the tree before it is written, so nothing unverified reaches the disk and every byte written is
//! one the kernel's own check will accept: a post-write `veritysetup verify` (which read the whole slot again, 4
//! KiB at a time, and cost about twice a `dd` of the slot) proves nothing more, so it is not run by default.
//! Hashing the whole bundle first would read a USB stick (or download from the site server) twice, or need a
//! disk-sized spool; the only cost of one pass is that a corrupt bundle leaves verified-but-incomplete data
//! behind, which step 5 zeroes and step 4 already made unbootable. Where that slot is a used one (the previous
//! version, the rollback target) that must survive a bad stick, `--verify-first` (step 0) pays the second read.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::gpt::SlotRegions;
use super::manifest::{self, Manifest};
use super::slot::{Part, SlotWriter};
use super::{esp, gpt, stream, verify};
use crate::error::{Exit, fail};
use crate::fs::verity;
use crate::hashio::Sha256;
use crate::plan::disk::Slot;
use crate::sign::{PublicKey, signify};

/// What to apply, where.
#[derive(Debug)]
pub struct Options<'a> {
    /// A bundle file or an `http(s)://` URL.
    pub source: &'a str,
    /// A disk (block device) or a disk image file with a forja GPT.
    pub target: &'a Path,
    /// The slot to write; default: the one this system did not boot from (`forja.slot=` on `/proc/cmdline`).
    pub slot: Option<Slot>,
    pub allow_older: bool,
    pub key: &'a PublicKey,
    /// Verify the whole bundle, write nothing.
    pub dry_run: bool,
    /// After writing, read the slot back with `veritysetup verify` (an independent check for auditors).
    pub verify_written: bool,
    /// Before the target is opened for writing, a whole dry run over the source ([`first_pass`]); then the
    /// ordinary apply, which proves every block again as it writes.
    pub verify_first: bool,
}

/// What was done (printed as JSON with `--json`; the record of the update).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    pub slot: Slot,
    pub version: u64,
    pub running_version: Option<u64>,
    /// True when the version was not newer and `--allow-older` let it through.
    pub allowed_older: bool,
    pub build_id: Sha256,
    pub profile: String,
    pub root_hash: Sha256,
    /// The ESP file the slot boots from (absent on a dry run).
    pub esp_image: Option<String>,
    pub bytes_written: u64,
    pub dry_run: bool,
    /// True when `veritysetup verify` read the written slot back and accepted it (`--verify-written`).
    pub verified_written: bool,
    /// True when the whole bundle passed a dry run before the first write (`--verify-first`).
    pub verified_first: bool,
}

/// Applies `o.source` to `o.target`; with `--verify-first`, after a whole dry run over the source that must pass
/// first (step 0 of the module comment). The write then reads the source again and proves every block again: the
/// second read may not be the first (a server or a stick serving other bytes), and is refused as any other.
pub fn apply(o: &Options) -> anyhow::Result<Applied> {
    let first = first_pass(o);
    if let Some(dry) = &first {
        let checked = apply_once(dry)
            .context("--verify-first: refused before anything was written (the slot and the ESP are untouched)")?;
        log::info!(
            "--verify-first: bundle version {} verified whole for slot {}; now writing it, every block proven again",
            checked.version,
            checked.slot.name()
        );
    }
    let mut done = apply_once(o)?;
    done.verified_first = first.is_some();
    Ok(done)
}

/// The dry run `--verify-first` runs before anything is written: the same source, target, slot, key and version
/// policy, nothing opened for writing, no read-back (there is nothing written to read). None without the flag.
fn first_pass<'a>(o: &Options<'a>) -> Option<Options<'a>> {
    (o.verify_first && !o.dry_run).then_some(Options {
        dry_run: true,
        verify_written: false,
        verify_first: false,
        ..*o
    })
}

/// One pass over the source: verifies (and, unless a dry run, writes) as it reads. (Over 80 lines: it is the order
/// of operations of the module comment, read top to bottom, each refusal where its step is.)
fn apply_once(o: &Options) -> anyhow::Result<Applied> {
    let mut archive = tar::Archive::new(open_source(o.source)?);
    let mut entries = archive
        .entries()
        .map_err(|e| bad(format!("not a tar archive: {e}")))?;
    let manifest_bytes = small(&mut entries, manifest::MANIFEST, manifest::MAX_MANIFEST)?;
    let sig = small(&mut entries, manifest::SIGNATURE, manifest::MAX_SIGNATURE)?;
    signify::verify(o.key, &sig, &manifest_bytes).map_err(|e| {
        fail(
            Exit::BadSignature,
            format!("{}: {}: {e}", o.source, manifest::SIGNATURE),
        )
    })?;
    let m = Manifest::parse(&manifest_bytes)?;
    let slot = choose_slot(o.slot)?;
    let regions = gpt::slot_regions(o.target, slot)?;
    fits(&m, &regions, slot)?;
    let work = tempfile::Builder::new().prefix("forja-update-").tempdir()?;
    let esp = esp::Esp::locate(o.target, regions.esp)?;
    let images = esp.images()?;
    if matches!(esp, esp::Esp::Mounted(_)) && booted_slot() == Some(slot.other()) {
        on_trial(&images, slot.other())?;
    }
    let area = whole(
        &mut entries,
        manifest::VERITY,
        &m.verity.sha256,
        m.verity.size,
    );
    // The running version is read off the ESP (an mtools process) while the tree is proven; a version refused
    // is still the refusal reported first.
    let (running, tree) = std::thread::scope(|s| {
        let running = s.spawn(|| running_version(&esp, &images, slot.other()));
        let tree = area
            .as_ref()
            .ok()
            .map(|a| verity::check_tree(a, m.data_blocks(), &m.verity.salt.0, &m.verity.root_hash));
        let running = running
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the thread reading the ESP panicked")));
        (running, tree)
    });
    let running = running?;
    let allowed_older = check_version(&m, running, o.allow_older)?;
    let tree = match tree {
        Some(t) => t.map_err(|e| {
            mismatch(format!(
                "{} does not hash up to the signed root hash: {e}",
                manifest::VERITY
            ))
        })?,
        None => return Err(area.err().unwrap_or_else(|| anyhow::anyhow!("no tree"))),
    };
    let target = open_target(o.target, o.dry_run)?;
    if target.is_some() {
        for old in images.of(slot) {
            log::info!(
                "removing {old} from the ESP before slot {} is written",
                slot.name()
            );
            esp.remove(&old)?;
        }
    }
    let w = SlotWriter::new(target.as_ref(), o.target, regions);
    let esp_on = (!o.dry_run).then_some(&esp);
    let (streamed, staged) = write_slot(&mut entries, &m, &tree, &w, slot, esp_on);
    let streamed = streamed.and_then(|()| match o.verify_written && !o.dry_run {
        true => verify::slot(o.target, &regions, &m, work.path()),
        false => Ok(()),
    });
    if let Err(e) = streamed {
        refused(&w, &esp, slot, staged.is_some(), &e)?;
        return Err(e);
    }
    let esp_image = match staged {
        None => None,
        Some(Err(e)) => {
            // As when the ESP refuses the image: the slot holds the verified update, nothing boots it.
            let _ = esp.discard(slot);
            return Err(e);
        }
        Some(Ok(())) => {
            let name = esp::counted_name(slot, m.boot_tries);
            esp.commit(slot, &name)?;
            Some(name)
        }
    };
    Ok(Applied {
        slot,
        version: m.version,
        running_version: running,
        allowed_older,
        build_id: m.build_id,
        profile: m.profile.clone(),
        root_hash: m.verity.root_hash,
        esp_image,
        bytes_written: w.bytes_written(),
        dry_run: o.dry_run,
        verified_written: o.verify_written && !o.dry_run,
        verified_first: false,
    })
}

fn bad(msg: impl Into<String>) -> anyhow::Error {
    fail(Exit::BadArchive, format!("bundle: {}", msg.into()))
}

type Entries<'a> = tar::Entries<'a, Box<dyn Read>>;

/// The next member, which must be the regular file `name`.
fn next<'a>(
    entries: &mut Entries<'a>,
    name: &str,
) -> anyhow::Result<tar::Entry<'a, Box<dyn Read>>> {
    let e = entries
        .next()
        .ok_or_else(|| bad(format!("ends before {name}")))?
        .map_err(|e| bad(format!("reading the member before {name}: {e}")))?;
    let path = e.path_bytes().into_owned();
    if path != name.as_bytes() || e.header().entry_type() != tar::EntryType::Regular {
        return Err(bad(format!(
            "expected the regular file {name} next, found {:?}",
            String::from_utf8_lossy(&path)
        )));
    }
    Ok(e)
}

/// A small member read whole, refused above `cap` bytes.
fn small(entries: &mut Entries, name: &str, cap: u64) -> anyhow::Result<Vec<u8>> {
    let e = next(entries, name)?;
    if e.size() > cap {
        return Err(bad(format!(
            "{name} is {} bytes, more than {cap}",
            e.size()
        )));
    }
    let mut v = Vec::with_capacity(e.size() as usize);
    e.take(cap)
        .read_to_end(&mut v)
        .map_err(|err| bad(format!("reading {name}: {err}")))?;
    Ok(v)
}

fn open_source(source: &str) -> anyhow::Result<Box<dyn Read>> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let resp = ureq::get(source)
            .call()
            .map_err(|e| fail(Exit::Remote, format!("GET {source}: {e}")))?;
        return Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            resp.into_body().into_reader(),
        )));
    }
    let f = crate::inbound::open_regular(Path::new(source))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
}

fn open_target(target: &Path, dry_run: bool) -> anyhow::Result<Option<File>> {
    if dry_run {
        return Ok(None);
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(target)
        .map(Some)
        .map_err(|e| {
            fail(
                Exit::Input,
                format!("{}: cannot open for writing: {e}", target.display()),
            )
        })
}

/// The slot the system booted from, from `forja.slot=` on the kernel command line (absent off a forja host).
fn booted_slot() -> Option<Slot> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").ok()?;
    cmdline.split_whitespace().find_map(|w| match w {
        "forja.slot=a" => Some(Slot::A),
        "forja.slot=b" => Some(Slot::B),
        _ => None,
    })
}

fn choose_slot(asked: Option<Slot>) -> anyhow::Result<Slot> {
    match (asked, booted_slot()) {
        (Some(s), Some(b)) if s == b => Err(fail(
            Exit::Input,
            format!(
                "--slot {}: that is the slot this system runs from",
                s.name()
            ),
        )),
        (Some(s), _) => Ok(s),
        (None, Some(b)) => Ok(b.other()),
        (None, None) => Err(fail(
            Exit::Input,
            "this system was not booted from a forja slot (no forja.slot= on /proc/cmdline): pass --slot a|b",
        )),
    }
}

fn fits(m: &Manifest, r: &SlotRegions, slot: Slot) -> anyhow::Result<()> {
    for (what, need, room) in [
        (gpt::root_name(slot), m.root.size, r.root.len),
        (gpt::verity_name(slot), m.verity.size, r.verity.len),
    ] {
        if need > room {
            return Err(fail(
                Exit::Input,
                format!("the bundle needs {need} bytes in {what}, which holds {room}"),
            ));
        }
    }
    Ok(())
}

/// Refuses to write the other slot while the running one is still on trial: its image still carries systemd-boot's
/// try counter, so the other slot holds the only image known to work, and this update would remove it.
fn on_trial(images: &esp::Images, running: Slot) -> anyhow::Result<()> {
    let images = images.of(running);
    if images.iter().all(|n| n.contains('+')) {
        return Err(fail(
            Exit::Refused,
            format!(
                "slot {} runs on trial ({}): forja-health has not marked it good, and slot {} holds the only \
                 image known to work; apply again once this boot's health check passed (journalctl -u \
                 forja-health)",
                running.name(),
                images.join(", "),
                running.other().name()
            ),
        ));
    }
    Ok(())
}

/// The disk this host boots from: the one whose ESP is mounted on `/efi`.
pub fn host_disk() -> anyhow::Result<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    esp::disk_of_mount(&info, Path::new("/efi"), Path::new("/sys")).ok_or_else(|| {
        fail(
            Exit::Input,
            "no ESP is mounted on /efi, so this is not a running forja host: pass --target-disk DEV_OR_IMAGE",
        )
    })
}

/// The newest `IMAGE_VERSION` among `running`'s images on the ESP.
fn running_version(
    esp: &esp::Esp,
    images: &esp::Images,
    running: Slot,
) -> anyhow::Result<Option<u64>> {
    let mut best = None;
    for name in images.of(running) {
        best = best.max(Some(esp.image_version(&name)?));
    }
    Ok(best)
}

/// True when an older (or equal) version goes in because the operator said so.
fn check_version(m: &Manifest, running: Option<u64>, allow_older: bool) -> anyhow::Result<bool> {
    let newer = running.is_some_and(|r| m.version > r);
    if newer {
        return Ok(false);
    }
    let what = match running {
        Some(r) => format!("version {} is not newer than the running {r}", m.version),
        None => format!(
            "version {}: the running slot's version is unknown (no image of it on the ESP)",
            m.version
        ),
    };
    if !allow_older {
        return Err(fail(
            Exit::Refused,
            format!("{what}: refused (pass --allow-older to install it anyway; it is logged)"),
        ));
    }
    log::warn!("{what}: accepted anyway because --allow-older was given");
    Ok(true)
}

/// After a refusal: the staged ESP image (if any) removed, what was written of the slot zeroed.
fn refused(
    w: &SlotWriter,
    esp: &esp::Esp,
    slot: Slot,
    staged: bool,
    e: &anyhow::Error,
) -> anyhow::Result<()> {
    if staged && let Err(d) = esp.discard(slot) {
        log::warn!("removing the staged image of slot {}: {d:#}", slot.name());
    }
    if w.any_written() {
        let zeroed = w.zero();
        log::error!("slot {} refused: {e:#}", slot.name());
        zeroed.context("zeroing the slot after a refused bundle")?;
    }
    Ok(())
}

/// Writes the proven tree, streams the root through its check into the slot, and checks the slot images while
/// the slot syncs (they go to the ESP, not the slot). Returns whether the slot is written, verified and durable,
/// and, with an `esp` (not on a dry run), whether the slot's own verified image was staged on it
/// ([`esp::Esp::stage`], beside the sync; `None` when the images were refused or not staged).
fn write_slot(
    entries: &mut Entries,
    m: &Manifest,
    tree: &verity::CheckedTree,
    w: &SlotWriter,
    slot: Slot,
    esp: Option<&esp::Esp>,
) -> (anyhow::Result<()>, Option<anyhow::Result<()>>) {
    // The tree (7 MiB through the page cache) is written beside the root's first chunks, not before them.
    let streamed = std::thread::scope(|s| {
        let tree_put = s.spawn(|| w.put(Part::Verity, 0, tree.area()));
        let root = stream_root(entries, m, tree, w);
        let tree_put = tree_put
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the thread writing the tree panicked")));
        root.and(tree_put)
    });
    if let Err(e) = streamed {
        return (Err(e), None);
    }
    // The sync (the tree's pages, the disk's write cache) runs beside reading the 90 MB of slot images and
    // staging the slot's own on the ESP, not after them.
    std::thread::scope(|s| {
        let synced = s.spawn(|| w.sync());
        let image = slot_images(entries, m, slot);
        let staged = match (&image, esp) {
            (Ok(image), Some(esp)) => Some(esp.stage(image, slot)),
            _ => None,
        };
        let synced = synced
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the thread syncing the slot panicked")));
        (image.and(synced), staged)
    })
}

/// Streams `root.erofs` through the tree's check into the slot.
fn stream_root(
    entries: &mut Entries,
    m: &Manifest,
    tree: &verity::CheckedTree,
    w: &SlotWriter,
) -> anyhow::Result<()> {
    let mut root = next(entries, manifest::ROOT)?;
    sized(&root, manifest::ROOT, m.root.size)?;
    let progress = crate::ui::Progress::bytes("root image: verify and write", m.root.size);
    let put = |at: u64, bytes: &[u8]| w.put(Part::Root, at, bytes);
    stream::root(&mut root, m.root.size, manifest::ROOT, tree, &put, |n| {
        progress.inc(n)
    })?;
    progress.finish("root image verified against the signed hash tree");
    Ok(())
}

/// Reads both slot images, each checked against the manifest; returns `slot`'s own. Each is hashed on a thread
/// of its own while the next streams past (hashing one is four times as long as reading it); the first that
/// does not match, in bundle order, is the error reported, as when they were checked one after the other.
fn slot_images(entries: &mut Entries, m: &Manifest, slot: Slot) -> anyhow::Result<Vec<u8>> {
    std::thread::scope(|s| {
        let mut checks = Vec::new();
        let mut read = Ok(());
        for sl in [Slot::A, Slot::B] {
            let (name, want) = (manifest::uki(sl), m.uki.of(sl));
            match member(entries, name, want.size) {
                Ok(image) => checks.push((
                    sl,
                    s.spawn(move || {
                        let ok = Sha256::of(&image) == want.sha256;
                        (image, ok)
                    }),
                )),
                Err(e) => {
                    read = Err(e);
                    break;
                }
            }
        }
        let read = read.and_then(|()| no_more(entries));
        let mut own = None;
        for (sl, check) in checks {
            let (image, ok) = check
                .join()
                .map_err(|_| anyhow::anyhow!("the thread hashing a slot image panicked"))?;
            if !ok {
                return Err(mismatch(format!(
                    "{} does not match the signed manifest",
                    manifest::uki(sl)
                )));
            }
            if sl == slot {
                own = Some(image);
            }
        }
        read?;
        own.ok_or_else(|| fail(Exit::Internal, "the slot image was never read"))
    })
}

/// The bundle ends after the last slot image.
fn no_more(entries: &mut Entries) -> anyhow::Result<()> {
    if let Some(extra) = entries.next() {
        let name = extra
            .map(|e| String::from_utf8_lossy(&e.path_bytes()).into_owned())
            .unwrap_or_default();
        return Err(bad(format!(
            "unexpected member {name:?} after {}",
            manifest::uki(Slot::B)
        )));
    }
    Ok(())
}

fn sized(e: &tar::Entry<Box<dyn Read>>, name: &str, size: u64) -> anyhow::Result<()> {
    if e.size() != size {
        return Err(bad(format!(
            "{name} is {} bytes, the signed manifest says {size}",
            e.size()
        )));
    }
    Ok(())
}

fn mismatch(msg: String) -> anyhow::Error {
    fail(Exit::HashMismatch, format!("bundle: {msg}"))
}

/// A member held in memory until its digest matches.
fn whole(entries: &mut Entries, name: &str, want: &Sha256, size: u64) -> anyhow::Result<Vec<u8>> {
    let v = member(entries, name, size)?;
    if Sha256::of(&v) != *want {
        return Err(mismatch(format!(
            "{name} does not match the signed manifest"
        )));
    }
    Ok(v)
}

/// The next member, `name`, of `size` bytes, read whole (not checked yet).
fn member(entries: &mut Entries, name: &str, size: u64) -> anyhow::Result<Vec<u8>> {
    let e = next(entries, name)?;
    sized(&e, name, size)?;
    let mut v = Vec::with_capacity(size as usize);
    e.take(size)
        .read_to_end(&mut v)
        .map_err(|err| bad(format!("reading {name}: {err}")))?;
    if v.len() as u64 != size {
        return Err(bad(format!("{name} ends at byte {}", v.len())));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    fn m(version: u64) -> Manifest {
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "format": manifest::FORMAT, "version": version, "build-id": Sha256::of(b"x"), "profile": "lab",
            "boot-tries": 3,
            "root": {"size": 4096, "sha256": Sha256::of(b"r")},
            "verity": {"size": 4096, "sha256": Sha256::of(b"v"), "root-hash": Sha256::of(b"h"),
                       "salt": "00".repeat(32), "data-block-size": 4096, "hash-block-size": 4096},
            "uki": {"a": {"size": 1, "sha256": Sha256::of(b"a")}, "b": {"size": 1, "sha256": Sha256::of(b"b")}},
        }))
        .unwrap();
        m.version = version;
        m
    }

    #[test]
    fn only_a_newer_version_passes_without_the_override() {
        assert!(!check_version(&m(11), Some(10), false).unwrap());
        for (v, running) in [(10, Some(10)), (9, Some(10)), (11, None)] {
            let err = check_version(&m(v), running, false).unwrap_err();
            assert_eq!(exit_of(&err), Exit::Refused, "{err}");
            assert!(err.to_string().contains("--allow-older"), "{err}");
            assert!(check_version(&m(v), running, true).unwrap());
        }
    }

    #[test]
    fn verify_first_runs_a_dry_run_of_the_same_apply_first() {
        let key = crate::sign::SigningKey::from_seed([7; 32]).public();
        let o = Options {
            source: "http://updates.example/forja-update-2.bundle",
            target: Path::new("/dev/vda"),
            slot: Some(Slot::B),
            allow_older: true,
            key: &key,
            dry_run: false,
            verify_written: true,
            verify_first: true,
        };
        let first = first_pass(&o).expect("a first pass");
        // A dry run (the target is never opened for writing, the ESP never edited) with nothing read back, and
        // no first pass of its own.
        assert!(first.dry_run && !first.verify_written && !first.verify_first);
        assert!(first_pass(&first).is_none());
        // Of the same bundle, for the same slot of the same disk, under the same key and version policy.
        assert_eq!(
            (first.source, first.target, first.slot, first.allow_older),
            (o.source, o.target, o.slot, o.allow_older)
        );
        assert!(std::ptr::eq(first.key, o.key));
        // Without the flag, or on a dry run (which writes nothing anyway), there is none.
        for (verify_first, dry_run) in [(false, false), (false, true), (true, true)] {
            let p = Options {
                verify_first,
                dry_run,
                verify_written: false,
                ..o
            };
            assert!(first_pass(&p).is_none(), "{verify_first} {dry_run}");
        }
    }
}
