//! What the hosts of one site build share, made by the first host and reused by the others: the composed root
//! (base extracted once, overlays and the site's files written once, the state seed split off once), slot A's
//! root image and hash tree, and the zstd frame of that region of the disk ([`crate::disk::parts::ROOT_A`]).
//! A later host composes only its own part (the files its unified kernel images carry) and builds only its ESP,
//! state and payload; its folder gets a hard link to the root's frame.
//!
//! Nothing is taken on trust from the host's name: before a host reuses the root, the recipe of what its plan
//! puts into the root (base, overlays, edits, the state split, every generated file the root keeps, rendered) is
//! compared with the recipe the root was built from; a difference is an error, never a silently shared root. A
//! frame is reused only for a host whose root and hash-tree partitions lie at the same offsets with the same
//! sizes (a host with another `storage.root-slot-size` compresses its own).
//!
//! The folder (`OUT/.forja-site`) is removed when the site build ends, whether the hosts were built or not.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::rootfs::RootImages;
use crate::hashio::Sha256;
use crate::plan::{GenFile, Plan};

/// The shared work folder's name under the site's output folder.
pub const DIR: &str = ".forja-site";

/// The root composed once for the site.
#[derive(Debug)]
pub struct SharedRoot {
    /// Digest of what the root carries from the plan ([`recipe`]).
    pub recipe: Sha256,
    /// The composed tree (read-only once shared).
    pub tree: PathBuf,
    /// The state partition's seed split off it.
    pub state: PathBuf,
    pub images: RootImages,
    pub base_sha256: Sha256,
}

/// Where slot A's root and hash-tree partitions lie on a disk: `(offset, size)` of each.
pub type RootPlace = [(u64, u64); 2];

/// The root's frame: the disk bytes at `place`, compressed once.
#[derive(Debug, Clone)]
pub struct Frame {
    pub place: RootPlace,
    pub file: PathBuf,
    /// SHA-256 of the frame file.
    pub zst: Sha256,
    /// SHA-256 of the bytes it decompresses to.
    pub raw: Sha256,
}

/// One site build's shared products, kept in a folder that is removed when this is dropped.
#[derive(Debug)]
pub struct SiteShare {
    dir: PathBuf,
    /// Held while the root is built, so the hosts that need it wait.
    root: Mutex<Option<Arc<SharedRoot>>>,
    failed: std::sync::atomic::AtomicBool,
    /// Held while a frame is made, likewise.
    frames: Mutex<Vec<Frame>>,
}

