//! How forja talks to the person (or script) running it: log lines on stderr and progress for long steps.
//!
//! On a terminal, long steps draw a progress bar; otherwise they print a plain line at start and end, so CI logs
//! stay readable. `--quiet` keeps only warnings and errors; `--json` leaves stdout to the machine-readable result.

use std::io::IsTerminal;
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressStyle};

static SETTINGS: OnceLock<Settings> = OnceLock::new();

#[derive(Debug, Clone, Copy)]
struct Settings {
    quiet: bool,
    bars: bool,
}

struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.level
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let tag = match r.level() {
                log::Level::Error => "error: ",
                log::Level::Warn => "warning: ",
                _ => "",
            };
            eprintln!("{tag}{}", r.args());
        }
    }
    fn flush(&self) {}
}

/// Sets up logging once per process. `verbose` shows every external command line (redacted).
pub fn init(quiet: bool, verbose: bool) {
    let level = if quiet {
        log::LevelFilter::Warn
    } else if verbose {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    let _ = SETTINGS.set(Settings {
        quiet,
        bars: std::io::stderr().is_terminal() && !quiet,
    });
    if log::set_boxed_logger(Box::new(StderrLogger { level })).is_ok() {
        log::set_max_level(level);
    }
}

fn settings() -> Settings {
    SETTINGS.get().copied().unwrap_or(Settings {
        quiet: true,
        bars: false,
    })
}

/// Progress of one long step, measured in bytes.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    quiet: bool,
}

impl Progress {
    pub fn bytes(label: impl Into<String>, total: u64) -> Self {
        let label = label.into();
        let s = settings();
        let bar = s.bars.then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            b.set_message(label.clone());
            b
        });
        if bar.is_none() && !s.quiet {
            eprintln!("{label} ...");
        }
        Progress {
            bar,
            label,
            quiet: s.quiet,
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    pub fn finish(self, summary: impl AsRef<str>) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if !self.quiet {
            eprintln!("{}: {}", self.label, summary.as_ref());
        }
    }
}

/// A reader that advances a [`Progress`] as it is read.
#[derive(Debug)]
pub struct ProgressReader<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<'a, R> ProgressReader<'a, R> {
    pub fn new(inner: R, progress: &'a Progress) -> Self {
        ProgressReader { inner, progress }
    }
}

impl<R: std::io::Read> std::io::Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}
