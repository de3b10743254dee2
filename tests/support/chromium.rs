//! Headless Chromium (Debian's `chromium`) as an independent renderer of `report.html`: the DOM after its
//! script ran, a screenshot, a PDF, and a proxy that counts every request the page makes.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::Mutex;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium's own service hosts: it contacts some of them (component updates, sign-in) whatever flags it is
/// given. Requests to them are Chromium's, not the page's; `report.html` names none of them (its test checks).
pub const CHROMIUM_OWN: [&str; 3] = ["google.com", "googleapis.com", "gstatic.com"];

/// A listener on 127.0.0.1 that every HTTP(S) request of the page goes to (as its proxy): it records each
/// request line and answers none.
pub struct Trap {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Trap {
    pub fn new() -> Trap {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut line = String::new();
                let _ = BufReader::new(&c).read_line(&mut line);
                s.lock().unwrap().push(line.trim().to_owned());
            }
        });
        Trap { port, seen }
    }

    /// The requests that did not go to Chromium's own services: the page's. A connection on which no request
    /// line came within the timeout is left out: Chromium sometimes opens a spare connection to its proxy and
    /// closes it unused (seen once in a suite run: one empty line), and a request always begins with its line.
    pub fn page_requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| !l.is_empty())
            .filter(|l| {
                let host = l
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .split(['/', ':'])
                    .next()
                    .unwrap_or("")
                    .to_owned();
                !CHROMIUM_OWN
                    .iter()
                    .any(|own| host == *own || host.ends_with(&format!(".{own}")))
            })
            .cloned()
            .collect()
    }
}

/// Runs Chromium on `url` with `args`, a fresh profile, no background traffic, and every request sent to `trap`.
pub fn run(url: &str, args: &[&str], trap: &Trap) -> Output {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run ci/install-deps (Debian package chromium)"
    );
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new("timeout")
        .arg("120")
        .arg(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--no-pings",
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter",
            "--hide-scrollbars",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{}", trap.port))
        .arg("--proxy-bypass-list=<-loopback>")
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The DOM after the page's scripts ran.
pub fn dom(url: &str, trap: &Trap) -> String {
    String::from_utf8(run(url, &["--dump-dom"], trap).stdout).unwrap()
}

/// A screenshot of `width`×`height` pixels into `png`.
pub fn screenshot(url: &str, png: &Path, width: u32, height: u32, trap: &Trap) {
    run(
        url,
        &[
            &format!("--window-size={width},{height}"),
            &format!("--screenshot={}", png.display()),
        ],
        trap,
    );
}

/// The page printed to PDF (as File > Print would, without header and footer).
pub fn pdf(url: &str, out: &Path, trap: &Trap) {
    run(
        url,
        &[
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", out.display()),
        ],
        trap,
    );
}
