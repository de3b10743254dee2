//! Exit codes and the error type that carries one.
//!
//! Every failure a user can act on is a [`Fail`]: a distinct [`Exit`] code plus a message that names the file,
//! line or field and what was expected. An operating-system I/O error with no [`Fail`] around it (disk full, a
//! read-only or too small filesystem, permission denied, a device error) is the environment's, not a bug:
//! [`Exit::Io`], and file operations go through `fs_err`, so its message names the path. Anything else ends as
//! [`Exit::Internal`]. `main` walks the `anyhow` chain to find the code, so library code can keep adding
//! context with `.context(...)` without losing it.

use std::fmt;

/// Process exit codes. Stable: scripts at the sites depend on them, and the README lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exit {
    /// Everything checked out.
    Ok = 0,
    /// The profile parsed, but at least one guide rule fails (`forja check`), or the firmware drifted from its
    /// plan (`forja firmware audit`).
    PolicyFailed = 1,
    /// Unusable input: parse error, unknown key, missing file, unsafe secrets file, bad arguments.
    Input = 2,
    /// A file's SHA-256 differs from the one it must have.
    HashMismatch = 3,
    /// A file has no trusted SHA-256 entry to check against.
    Unverified = 4,
    /// A signature does not verify.
    BadSignature = 5,
    /// An external tool (mkfs, qemu-img, mmdebstrap, ...) failed.
    Tool = 6,
    /// A defensive parser refused a hostile or corrupt archive/image.
    BadArchive = 7,
    /// Another build holds the output folder's lock.
    Busy = 8,
    /// A remote peer (Management Node, node bootstrap) refused or failed.
    Remote = 9,
    /// Replay, mismatch or expiry in a licence bundle; an update bundle not newer than the running system.
    Refused = 10,
    /// The machine failed an operation: no space left, a read-only filesystem, a file too large for the
    /// filesystem, permission denied, a device error. The message names the path.
    Io = 11,
    /// A bug.
    Internal = 70,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error that a user can act on, with the exit code it maps to.
#[derive(Debug)]
pub struct Fail {
    pub exit: Exit,
    pub message: String,
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fail {}

impl Fail {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Fail {
            exit,
            message: message.into(),
        }
    }
}

/// Shorthand: `return Err(fail(Exit::Input, format!(...)))`.
pub fn fail(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Fail::new(exit, message))
}

/// The exit code for an error chain: the outermost [`Fail`] wins; else an operating-system I/O error is
/// [`Exit::Io`]; anything else is internal.
pub fn exit_of(err: &anyhow::Error) -> Exit {
    let fail_in = |e: &(dyn std::error::Error + 'static)| {
        e.downcast_ref::<Fail>()
            .or_else(|| {
                e.downcast_ref::<std::io::Error>()
                    .and_then(|io| io.get_ref())
                    .and_then(|inner| inner.downcast_ref::<Fail>())
            })
            .map(|f| f.exit)
    };
    if let Some(exit) = err.chain().find_map(fail_in) {
        return exit;
    }
    if err
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some())
    {
        return Exit::Io;
    }
    Exit::Internal
}

/// Turns an I/O error into an `anyhow` error, unwrapping a [`Fail`] that a reader adapter smuggled through
/// `io::Error` (so its exit code survives).
pub fn from_io(e: std::io::Error) -> anyhow::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Fail>()) {
        let inner = e.into_inner().expect("checked above");
        match inner.downcast::<Fail>() {
            Ok(f) => anyhow::Error::new(*f),
            Err(other) => anyhow::anyhow!(other),
        }
    } else {
        anyhow::Error::new(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn context_keeps_the_exit_code() {
        let err = Err::<(), _>(fail(Exit::HashMismatch, "disk.vmdk differs"))
            .context("verifying node images")
            .unwrap_err();
        assert_eq!(exit_of(&err), Exit::HashMismatch);
        assert_eq!(
            format!("{err:#}"),
            "verifying node images: disk.vmdk differs"
        );
    }

    #[test]
    fn plain_errors_are_internal() {
        let err = anyhow::anyhow!("boom");
        assert_eq!(exit_of(&err), Exit::Internal);
    }

    #[test]
    fn a_full_disk_is_the_environment_and_names_the_path() {
        // /dev/full answers every write with ENOSPC, like a full filesystem.
        use std::io::Write;
        let mut f = fs_err::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let err = anyhow::Error::from(f.write_all(b"x").and_then(|()| f.flush()).unwrap_err())
            .context("writing disk.raw");
        assert_eq!(exit_of(&err), Exit::Io);
        let msg = format!("{err:#}");
        assert!(
            msg.contains("/dev/full") && msg.contains("No space left"),
            "{msg}"
        );
        assert_eq!(Exit::Io.code(), 11);
    }
}