impl SiteShare {
    /// Products kept in `dir` (made empty: a folder left by an interrupted build is removed first).
    pub fn new(dir: &Path) -> anyhow::Result<SiteShare> {
        if dir.exists() {
            fs_err::remove_dir_all(dir)?;
        }
        fs_err::create_dir_all(dir)?;
        Ok(SiteShare {
            dir: dir.to_owned(),
            root: Mutex::new(None),
            failed: std::sync::atomic::AtomicBool::new(false),
            frames: Mutex::new(Vec::new()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The site's root: built by `build` for the first host that asks (the others wait for it meanwhile), then
    /// shared. Returns it and whether this call built it. After a failed build, every later call fails at once
    /// (the site build is failing anyway).
    pub fn root_or_build(
        &self,
        build: impl FnOnce() -> anyhow::Result<SharedRoot>,
    ) -> anyhow::Result<(Arc<SharedRoot>, bool)> {
        let mut root = self.root.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = root.as_ref() {
            return Ok((r.clone(), false));
        }
        if self.failed.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!("the site's root could not be built (see the first host's error)");
        }
        let made = build()
            .inspect_err(|_| self.failed.store(true, std::sync::atomic::Ordering::SeqCst))?;
        let made = Arc::new(made);
        *root = Some(made.clone());
        Ok((made, true))
    }

    /// The frame for disks whose root lies at `place`: made by `make` (which writes it to a file and returns its
    /// path, its SHA-256 and that of the bytes in it) for the first host that asks, while the others wait.
    pub fn frame_or_make(
        &self,
        place: RootPlace,
        make: impl FnOnce() -> anyhow::Result<(PathBuf, Sha256, Sha256)>,
    ) -> anyhow::Result<(Frame, bool)> {
        let mut frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = frames.iter().find(|f| f.place == place) {
            return Ok((f.clone(), false));
        }
        let (file, zst, raw) = make()?;
        let kept = self.dir.join(format!("root-a-{}.zst", frames.len()));
        let _ = fs_err::remove_file(&kept);
        fs_err::hard_link(&file, &kept)?;
        let f = Frame {
            place,
            file: kept,
            zst,
            raw,
        };
        frames.push(f.clone());
        Ok((f, true))
    }

    /// Whether a frame for `place` is made already (a disk built after it leaves the root's bytes out).
    pub fn has_frame(&self, place: &RootPlace) -> bool {
        let frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        frames.iter().any(|f| &f.place == place)
    }

    /// How many frames were made (one per distinct root place).
    pub fn frames_made(&self) -> usize {
        self.frames.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for SiteShare {
    fn drop(&mut self) {
        if let Err(e) = fs_err::remove_dir_all(&self.dir) {
            log::warn!("removing the site's work folder: {e}");
        }
    }
}

/// The digest of what `plan` puts into the root: the base, the overlays, the edits of base files, the state
/// split, the update tool's place, the host part's links, and `files` (the generated files the root keeps, with
/// their rendered text).
pub fn recipe(plan: &Plan, files: &[(&GenFile, Option<String>)]) -> anyhow::Result<Sha256> {
    #[derive(Serialize)]
    struct Recipe<'a> {
        base: &'a crate::plan::BaseSource,
        overlay_layers: &'a [String],
        overlays: &'a [crate::plan::OverlayFile],
        edits: &'a [crate::plan::Edit],
        state: &'a crate::plan::StatePlan,
        update_tool: &'a str,
        links: Vec<(&'a str, &'a str)>,
        files: &'a [(&'a GenFile, Option<String>)],
    }
    let r = &plan.root;
    let links = r
        .host
        .iter()
        .flat_map(|p| p.moves.iter().filter(|m| m.link))
        .map(|m| (m.path.as_str(), m.to.as_str()))
        .collect();
    let bytes = serde_json::to_vec(&Recipe {
        base: &plan.base,
        overlay_layers: &r.overlay_layers,
        overlays: &r.overlays,
        edits: &r.edits,
        state: &r.state,
        update_tool: &r.update_tool,
        links,
        files,
    })?;
    Ok(Sha256::of(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_made_once_per_place_and_the_folder_goes_with_the_share() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join(DIR);
        let share = SiteShare::new(&dir).unwrap();
        let f = d.path().join("made.zst");
        std::fs::write(&f, b"frame").unwrap();
        let place = [(1 << 20, 8 << 20), (9 << 20, 1 << 20)];
        let make = || Ok((f.clone(), Sha256::of(b"frame"), Sha256::of(b"raw")));
        let (got, made) = share.frame_or_make(place, make).unwrap();
        assert!(made && share.has_frame(&place));
        assert_eq!(std::fs::read(&got.file).unwrap(), b"frame");
        let (again, made) = share.frame_or_make(place, || panic!("made twice")).unwrap();
        assert!(!made && again.file == got.file);
        assert!(!share.has_frame(&[(1 << 20, 9 << 20), (10 << 20, 1 << 20)]));
        assert_eq!(share.frames_made(), 1);
        drop(share);
        assert!(!dir.exists() && f.exists());
    }

    #[test]
    fn hosts_wait_for_the_root_and_a_failed_root_fails_the_rest_at_once() {
        let d = tempfile::tempdir().unwrap();
        let share = SiteShare::new(&d.path().join(DIR)).unwrap();
        let e = share
            .root_or_build(|| anyhow::bail!("no base"))
            .unwrap_err();
        assert_eq!(e.to_string(), "no base");
        let e = share.root_or_build(|| panic!("built again")).unwrap_err();
        assert!(e.to_string().contains("could not be built"), "{e}");
    }
}
