//! The bundle's manifest (`forja-bundle/3`): what a slot must hold after an update, signed with the build's key.
//!
//! It is the bundle's first member so a reader checks its signature before it reads a byte of an image. It names
//! the slot's dm-verity tree (root hash, salt, block sizes, the tree's size and SHA-256), and the tree comes next
//! in the bundle, before the root image: once the tree is proven to hash up to the signed root hash, every 4 KiB
//! block of the root is checked against it as it streams in, as the kernel will check it at every read. Format 3
//! replaced format 2 (one SHA-256 per 4 MiB chunk of the root, which left a post-write `veritysetup verify` to
//! prove the tree); both slots' images stay, as in format 2 (a signed command line names one slot's partitions).

use serde::{Deserialize, Serialize};

use crate::error::{Exit, fail};
use crate::fs::verity;
use crate::hashio::Sha256;
use crate::plan::disk::Slot;

/// The manifest's format tag.
pub const FORMAT: &str = "forja-bundle/3";
/// Bundle member names, in the order they appear.
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.json.sig";
pub const VERITY: &str = "root.verity";
pub const ROOT: &str = "root.erofs";
/// The slots' images, A then B (the names they have in the build folder).
pub fn uki(slot: Slot) -> &'static str {
    match slot {
        Slot::A => "forja-a.efi",
        Slot::B => "forja-b.efi",
    }
}
/// No manifest is larger (one is ~1 KiB).
pub const MAX_MANIFEST: u64 = 64 << 10;
/// A signify signature file is two short lines.
pub const MAX_SIGNATURE: u64 = 4 << 10;

/// One image in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Image {
    pub size: u64,
    pub sha256: Sha256,
}

/// A verity salt (32 bytes, as forja's trees have), shown as 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Salt(pub [u8; 32]);

impl Serialize for Salt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Salt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut b = [0u8; 32];
        hex::decode_to_slice(&s, &mut b).map_err(|e| {
            serde::de::Error::custom(format!("salt {s:?}: {e} (64 hex digits expected)"))
        })?;
        Ok(Salt(b))
    }
}

/// The slot's dm-verity tree (`veritysetup format`'s layout: superblock, then the levels from the top; hash type
/// 1, SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VerityImage {
    /// The tree's bytes (superblock and every level) and their SHA-256.
    pub size: u64,
    pub sha256: Sha256,
    /// The root hash the image's kernel command line names (`roothash=`).
    pub root_hash: Sha256,
    pub salt: Salt,
    pub data_block_size: u64,
    pub hash_block_size: u64,
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
    /// The root image: exactly the data blocks the tree covers. Its SHA-256 is for auditors (`sha256sum` of the
    /// slot's first `size` bytes); apply proves the data block by block through the tree instead.
    pub root: Image,
    pub verity: VerityImage,
    pub uki: SlotImages,
}

impl Manifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        v.push(b'\n');
        v
    }

    /// The root image's 4 KiB data blocks.
    pub fn data_blocks(&self) -> u64 {
        self.root.size / verity::BLOCK
    }

    /// Parses a manifest whose signature was checked; anything inconsistent is a hostile or corrupt bundle.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Manifest> {
        let bad = |m: String| fail(Exit::BadArchive, format!("bundle {MANIFEST}: {m}"));
        // The format first, so an older bundle gets the message that says what to do, not a missing field.
        #[derive(Deserialize)]
        struct Format {
            format: String,
        }
        let f: Format = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if f.format != FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {FORMAT:?}: make the bundle again from its build with this forja",
                f.format
            )));
        }
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let v = &m.verity;
        if (v.data_block_size, v.hash_block_size) != (verity::BLOCK, verity::BLOCK) {
            return Err(bad(format!(
                "verity block sizes {}/{}, expected {}/{}",
                v.data_block_size,
                v.hash_block_size,
                verity::BLOCK,
                verity::BLOCK
            )));
        }
        if m.root.size == 0 || m.root.size % verity::BLOCK != 0 {
            return Err(bad(format!(
                "a {}-byte root image is not a whole number of 4 KiB blocks",
                m.root.size
            )));
        }
        if v.size != verity::hash_size(m.root.size) {
            return Err(bad(format!(
                "a {}-byte tree for a {}-byte root image, which needs {}",
                v.size,
                m.root.size,
                verity::hash_size(m.root.size)
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
            root: Image {
                size: 129 * 4096,
                sha256: Sha256::of(b"root"),
            },
            verity: VerityImage {
                size: verity::hash_size(129 * 4096),
                sha256: Sha256::of(b"v"),
                root_hash: Sha256::of(b"r"),
                salt: Salt([0xa5; 32]),
                data_block_size: 4096,
                hash_block_size: 4096,
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

    fn refused(m: &Manifest, says: &str) {
        let err = Manifest::parse(&m.to_bytes()).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::BadArchive, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }

    #[test]
    fn a_manifest_round_trips() {
        let m = sample();
        assert_eq!(Manifest::parse(&m.to_bytes()).unwrap(), m);
        assert_eq!(m.data_blocks(), 129);
        assert_eq!(m.uki.of(Slot::B).size, 11);
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(
            text.contains(&format!("\"salt\": \"{}\"", "a5".repeat(32))),
            "{text}"
        );
    }

    #[test]
    fn an_inconsistent_or_older_manifest_is_refused() {
        let mut m = sample();
        m.verity.size += 4096;
        refused(&m, "needs 16384");
        let mut m = sample();
        m.root.size += 1;
        refused(&m, "not a whole number of 4 KiB blocks");
        let mut m = sample();
        m.verity.data_block_size = 512;
        refused(&m, "block sizes 512/4096");
        let mut m = sample();
        m.boot_tries = 0;
        refused(&m, "boot-tries 0");
        // A format-2 manifest (chunk hashes, no salt) is refused by its format, not by a missing field.
        let old = serde_json::json!({
            "format": "forja-bundle/2", "version": 1, "root": {"chunk-size": 4194304, "chunks": []},
        });
        let err = Manifest::parse(old.to_string().as_bytes()).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::BadArchive);
        assert!(
            err.to_string()
                .contains("format \"forja-bundle/2\", expected \"forja-bundle/3\""),
            "{err}"
        );
    }
}
