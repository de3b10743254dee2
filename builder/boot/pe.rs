//! Reading one section of a PE image (a unified kernel image's `.osrel`), without binutils.
//!
//! A forja host has no `objcopy`, yet `forja update apply` on the host must read the running slot's
//! `IMAGE_VERSION` from its image on the ESP. The PE layout needed is small and fixed (PE/COFF specification,
//! "MS-DOS stub", "COFF file header", "section table"): the offset of the PE signature at 0x3c, the section
//! count and optional header size in the COFF header, then 40-byte section headers. Every offset is checked
//! against the file's length, so a damaged or hostile image gives an error, never a panic or a huge read.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Exit, fail};

/// Sections larger than this are not os-release or a command line.
pub const MAX_SECTION: u64 = 1 << 20;

/// The bytes of section `name` (e.g. `.osrel`), its virtual size (the data without the file alignment's
/// padding); `Ok(None)` when the image has no such section.
pub fn section(path: &Path, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let bad = |why: &str| {
        fail(
            Exit::BadArchive,
            format!("{}: not a PE image ({why})", path.display()),
        )
    };
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut read_at = |off: u64, buf: &mut [u8]| -> anyhow::Result<()> {
        if off
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > len)
        {
            return Err(bad("truncated"));
        }
        f.seek(SeekFrom::Start(off))?;
        f.read_exact(buf)?;
        Ok(())
    };
    let mut dos = [0u8; 64];
    read_at(0, &mut dos)?;
    if &dos[..2] != b"MZ" {
        return Err(bad("no MZ header"));
    }
    let pe = u64::from(u32::from_le_bytes(dos[0x3c..0x40].try_into().unwrap()));
    let mut coff = [0u8; 24];
    read_at(pe, &mut coff)?;
    if &coff[..4] != b"PE\0\0" {
        return Err(bad("no PE signature"));
    }
    let sections = u16::from_le_bytes([coff[6], coff[7]]);
    let optional = u64::from(u16::from_le_bytes([coff[20], coff[21]]));
    let table = pe + 24 + optional;
    for i in 0..u64::from(sections) {
        let mut h = [0u8; 40];
        read_at(table + 40 * i, &mut h)?;
        let n = h[..8].split(|&b| b == 0).next().unwrap_or_default();
        if n != name.as_bytes() {
            continue;
        }
        let word = |at: usize| u64::from(u32::from_le_bytes(h[at..at + 4].try_into().unwrap()));
        let (virtual_size, raw_size, raw_at) = (word(8), word(16), word(20));
        let size = if virtual_size == 0 {
            raw_size
        } else {
            virtual_size.min(raw_size)
        };
        if size > MAX_SECTION {
            return Err(bad(&format!("section {name} is {size} bytes")));
        }
        let mut data = vec![0u8; size as usize];
        read_at(raw_at, &mut data)?;
        return Ok(Some(data));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE file: DOS header, PE signature, COFF header, no optional header, the given sections.
    fn pe(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        out[..2].copy_from_slice(b"MZ");
        out[0x3c..0x40].copy_from_slice(&64u32.to_le_bytes());
        out.extend(b"PE\0\0");
        let mut coff = [0u8; 20];
        coff[2..4].copy_from_slice(&(sections.len() as u16).to_le_bytes());
        out.extend(coff);
        let mut data_at = 64 + 24 + 40 * sections.len();
        let mut data = Vec::new();
        for (name, bytes) in sections {
            let mut h = [0u8; 40];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[8..12].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            // File alignment: raw size rounded up, as linkers write it.
            let raw = bytes.len().div_ceil(512) * 512;
            h[16..20].copy_from_slice(&(raw as u32).to_le_bytes());
            h[20..24].copy_from_slice(&(data_at as u32).to_le_bytes());
            out.extend(h);
            let mut b = bytes.to_vec();
            b.resize(raw, 0);
            data.extend(b);
            data_at += raw;
        }
        out.extend(data);
        out
    }

    #[test]
    fn a_section_is_read_without_its_padding() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.efi");
        std::fs::write(
            &p,
            pe(&[(".cmdline", b"ro quiet"), (".osrel", b"IMAGE_VERSION=7\n")]),
        )
        .unwrap();
        assert_eq!(
            section(&p, ".osrel").unwrap().as_deref(),
            Some(&b"IMAGE_VERSION=7\n"[..])
        );
        assert_eq!(
            section(&p, ".cmdline").unwrap().as_deref(),
            Some(&b"ro quiet"[..])
        );
        assert_eq!(section(&p, ".linux").unwrap(), None);
    }

    #[test]
    fn a_damaged_image_is_an_error_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.efi");
        let good = pe(&[(".osrel", b"IMAGE_VERSION=7\n")]);
        // Cuts in the DOS header, the PE signature, the section table and the section's data.
        for cut in [0, 10, 70, 100, 64 + 24 + 40 + 5] {
            std::fs::write(&p, &good[..cut]).unwrap();
            let e = section(&p, ".osrel").unwrap_err();
            assert_eq!(
                crate::error::exit_of(&e),
                Exit::BadArchive,
                "cut at {cut}: {e:#}"
            );
        }
        let mut far = good.clone();
        far[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&p, &far).unwrap();
        assert!(section(&p, ".osrel").is_err());
    }
}
