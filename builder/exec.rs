//! The one way forja runs an external tool.
//!
//! A [`Task`] has a description (the build step it belongs to), closes stdin, captures output, and logs the
//! command line with secret arguments redacted. A failure becomes an [`Exit::Tool`] error that names the step,
//! the command and the tail of its stderr. Nothing here goes through a shell.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Stdio};

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

    fn run_with(self, input: Option<&mut (dyn std::io::Read + Send)>) -> anyhow::Result<Output> {
        let shown = self.display();
        log::debug!("{}: {}", self.description, shown);
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
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            fail(
                Exit::Tool,
                format!(
                    "{}: cannot start `{}`: {e}",
                    self.description,
                    self.program.to_string_lossy()
                ),
            )
        })?;
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
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(fail(
                Exit::Tool,
                format!(
                    "{}: `{}` failed ({}){}{}",
                    self.description,
                    shown,
                    out.status,
                    if tail.is_empty() { "" } else { ":\n  " },
                    tail.join("\n  ")
                ),
            ));
        }
        fed.with_context(|| format!("{}: feeding `{shown}`", self.description))?;
        Ok(Output {
            stdout: out.stdout,
            stderr: out.stderr,
        })
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
    fn stdin_is_fed() {
        let out = Task::new("cat", "cat")
            .stdin(b"hello".to_vec())
            .run()
            .unwrap();
        assert_eq!(out.stdout, b"hello");
    }
}
