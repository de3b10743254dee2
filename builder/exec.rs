//! The one way forja runs an external tool.
//!
//! A [`Task`] has a description (the build step it belongs to), closes stdin, captures output, and logs the
//! command line with secret arguments redacted. A failure becomes an [`Exit::Tool`] error that names the step,
//! the command and the tail of its stderr. Nothing here goes through a shell.
//!
//! Every tool dies with forja: it runs in a process group of its own and with a parent-death signal (SIGKILL),
//! so a `kill -9` of forja also ends the `mkfs.ext4` that was writing the image. A tool's own children (the
//! processes mmdebstrap starts) do not inherit that signal; their group is recorded in the output lock
//! ([`log_groups_to`]) and the next forja that takes the lock over ends whatever is left of it
//! ([`crate::process::end_leftovers`]).

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::Context;

use crate::error::{Exit, fail};

/// An external command with a human description.
#[derive(Debug)]
pub struct Task {
    description: String,
    program: OsString,
    args: Vec<Arg>,
    envs: Vec<(OsString, OsString)>,
    cwd: Option<std::path::PathBuf>,
    stdin: Option<Vec<u8>>,
}

#[derive(Debug)]
enum Arg {
    Plain(OsString),
    /// Passed to the tool, shown as `<redacted>` in logs and errors.
    Secret(OsString),
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl Task {
    pub fn new(description: impl Into<String>, program: impl AsRef<OsStr>) -> Self {
        Task {
            description: description.into(),
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            stdin: None,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(Arg::Plain(a.as_ref().to_owned()));
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.args.push(Arg::Plain(a.as_ref().to_owned()));
        }
        self
    }

    /// An argument that must never be logged.
    pub fn secret_arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(Arg::Secret(a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Bytes fed to the tool's stdin (otherwise stdin is closed).
    pub fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    /// The command line as logged: secrets redacted, arguments shell-quoted where needed.
    pub fn display(&self) -> String {
        let mut out = quote(&self.program.to_string_lossy());
        for a in &self.args {
            out.push(' ');
            match a {
                Arg::Plain(s) => out.push_str(&quote(&s.to_string_lossy())),
                Arg::Secret(_) => out.push_str("<redacted>"),
            }
        }
        out
    }

    /// Runs the command; a non-zero exit is an [`Exit::Tool`] error naming the step.
    pub fn run(mut self) -> anyhow::Result<Output> {
        match self.stdin.take() {
            Some(bytes) => self.run_with(Some(&mut bytes.as_slice())),
            None => self.run_with(None),
        }
    }

    /// Runs the command with `input` streamed to its stdin in bounded memory: a multi-GB file can go through a
    /// [`crate::hashio::HashingReader`] on its way, so it is read once.
    pub fn run_streaming(self, input: &mut (dyn std::io::Read + Send)) -> anyhow::Result<Output> {
        self.run_with(Some(input))
    }

    /// Runs the command and hands its stdout to `read` as it comes. Once `read` has what it needs, the tool is
    /// ended (SIGKILL) without the rest being read: for a tool that prints tens of MB of which the caller needs a
    /// few KiB (`mcopy` of a kernel image whose `.osrel` is near its start). When `read` fails, the rest is drained
    /// and the tool's own failure (a missing file), if it failed, is the error returned.
    pub fn run_reading<T>(
        self,
        read: impl FnOnce(&mut dyn std::io::Read) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let shown = self.display();
        log::debug!("{}: {}", self.description, shown);
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.cannot_start(e))?;
        record_group(child.id());
        let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
        std::thread::scope(|scope| {
            let errors = scope.spawn(move || {
                let mut v = Vec::new();
                if let Some(e) = stderr.as_mut() {
                    let _ = std::io::Read::read_to_end(e, &mut v);
                }
                v
            });
            let mut out = stdout.take().context("the tool's stdout")?;
            let got = read(&mut out);
            if got.is_ok() {
                // Ended, not waited for: it may still be printing what nobody reads.
                let _ = child.kill();
            } else {
                let _ = std::io::copy(&mut out, &mut std::io::sink());
            }
            drop(out);
            let status = child.wait()?;
            let errors = errors.join().unwrap_or_default();
            match got {
                Ok(v) => Ok(v),
                Err(_) if !status.success() => Err(self.failed(&shown, status, &errors)),
                Err(e) => Err(e),
            }
        })
    }

    /// The command as configured (program, arguments, environment, folder), in a group of its own that dies
    /// with forja.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        for a in &self.args {
            match a {
                Arg::Plain(s) | Arg::Secret(s) => cmd.arg(s),
            };
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        die_with_forja(&mut cmd);
        cmd
    }

    fn cannot_start(&self, e: std::io::Error) -> anyhow::Error {
        fail(
            Exit::Tool,
            format!(
                "{}: cannot start `{}`: {e}",
                self.description,
                self.program.to_string_lossy()
            ),
        )
    }

    /// The error of a tool that exited with `status`: the step, the command and the tail of its stderr.
    fn failed(
        &self,
        shown: &str,
        status: std::process::ExitStatus,
        stderr: &[u8],
    ) -> anyhow::Error {
        let stderr = String::from_utf8_lossy(stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        fail(
            Exit::Tool,
            format!(
                "{}: `{}` failed ({}){}{}",
                self.description,
                shown,
                status,
                if tail.is_empty() { "" } else { ":\n  " },
                tail.join("\n  ")
            ),
        )
    }

    fn run_with(self, input: Option<&mut (dyn std::io::Read + Send)>) -> anyhow::Result<Output> {
        let shown = self.display();
        log::debug!("{}: {}", self.description, shown);
        let mut cmd = self.command();
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.cannot_start(e))?;
        record_group(child.id());
        // Feed stdin from a thread so a tool that writes a lot before reading cannot deadlock us.
        let pipe = child.stdin.take();
        let (out, fed) = std::thread::scope(|scope| {
            let feeder = match (input, pipe) {
                (Some(input), Some(mut pipe)) => {
                    Some(scope.spawn(move || std::io::copy(input, &mut pipe).map(|_| ())))
                }
                _ => None,
            };
            let out = child.wait_with_output();
            let fed = feeder.map_or(Ok(()), |f| f.join().unwrap_or(Ok(())));
            (out, fed)
        });
        let out = out?;
        if !out.status.success() {
            return Err(self.failed(&shown, out.status, &out.stderr));
        }
        fed.with_context(|| format!("{}: feeding `{shown}`", self.description))?;
        Ok(Output {
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

/// Puts the tool in a process group of its own and has the kernel SIGKILL it when forja's thread that started
/// it ends (forja waits for every tool on the thread that started it, so that is when forja dies).
#[allow(unsafe_code)]
fn die_with_forja(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let parent = rustix::process::getpid();
    // SAFETY: `pre_exec` runs the closure in the child between fork and exec, where only async-signal-safe
    // operations are allowed. It makes two system calls through rustix's raw-syscall wrappers (prctl, getppid),
    // which neither allocate nor take locks, and builds an io::Error from a raw errno (no allocation).
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // forja may have died between fork and prctl; then no signal would ever come.
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The files (output locks) that record each tool's process group while it runs, by registration id.
static GROUP_LOGS: Mutex<Vec<(u64, std::fs::File)>> = Mutex::new(Vec::new());
static NEXT_LOG: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// While the returned guard lives, the process group of every tool forja starts is appended to `file` as a
/// line `group PID START` (the leader's PID and start time, see [`crate::process::Stamp`]).
pub fn log_groups_to(file: std::fs::File) -> GroupLog {
    let id = NEXT_LOG.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    GROUP_LOGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, file));
    GroupLog(id)
}

/// Stops recording into the file given to [`log_groups_to`] when dropped.
#[derive(Debug)]
pub struct GroupLog(u64);

impl Drop for GroupLog {
    fn drop(&mut self) {
        GROUP_LOGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| *id != self.0);
    }
}

/// The line a group is recorded with.
pub const GROUP_PREFIX: &str = "group ";

fn record_group(pid: u32) {
    let Some(stamp) = crate::process::stamp(pid) else {
        return;
    };
    let mut logs = GROUP_LOGS.lock().unwrap_or_else(|e| e.into_inner());
    for (_, f) in logs.iter_mut() {
        // Best effort: the record only helps a later forja clean up after a kill.
        let _ = writeln!(f, "{GROUP_PREFIX}{stamp}");
    }
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The first line a tool prints for `--version` (or another flag), for the SBOM and lock files.
pub fn tool_version(program: &str, flag: &str) -> anyhow::Result<String> {
    let out = Task::new(format!("asking {program} for its version"), program)
        .arg(flag)
        .run()?;
    let text = if out.stdout.is_empty() {
        String::from_utf8_lossy(&out.stderr).into_owned()
    } else {
        out.stdout_str()
    };
    Ok(text.lines().next().unwrap_or("").trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    #[test]
    fn secrets_are_redacted_in_the_logged_line() {
        let t = Task::new("x", "echo").arg("a b").secret_arg("hunter2");
        assert_eq!(t.display(), "echo 'a b' <redacted>");
    }

    #[test]
    fn failure_names_the_step_and_hides_secrets() {
        let err = Task::new("formatting vmstore", "sh")
            .args(["-c", "echo nope >&2; exit 3", "sh"])
            .secret_arg("hunter2")
            .run()
            .unwrap_err();
        assert_eq!(exit_of(&err), Exit::Tool);
        let msg = format!("{err:#}");
        assert!(msg.starts_with("formatting vmstore: "), "{msg}");
        assert!(msg.contains("nope"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn a_tool_runs_in_its_own_group_and_is_recorded() {
        let log = tempfile::tempfile().unwrap();
        let reader = log.try_clone().unwrap();
        let guard = log_groups_to(log);
        // `ps -o pgid= -p $$` would need procps; the shell reads its own stat instead.
        let out = Task::new("group", "sh")
            .args(["-c", "echo $$; cut -d' ' -f5 /proc/$$/stat"])
            .run()
            .unwrap();
        drop(guard);
        let text = out.stdout_str();
        let mut lines = text.lines();
        let (pid, pgrp) = (lines.next().unwrap(), lines.next().unwrap());
        assert_eq!(pid, pgrp, "the tool leads a process group of its own");
        let mut recorded = String::new();
        let mut r = reader;
        std::io::Seek::rewind(&mut r).unwrap();
        std::io::Read::read_to_string(&mut r, &mut recorded).unwrap();
        assert!(
            recorded.contains(&format!("{GROUP_PREFIX}{pid} ")),
            "{recorded}"
        );
    }

    #[test]
    fn a_tool_dies_when_the_forja_that_started_it_is_killed() {
        // A stand-in for forja: this test binary run again, selecting only the helper below, which starts a tool
        // through Task; the helper is then killed with SIGKILL, as `kill -9` would.
        let d = tempfile::tempdir().unwrap();
        let pid_file = d.path().join("tool.pid");
        let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "exec::tests::helper_runs_a_long_tool"])
            .args(["--include-ignored", "--test-threads=1"])
            .env("FORJA_EXEC_HELPER", &pid_file)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut tool = None;
        for _ in 0..500 {
            if let Some(p) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
            {
                tool = crate::process::stamp(p);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let tool = tool.expect("the helper started its tool");
        helper.kill().unwrap();
        helper.wait().unwrap();
        for _ in 0..250 {
            let zombie = std::fs::read_to_string(format!("/proc/{}/stat", tool.pid))
                .is_ok_and(|t| t.contains(") Z"));
            if !crate::process::alive(tool) || zombie {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("the tool outlived the forja that started it");
    }

    /// Runs only inside the test above (which sets FORJA_EXEC_HELPER to where the tool writes its PID).
    #[test]
    #[ignore = "a helper process for a_tool_dies_when_the_forja_that_started_it_is_killed, not a test by itself"]
    fn helper_runs_a_long_tool() {
        let Some(pid_file) = std::env::var_os("FORJA_EXEC_HELPER") else {
            return;
        };
        let _ = Task::new("long tool", "sh")
            .args(["-c", "echo $$ > \"$1\"; exec sleep 60", "sh"])
            .arg(pid_file)
            .run();
    }

    #[test]
    fn stdin_is_fed() {
        let out = Task::new("cat", "cat")
            .stdin(b"hello".to_vec())
            .run()
            .unwrap();
        assert_eq!(out.stdout, b"hello");
    }

    #[test]
    fn a_reader_takes_what_it_needs_and_the_tool_is_ended() {
        // `cat /dev/zero` never ends by itself: only the kill after the reader returned ends it.
        let got = Task::new("endless", "cat")
            .arg("/dev/zero")
            .run_reading(|out| {
                let mut buf = [1u8; 10];
                out.read_exact(&mut buf)?;
                Ok(buf)
            })
            .unwrap();
        assert_eq!(got, [0u8; 10]);
    }

    #[test]
    fn a_failed_read_reports_the_tools_own_failure_if_it_failed() {
        let short = |out: &mut dyn std::io::Read| -> anyhow::Result<()> {
            let mut buf = [0u8; 10];
            out.read_exact(&mut buf)?;
            Ok(())
        };
        let err = Task::new("reading a slot image", "sh")
            .args(["-c", "echo no such file >&2; exit 1"])
            .run_reading(short)
            .unwrap_err();
        assert_eq!(exit_of(&err), Exit::Tool);
        let msg = format!("{err:#}");
        assert!(msg.starts_with("reading a slot image: "), "{msg}");
        assert!(msg.contains("no such file"), "{msg}");
        // The tool did its job; what it printed did not do: the reader's error.
        let err = Task::new("short", "echo")
            .arg("hi")
            .run_reading(short)
            .unwrap_err();
        assert!(err.downcast_ref::<std::io::Error>().is_some(), "{err:#}");
    }
}
