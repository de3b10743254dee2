//! How forja talks to the person (or script) running it: log lines on stderr and progress for long steps.
//!
//! On a terminal, long steps draw a progress bar; otherwise they print a plain line at start and end, so CI logs
//! stay readable. `--quiet` keeps only warnings and errors; `--json` leaves stdout to the machine-readable result.

use std::io::IsTerminal;
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

static SETTINGS: OnceLock<Settings> = OnceLock::new();
/// Every bar and spinner of the process draws through one `MultiProgress`, so a stage's spinner and a step's
/// bar inside it share the terminal instead of overwriting each other.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

fn bars() -> &'static MultiProgress {
    BARS.get_or_init(MultiProgress::new)
}

/// Width of a bar's label: long enough for `compressing …/disk.raw`-style labels on an 80-column terminal.
pub const LABEL_WIDTH: usize = 36;

/// A label fitted to `width` characters, cut in the middle so its end (the file name) stays readable:
/// `hashing /srv/very/long/path/disk.raw.zst` → `hashing /sr…/disk.raw.zst`. Shorter labels are padded.
pub fn fit_label(label: &str, width: usize) -> String {
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= width {
        return format!("{label:width$}");
    }
    // Keep the whole last path component when it fits with a few characters of the start.
    let name_len = label.rsplit('/').next().map_or(0, |n| n.chars().count());
    let tail = if name_len + 1 + 8 <= width {
        (width / 2).max(name_len + 1).min(width - 1 - 8)
    } else {
        width - 1 - 2.min(width.saturating_sub(1))
    };
    let head = width - 1 - tail;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

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
            let b = bars().add(ProgressBar::new(total));
            b.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            b.set_message(fit_label(&label, LABEL_WIDTH));
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

/// A step that has no byte count (mkfs, extracting, signing): a spinner with the elapsed time on a terminal, a
/// start line otherwise, and `LABEL: 1.2 s` when it ends, so no stage of a build is silent.
#[derive(Debug)]
pub struct Spinner {
    bar: Option<ProgressBar>,
    label: String,
    started: std::time::Instant,
    quiet: bool,
}

impl Spinner {
    pub fn start(label: impl Into<String>) -> Self {
        let label = label.into();
        let s = settings();
        let bar = s.bars.then(|| {
            let b = bars().add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template"),
            );
            b.set_message(fit_label(&label, LABEL_WIDTH));
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        if bar.is_none() && !s.quiet {
            eprintln!("{label} ...");
        }
        Spinner {
            bar,
            label,
            started: std::time::Instant::now(),
            quiet: s.quiet,
        }
    }

    /// Ends the step; returns its duration.
    pub fn finish(self) -> std::time::Duration {
        let took = self.started.elapsed();
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if !self.quiet {
            eprintln!("{}: {:.1} s", self.label, took.as_secs_f64());
        }
        took
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_label_keeps_the_file_name() {
        let l = fit_label(
            "compressing /srv/forja/builds/2026-11/site-madrid/disk.raw.zst",
            36,
        );
        assert_eq!(l.chars().count(), 36);
        assert!(l.ends_with("/disk.raw.zst"), "{l}");
        assert!(l.starts_with("compressing"), "{l}");
        assert!(l.contains('…'));
        assert_eq!(fit_label("hashing disk.raw", 20), "hashing disk.raw    ");
        // A name longer than the width still shows its end.
        let l = fit_label("verifying Pexip_Infinity_v25.4_generic_pxMgr_59565.ova", 30);
        assert_eq!(l.chars().count(), 30);
        assert!(l.ends_with("pxMgr_59565.ova"), "{l}");
    }
}
