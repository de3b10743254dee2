//! The output lock: one forja at a time writes into a folder, and a forja that was killed is told apart from a
//! live one without trusting a bare PID.
//!
//! The lock is an `flock(2)` on `DIR/.forja.lock`, which the kernel drops when its holder dies, however it
//! dies: a stale file never blocks a build, and a file naming the PID of some unrelated live process means
//! nothing. The file holds a record for people and for the next forja: `forja PID START BOOT` (the holder,
//! with its start time and boot id, [`crate::process::Stamp`]) and one `group PID START` line per tool the
//! holder started ([`crate::exec::log_groups_to`]). A forja that takes over the file of a killed one first
//! ends what is left of those process groups (a tool's own children, which the parent-death signal does not
//! reach), so a rerun never races a leftover `mkfs.ext4` or mmdebstrap child writing into the same folder.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::{Exit, fail};
use crate::process::{self, Stamp};

/// The lock file's name in the folder it guards.
pub const LOCK_FILE: &str = ".forja.lock";

/// An exclusive claim on an output folder, held while forja writes into it.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    _file: std::fs::File,
    _groups: crate::exec::GroupLog,
}

/// What a lock file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub holder: Option<(Stamp, String)>,
    pub groups: Vec<Stamp>,
}

impl Record {
    /// Parses a lock file's text; lines it does not know are ignored (an older forja wrote only a PID).
    pub fn parse(text: &str) -> Record {
        let mut r = Record::default();
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            let stamp = |p: &str, s: &str| {
                Some(Stamp {
                    pid: p.parse().ok()?,
                    start: s.parse().ok()?,
                })
            };
            match w.as_slice() {
                ["forja", p, s, boot] => r.holder = stamp(p, s).map(|st| (st, boot.to_string())),
                ["group", p, s] => r.groups.extend(stamp(p, s)),
                _ => {}
            }
        }
        r
    }
}

impl OutputLock {
    /// Creates the folder if needed (its parent must exist, [`crate::artifact::create_out_dir`]) and claims it,
    /// or fails with [`Exit::Busy`] naming the live holder.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        crate::artifact::create_out_dir(dir, "the output folder")?;
        let path = dir.join(LOCK_FILE);
        for _ in 0..8 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => return Err(busy(dir, &mut file)),
                Err(e) => {
                    return Err(std::io::Error::from(e))
                        .with_context(|| format!("locking {}", path.display()));
                }
            }
            // The holder before us may have removed the file after we opened it: then we hold a lock on a file
            // nobody else will open. Start again with the one the path names now.
            let same = std::fs::symlink_metadata(&path).is_ok_and(|m| {
                file.metadata()
                    .is_ok_and(|f| f.ino() == m.ino() && f.dev() == m.dev())
            });
            if !same {
                continue;
            }
            let mut before = String::new();
            let _ = file.read_to_string(&mut before);
            take_over(dir, &Record::parse(&before));
            file.set_len(0)?;
            file.rewind()?;
            let me = process::me();
            writeln!(file, "forja {me} {}", process::boot_id())
                .with_context(|| format!("writing {}", path.display()))?;
            let groups = crate::exec::log_groups_to(file.try_clone()?);
            return Ok(OutputLock {
                path,
                _file: file,
                _groups: groups,
            });
        }
        Err(fail(
            Exit::Busy,
            format!("could not lock {}: it keeps changing", dir.display()),
        ))
    }
}

/// The [`Exit::Busy`] error, naming the holder the file records.
fn busy(dir: &Path, file: &mut std::fs::File) -> anyhow::Error {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let who = match Record::parse(&text).holder {
        Some((s, _)) => format!(" (pid {})", s.pid),
        None => String::new(),
    };
    fail(
        Exit::Busy,
        format!(
            "{} is being written by another forja process{who}; wait for it or choose another --out",
            dir.display()
        ),
    )
}

/// Before writing where a killed forja wrote: end what is left of the tools it started (same boot only: after
/// a reboot nothing of it runs).
fn take_over(dir: &Path, before: &Record) {
    let Some((holder, boot)) = &before.holder else {
        return;
    };
    if *boot != process::boot_id() {
        return;
    }
    let ended: usize = before
        .groups
        .iter()
        .map(|g| process::end_leftovers(*g))
        .sum();
    log::warn!(
        "{}: a forja process (pid {}) stopped while writing here; taking over{}",
        dir.display(),
        holder.pid,
        if ended > 0 {
            format!(" and ending {ended} process(es) it left running")
        } else {
            String::new()
        }
    );
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still locked (the file closes after this), so no one can lock the old file after us.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    #[test]
    fn a_second_claim_on_the_same_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(dir.path()).unwrap();
        let err = OutputLock::acquire(dir.path()).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Busy);
        assert!(
            format!("{err}").contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(!dir.path().join(LOCK_FILE).exists());
        OutputLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_file_naming_a_live_process_that_holds_no_lock_does_not_block() {
        // PID 1 is always alive; an old-style lock file with it, or a record of a process that is gone, must
        // not keep anyone out: only a held flock does.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "1\n").unwrap();
        drop(OutputLock::acquire(dir.path()).unwrap());
        std::fs::write(
            dir.path().join(LOCK_FILE),
            format!("forja 1 1 {}\n", process::boot_id()),
        )
        .unwrap();
        drop(OutputLock::acquire(dir.path()).unwrap());
    }

    #[test]
    fn taking_over_ends_what_a_killed_holder_left_running() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        // A tool's leftover: a process group whose leader is gone and whose member still runs.
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sleep 60 & echo $!"])
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let leader = process::stamp(sh.id()).unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(sh.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        sh.wait().unwrap();
        let sleeper = process::stamp(line.trim().parse().unwrap()).unwrap();
        // The record a killed forja (not running: start time 1) left, with that group.
        std::fs::write(
            dir.path().join(LOCK_FILE),
            format!("forja 999999 1 {}\ngroup {leader}\n", process::boot_id()),
        )
        .unwrap();
        let lock = OutputLock::acquire(dir.path()).unwrap();
        let gone = (0..250).any(|_| {
            let zombie = std::fs::read_to_string(format!("/proc/{}/stat", sleeper.pid))
                .is_ok_and(|t| t.contains(") Z"));
            let done = !process::alive(sleeper) || zombie;
            if !done {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            done
        });
        assert!(gone, "the leftover of the killed build still runs");
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        let rec = Record::parse(&text);
        assert_eq!(rec.holder.unwrap().0, process::me());
        assert!(!rec.groups.contains(&leader), "{text}");
        drop(lock);
    }
}
