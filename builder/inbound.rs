//! Reading files that come from outside forja (profiles, secrets, certificates, README.TXT, plans, bundles):
//! only regular files, never more than a hard cap.
//!
//! The file is opened without blocking (a FIFO would otherwise hang the open), its type is checked on the open
//! descriptor (not by a path lookup that a swap could race), and it is read through a limit one byte past the
//! cap, so a device such as `/dev/zero` or a file that grows while read cannot make forja allocate without
//! bound. Both refusals are [`Exit::Input`] naming the path.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Exit, fail};

/// Cap for a PEM certificate (chain) file.
pub const MAX_PEM: u64 = 1 << 20;

/// Opens `path` for reading if it is a regular file.
pub fn open_regular(path: &Path) -> anyhow::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| fail(Exit::Input, format!("{}: cannot open: {e}", path.display())))?;
    let meta = f
        .metadata()
        .map_err(|e| fail(Exit::Input, format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: not a regular file ({}); forja reads only regular files",
                path.display(),
                kind(&meta)
            ),
        ));
    }
    Ok(f)
}

/// The whole content of the regular file `path`, refused if it holds more than `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    let f = open_regular(path)?;
    let mut out = Vec::new();
    f.take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| fail(Exit::Input, format!("{}: cannot read: {e}", path.display())))?;
    if out.len() as u64 > cap {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: larger than {} bytes, which no file of this kind is",
                path.display(),
                cap
            ),
        ));
    }
    Ok(out)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, cap: u64) -> anyhow::Result<String> {
    String::from_utf8(read_capped(path, cap)?)
        .map_err(|_| fail(Exit::Input, format!("{}: not UTF-8 text", path.display())))
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    #[test]
    fn devices_fifos_and_oversized_files_are_refused() {
        let err = read_capped(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        assert!(format!("{err:#}").contains("character device"), "{err:#}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        let err = read_capped(&fifo, 10).unwrap_err();
        assert!(format!("{err:#}").contains("FIFO"), "{err:#}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 11]).unwrap();
        let err = read_capped(&big, 10).unwrap_err();
        assert!(format!("{err:#}").contains("larger than 10"), "{err:#}");
        std::fs::write(&big, vec![b'x'; 10]).unwrap();
        assert_eq!(read_capped(&big, 10).unwrap().len(), 10);
    }
}
