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
    let shown = path.display().to_string();
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    find(&shown, name, &mut |off: u64, buf: &mut [u8]| {
        if off
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > len)
        {
            return Ok(false);
        }
        f.seek(SeekFrom::Start(off))?;
        f.read_exact(buf)?;
        Ok(true)
    })
}

/// [`section`] of an image read as a stream (`shown` names it in errors), read only as far as the section's end:
/// a unified kernel image's `.osrel` lies in its first few hundred KiB, its kernel and initrd (tens of MB) after.
/// Refused when the section ends beyond [`MAX_PREFIX`].
pub fn section_in_stream(
    src: &mut (impl Read + ?Sized),
    shown: &str,
    name: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    let mut prefix = Vec::new();
    find(shown, name, &mut |off: u64, buf: &mut [u8]| {
        let Some(end) = off.checked_add(buf.len() as u64) else {
            return Ok(false);
        };
        if end > MAX_PREFIX {
            return Err(bad(
                shown,
                &format!("its headers or {name} lie beyond its first {MAX_PREFIX} bytes"),
            ));
        }
        let have = prefix.len() as u64;
        if end > have {
            Read::take(&mut *src, end - have).read_to_end(&mut prefix)?;
        }
        if end > prefix.len() as u64 {
            return Ok(false);
        }
        buf.copy_from_slice(&prefix[off as usize..end as usize]);
        Ok(true)
    })
}

/// How far into a streamed image [`section_in_stream`] reads (and holds in memory) at most.
pub const MAX_PREFIX: u64 = 64 << 20;

fn bad(shown: &str, why: &str) -> anyhow::Error {
    fail(Exit::BadArchive, format!("{shown}: not a PE image ({why})"))
}

/// Walks the headers through `read_at(offset, buf)`, which fills `buf` from `offset` or returns `Ok(false)` when
/// the image ends before `buf` does.
fn find(
    shown: &str,
    name: &str,
    read_at: &mut dyn FnMut(u64, &mut [u8]) -> anyhow::Result<bool>,
) -> anyhow::Result<Option<Vec<u8>>> {
    let mut read_at = |off: u64, buf: &mut [u8]| -> anyhow::Result<()> {
        match read_at(off, buf)? {
            true => Ok(()),
            false => Err(bad(shown, "truncated")),
        }
    };
    let mut dos = [0u8; 64];
    read_at(0, &mut dos)?;
    if &dos[..2] != b"MZ" {
        return Err(bad(shown, "no MZ header"));
    }
    let pe = u64::from(u32::from_le_bytes(dos[0x3c..0x40].try_into().unwrap()));
    let mut coff = [0u8; 24];
    read_at(pe, &mut coff)?;
    if &coff[..4] != b"PE\0\0" {
        return Err(bad(shown, "no PE signature"));
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
            return Err(bad(shown, &format!("section {name} is {size} bytes")));
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

    #[test]
    fn a_streamed_image_is_read_only_up_to_the_section() {
        let mut img = pe(&[(".osrel", b"IMAGE_VERSION=7\n"), (".cmdline", b"ro")]);
        let osrel_end = 64 + 24 + 80 + 512;
        // What follows the section (a kernel, an initrd) is never read: the stream fails if it is.
        img.resize(osrel_end, 0);
        struct Fence<'a>(&'a [u8], usize);
        impl Read for Fence<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len() - self.1);
                if n == 0 {
                    return Err(std::io::Error::other("read past the section"));
                }
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let got = section_in_stream(&mut Fence(&img, 0), "x.efi", ".osrel").unwrap();
        assert_eq!(got.as_deref(), Some(&b"IMAGE_VERSION=7\n"[..]));
        let good = pe(&[(".osrel", b"IMAGE_VERSION=7\n")]);
        for cut in [0, 10, 70, 100, 64 + 24 + 40 + 5] {
            let e = section_in_stream(&mut &good[..cut], "x.efi", ".osrel").unwrap_err();
            assert_eq!(
                crate::error::exit_of(&e),
                Exit::BadArchive,
                "cut at {cut}: {e:#}"
            );
        }
        let mut far = good.clone();
        far[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = section_in_stream(&mut &far[..], "x.efi", ".osrel").unwrap_err();
        assert!(e.to_string().contains("beyond its first"), "{e:#}");
    }
}
