//! FAT directory entries: the 32-byte short entry, the 8.3 alias of a name, VFAT long-name entries and DOS
//! timestamps.

use super::{ATTR_LFN, ATTR_VOLUME, DIRENT};
use crate::error::{Exit, fail};

#[derive(Clone, Copy)]
pub(super) struct Stamp {
    pub(super) date: u16,
    pub(super) time: u16,
}

/// DOS date and time (UTC) of a Unix time.
pub(super) fn dos_datetime(epoch: i64) -> anyhow::Result<(u16, u16)> {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(1980..=2107).contains(&year) {
        return Err(fail(
            Exit::Input,
            format!("SOURCE_DATE_EPOCH {epoch} is outside the FAT date range 1980..2107"),
        ));
    }
    let date = ((year - 1980) << 9) | (month << 5) | day;
    let time = ((secs / 3600) << 11) | (((secs / 60) % 60) << 5) | ((secs % 60) / 2);
    Ok((date as u16, time as u16))
}

pub(super) fn short_entry(
    name: &[u8; 11],
    attr: u8,
    cluster: u32,
    size: u32,
    s: Stamp,
) -> [u8; DIRENT] {
    let mut e = [0u8; DIRENT];
    e[0..11].copy_from_slice(name);
    if e[0] == 0xE5 {
        e[0] = 0x05; // 0xE5 marks a deleted entry; 0x05 stands for it
    }
    e[11] = attr;
    if attr != ATTR_VOLUME {
        e[14..16].copy_from_slice(&s.time.to_le_bytes());
        e[16..18].copy_from_slice(&s.date.to_le_bytes());
        e[18..20].copy_from_slice(&s.date.to_le_bytes());
        e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
    }
    e[22..24].copy_from_slice(&s.time.to_le_bytes());
    e[24..26].copy_from_slice(&s.date.to_le_bytes());
    e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
    e[28..32].copy_from_slice(&size.to_le_bytes());
    e
}

/// The 11-byte short name for `name`, and whether it is exactly `name` (so no long-name entries are needed).
pub(super) fn short_name(name: &str, taken: &[[u8; 11]]) -> ([u8; 11], bool) {
    const SPECIAL: &[u8] = b"!#$%&'()-@^_`{}~";
    let valid = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit() || SPECIAL.contains(&c);
    let (base, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i + 1..]),
        _ => (name, ""),
    };
    // A name that is 8.3 once upper-cased keeps that as its short name (long-name entries keep the case).
    let (ubase, uext) = (base.to_ascii_uppercase(), ext.to_ascii_uppercase());
    if (1..=8).contains(&ubase.len())
        && uext.len() <= 3
        && ubase.bytes().all(valid)
        && uext.bytes().all(valid)
    {
        let mut s = [b' '; 11];
        s[..ubase.len()].copy_from_slice(ubase.as_bytes());
        s[8..8 + uext.len()].copy_from_slice(uext.as_bytes());
        if !taken.contains(&s) {
            return (s, ubase == base && uext == ext);
        }
    }
    // Basis name: upper-cased, invalid characters as `_`, dots and spaces dropped; then `~N` until unique.
    let clean = |s: &str| -> Vec<u8> {
        s.chars()
            .filter(|&c| c != ' ' && c != '.')
            .map(|c| {
                let u = c.to_ascii_uppercase();
                if u.is_ascii() && valid(u as u8) {
                    u as u8
                } else {
                    b'_'
                }
            })
            .collect()
    };
    let base = clean(base);
    let ext = clean(ext);
    let ext = &ext[..ext.len().min(3)];
    for n in 1u32.. {
        let tail = format!("~{n}");
        let keep = base.len().min(8 - tail.len());
        let mut s = [b' '; 11];
        s[..keep].copy_from_slice(&base[..keep]);
        s[keep..keep + tail.len()].copy_from_slice(tail.as_bytes());
        s[8..8 + ext.len()].copy_from_slice(ext);
        if !taken.contains(&s) {
            return (s, false);
        }
    }
    unreachable!("a directory holds fewer than 2^32 names")
}

pub(super) fn lfn_checksum(short: &[u8; 11]) -> u8 {
    short
        .iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// VFAT long-name entries for `name`, in on-disk order (last part first).
pub(super) fn lfn_entries(name: &str, short: &[u8; 11]) -> Vec<u8> {
    let mut units: Vec<u16> = name.encode_utf16().collect();
    if units.len() % 13 != 0 {
        units.push(0);
        while units.len() % 13 != 0 {
            units.push(0xFFFF);
        }
    }
    let sum = lfn_checksum(short);
    let parts = units.len() / 13;
    let mut out = Vec::with_capacity(parts * DIRENT);
    for i in (0..parts).rev() {
        let chunk = &units[i * 13..i * 13 + 13];
        let mut e = [0u8; DIRENT];
        e[0] = (i as u8 + 1) | if i + 1 == parts { 0x40 } else { 0 };
        e[11] = ATTR_LFN;
        e[13] = sum;
        let slots = (1..11)
            .step_by(2)
            .chain((14..26).step_by(2))
            .chain((28..32).step_by(2));
        for (off, u) in slots.zip(chunk) {
            e[off..off + 2].copy_from_slice(&u.to_le_bytes());
        }
        out.extend_from_slice(&e);
    }
    out
}
