//! The bundle's manifest (`forja-bundle/2`): what a slot must hold after an update, signed with the build's key.
//! Format 2 carries both slots' images (`forja-a.efi`, `forja-b.efi`): a signed command line names one slot's
//! partitions, so each slot needs its own image (format 1 carried slot A's only and cannot update slot B).
//!
//! It is the bundle's first member so a reader can check its signature before it reads a byte of an image, and it
//! lists a SHA-256 per 4 MiB chunk of the root image so every chunk is checked before it is written: a reader
//! never needs to hold or unpack the image to trust it.

use serde::{Deserialize, Serialize};

use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::plan::disk::Slot;

/// The manifest's format tag.
pub const FORMAT: &str = "forja-bundle/2";
/// The chunk the root image is hashed and written in.
pub const CHUNK: u64 = 4 << 20;
/// Bundle member names, in the order they appear.
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.json.sig";
pub const ROOT: &str = "root.erofs";
pub const VERITY: &str = "root.verity";
/// The slots' images, A then B (the names they have in the build folder).
pub fn uki(slot: Slot) -> &'static str {
    match slot {
        Slot::A => "forja-a.efi",
        Slot::B => "forja-b.efi",
    }
}
/// No manifest is larger: a 2 GiB slot lists 512 chunk hashes (~35 KiB).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// A signify signature file is two short lines.
pub const MAX_SIGNATURE: u64 = 4 << 10;

/// One image in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Image {
    pub size: u64,
    pub sha256: Sha256,
}

/// The root image: its whole digest and one per [`CHUNK`] (the last chunk may be shorter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RootImage {
    pub size: u64,
    pub sha256: Sha256,
    pub chunk_size: u64,
    pub chunks: Vec<Sha256>,
}

/// The dm-verity tree of the root image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VerityImage {
    pub size: u64,
    pub sha256: Sha256,
    /// The root hash the image's kernel command line names (`roothash=`).
    pub root_hash: Sha256,
}

/// Each slot's signed unified kernel image: the same kernel, initrd, os-release and root hash; each command line
/// names its own slot's partitions and `forja.slot=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotImages {
    pub a: Image,
    pub b: Image,
}

impl SlotImages {
    pub fn of(&self, slot: Slot) -> &Image {
        match slot {
            Slot::A => &self.a,
            Slot::B => &self.b,
        }
    }
}

/// What a bundle carries and how it is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    pub format: String,
    /// The build's SOURCE_DATE_EPOCH: releases are ordered by it (monotonic, like the image's `IMAGE_VERSION`).
    pub version: u64,
    /// SHA-256 of the build's signed `SHA256SUMS`: names the exact build the bundle came from.
    pub build_id: Sha256,
    pub profile: String,
    /// systemd-boot boot counting: tries the new slot gets (the profile's `[update] boot-tries`).
    pub boot_tries: u8,
    pub root: RootImage,
    pub verity: VerityImage,
    pub uki: SlotImages,
}

impl Manifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        v.push(b'\n');
        v
    }

    /// Parses a manifest whose signature was checked; anything inconsistent is a hostile or corrupt bundle.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Manifest> {
        let bad = |m: String| fail(Exit::BadArchive, format!("bundle {MANIFEST}: {m}"));
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if m.format != FORMAT {
            return Err(bad(format!("format {:?}, expected {FORMAT:?}", m.format)));
        }
        if m.root.chunk_size != CHUNK {
            return Err(bad(format!(
                "chunk size {}, expected {CHUNK}",
                m.root.chunk_size
            )));
        }
        if m.root.chunks.len() as u64 != m.root.size.div_ceil(CHUNK) || m.root.size == 0 {
            return Err(bad(format!(
                "{} chunk hashes for a {}-byte root image",
                m.root.chunks.len(),
                m.root.size
            )));
        }
        if !(1..=9).contains(&m.boot_tries) {
            return Err(bad(format!("boot-tries {} is not 1 to 9", m.boot_tries)));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: 1767225600,
            build_id: Sha256::of(b"sums"),
            profile: "lab".into(),
            boot_tries: 3,
            root: RootImage {
                size: CHUNK + 1,
                sha256: Sha256::of(b"root"),
                chunk_size: CHUNK,
                chunks: vec![Sha256::of(b"1"), Sha256::of(b"2")],
            },
            verity: VerityImage {
                size: 4096,
                sha256: Sha256::of(b"v"),
                root_hash: Sha256::of(b"r"),
            },
            uki: SlotImages {
                a: Image {
                    size: 10,
                    sha256: Sha256::of(b"a"),
                },
                b: Image {
                    size: 11,
                    sha256: Sha256::of(b"b"),
                },
            },
        }
    }

    #[test]
    fn a_manifest_round_trips() {
        let m = sample();
        assert_eq!(Manifest::parse(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn a_chunk_list_that_does_not_cover_the_image_is_refused() {
        let mut m = sample();
        m.root.chunks.pop();
        let err = Manifest::parse(&m.to_bytes()).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::BadArchive);
        assert!(err.to_string().contains("1 chunk hashes"), "{err}");
        let mut m = sample();
        m.format = "forja-bundle/1".into();
        let err = Manifest::parse(&m.to_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("expected \"forja-bundle/2\""),
            "{err}"
        );
        assert_eq!(m.uki.of(Slot::B).size, 11);
    }
}
