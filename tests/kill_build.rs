//! `kill -9` of `forja build` at random points, several times in a row into the same folder, then one build
//! that must finish: no process of a killed build may keep running (its tools included), no file may stand
//! under a final name unless it is complete, and the next build must succeed and verify.
//!
//! The points are random but reproducible: a seed (printed; `FORJA_KILL_SEED` replaces it) picks, for each
//! kill, how many of the build's stage lines to wait for (0 = during the base extraction, up to compression)
//! and a delay after it, so every stage gets killed in some run whatever the machine's speed. "Complete" is
//! judged by the build that finally succeeds: builds are reproducible, so every file a killed build left under
//! a final name must be byte for byte the one the good build writes (`sha256sum`, an independent tool, hashes
//! both). Leftover processes are found with `ps` (procps), not with forja's own `/proc` code.

#[path = "support/lab.rs"]
mod lab;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KILLS: usize = 4;
/// The stage lines a build prints, in order (`stage: NAME: 1.2 s`).
const STAGES: usize = 5;

/// xorshift64*: small, seedable, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// (pid, ppid, pgid) of every process, from `ps`.
fn processes() -> Vec<(u32, u32, u32)> {
    let out = Command::new("ps")
        .args(["-e", "-o", "pid=,ppid=,pgid=,stat="])
        .output()
        .expect("ps (procps)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            // Zombies have ended; only their parent has not reaped them yet.
            if w.get(3)?.starts_with('Z') {
                return None;
            }
            Some((w[0].parse().ok()?, w[1].parse().ok()?, w[2].parse().ok()?))
        })
        .collect()
}

/// Every descendant of `root`, and every member of their process groups.
fn descendants(root: u32) -> Vec<u32> {
    let all = processes();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        for (pid, ppid, _) in &all {
            if *ppid == p && !found.contains(pid) {
                found.push(*pid);
            }
        }
        i += 1;
    }
    // forja's own group is the test's: only the groups its tools lead count.
    let own_group = all
        .iter()
        .find(|(pid, _, _)| *pid == root)
        .map(|(_, _, g)| *g);
    let groups: Vec<u32> = all
        .iter()
        .filter(|(pid, _, _)| found.contains(pid) && *pid != root)
        .map(|(_, _, g)| *g)
        .filter(|g| Some(*g) != own_group)
        .collect();
    let mut out: Vec<u32> = found.into_iter().skip(1).collect();
    for (pid, _, g) in &all {
        if groups.contains(g) && !out.contains(pid) {
            out.push(*pid);
        }
    }
    out
}

/// SHA-256 of each file directly under `dir` whose name is final (not hidden), by `sha256sum`.
fn final_files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut names: Vec<String> = Vec::new();
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            for s in std::fs::read_dir(e.path()).unwrap() {
                let s = s.unwrap();
                let sub = s.file_name().to_string_lossy().into_owned();
                if !sub.starts_with('.') {
                    names.push(format!("{name}/{sub}"));
                }
            }
        } else {
            names.push(name);
        }
    }
    for n in names {
        let o = Command::new("sha256sum")
            .arg(dir.join(&n))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        out.insert(n, text.split_whitespace().next().unwrap_or("").to_owned());
    }
    out
}

#[test]
fn kill_9_at_random_points_leaves_nothing_running_and_nothing_half_written() {
    let seed: u64 = std::env::var("FORJA_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1616_2026);
    println!("kill test seed: {seed} (FORJA_KILL_SEED={seed} repeats this run)");
    let mut rng = Rng(seed | 1);
    let lab = lab::LabCopy::new();
    let work = tempfile::tempdir_in(lab::tmp()).unwrap();
    let out = work.path().join("out");
    let started = Instant::now();
    let mut left: Vec<(usize, BTreeMap<String, String>)> = Vec::new();

    for round in 0..KILLS {
        let wait_stages = rng.below(STAGES as u64) as usize;
        let delay = Duration::from_millis(rng.below(1500));
        let mut child = lab::build_command(&lab.profile(), &out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut seen = 0;
        let deadline = Instant::now() + Duration::from_secs(300);
        while seen < wait_stages && Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) if l.contains("stage: ") => seen += 1,
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        std::thread::sleep(delay);
        let pid = child.id();
        let family = descendants(pid);
        // SIGKILL, exactly as `kill -9 PID` sends it.
        let killed = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        // Tools started between the snapshot and the kill: their groups are in the lock's record.
        let mut family = family;
        let recorded: Vec<u32> = std::fs::read_to_string(out.join(".forja.lock"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("group ")?.split(' ').next()?.parse().ok())
            .collect();
        family.extend(
            processes()
                .into_iter()
                .filter(|(_, _, g)| recorded.contains(g))
                .map(|(p, _, _)| p),
        );
        println!(
            "round {round}: after {seen} stage line(s) + {delay:?}: {} ({} tool process(es) at the kill)",
            if killed && status.code().is_none() {
                "killed"
            } else {
                "had already finished"
            },
            family.len()
        );
        // Nothing of it may keep running: its tools die with it (parent-death signal); give the kernel a moment.
        let grace = Instant::now() + Duration::from_secs(5);
        loop {
            let alive: Vec<u32> = processes()
                .into_iter()
                .map(|(p, _, _)| p)
                .filter(|p| family.contains(p))
                .collect();
            if alive.is_empty() {
                break;
            }
            assert!(
                Instant::now() < grace,
                "round {round}: processes of the killed build still run: {alive:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        left.push((round, final_files(&out)));
    }

    // The next build succeeds in the same folder.
    let done = lab::build_command(&lab.profile(), &out).output().unwrap();
    assert!(
        done.status.success(),
        "the build after the kills failed:\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let good = final_files(&out);
    assert!(good.contains_key("SHA256SUMS") && good.contains_key("disk.raw"));
    // Every file a killed build left under a final name was complete: the same bytes the good build wrote.
    for (round, files) in &left {
        for (name, sha) in files {
            assert_eq!(
                good.get(name),
                Some(sha),
                "round {round}: {name} stood under its final name with other content than a complete build's"
            );
        }
    }
    let check = Command::new("sha256sum")
        .args(["--check", "--quiet", "SHA256SUMS"])
        .current_dir(&out)
        .status()
        .unwrap();
    assert!(check.success(), "sha256sum --check SHA256SUMS failed");
    let verify = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["verify", "--strict"])
        .arg(&out)
        .arg("--pubkey")
        .arg(out.join("forja.pub"))
        .status()
        .unwrap();
    assert!(verify.success(), "forja verify failed after the kills");
    for leftover in [
        ".forja-work",
        ".forja.lock",
        ".disk.raw.partial",
        ".disk.raw.zst.partial",
    ] {
        assert!(!out.join(leftover).exists(), "{leftover} left behind");
    }
    println!("kill test: PASS in {:.0?}", started.elapsed());
}
