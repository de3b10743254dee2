//! The host's own scripts in `overlays/usr/lib/forja/`, run here against a stand-in `virsh` (a shell script that
//! records its calls and keeps domain states in files) with their settings file in a temp folder: the start order
//! of the Pexip VMs (§29) and the Management Node copies (§92–93, with the real `qemu-img`). The boot proof runs
//! them on the booted host too (`tests/support/report_host.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A temp folder with `bin/virsh` (the stand-in), `state/<domain>` files and `firstboot.env`.
struct Host {
    dir: tempfile::TempDir,
}

/// The stand-in: `domstate D` prints state/D (default "shut off"); `start D` records the call and marks D as
/// running, or as `starting` when `state/D.slow` or `state/D.never` exists: the next `domstate` turns a slow
/// domain into `running`, a never one stays `starting`.
const VIRSH: &str = r#"#!/bin/bash
[ "$1" = --connect ] && shift 2
echo "$*" >>"$HOST/calls"
case $1 in
  domstate)
    f=$HOST/state/$2
    s=$(cat "$f" 2>/dev/null || echo "shut off")
    if [ "$s" = starting ] && [ ! -e "$f.never" ]; then echo running >"$f"; fi
    echo "$s" ;;
  start)
    if [ -e "$HOST/state/$2.slow" ] || [ -e "$HOST/state/$2.never" ]; then s=starting; else s=running; fi
    echo "$s" >"$HOST/state/$2" ;;
  *) echo "stand-in virsh: $1 not modelled" >&2; exit 1 ;;
esac
"#;

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::create_dir_all(dir.path().join("vmstore")).unwrap();
        let virsh = bin.join("virsh");
        std::fs::write(&virsh, VIRSH).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&virsh, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("firstboot.env"),
            format!(
                "FORJA_VMSTORE_MOUNT={}\nFORJA_MANAGEMENT_DOMAIN=pexmgr\nFORJA_NODE_DOMAINS=\"conf01 edge01\"\nFORJA_SNAPSHOTS_KEPT=3\n",
                dir.path().join("vmstore").display()
            ),
        )
        .unwrap();
        Host { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, script: &str, env: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap()
        );
        Command::new(repo().join("overlays/usr/lib/forja").join(script))
            .env("PATH", path)
            .env("HOST", self.dir.path())
            .env("FORJA_ENV", self.path("firstboot.env"))
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn the_management_node_starts_before_any_conferencing_node() {
    let h = Host::new();
    std::fs::write(h.path("state/pexmgr.slow"), "").unwrap();
    let out = h.run("nodes-start", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let starts: Vec<String> = h
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("start "))
        .collect();
    assert_eq!(starts, ["start pexmgr", "start conf01", "start edge01"]);
    // The conferencing nodes start only after the manager was seen running.
    let calls = h.calls();
    let first_conf = calls.iter().position(|c| c == "start conf01").unwrap();
    let seen_running = calls[..first_conf]
        .iter()
        .filter(|c| *c == "domstate pexmgr")
        .count();
    assert!(seen_running >= 2, "{calls:?}");
    // Again (a later boot): everything runs already, nothing is started twice.
    let again = h.run("nodes-start", &[]);
    assert!(again.status.success());
    assert_eq!(
        h.calls().iter().filter(|c| c.starts_with("start ")).count(),
        3
    );
}

#[test]
fn no_conferencing_node_starts_when_the_management_node_does_not_run() {
    let h = Host::new();
    std::fs::write(h.path("state/pexmgr.never"), "").unwrap();
    let out = h.run("nodes-start", &[("FORJA_START_WAIT", "2")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("is not running after 2s: no Conferencing Node started"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        h.calls()
            .iter()
            .all(|c| !c.starts_with("start conf") && !c.starts_with("start edge"))
    );
}

#[test]
fn a_snapshot_copies_the_stopped_management_node_and_keeps_the_newest() {
    let h = Host::new();
    let disk = h.path("vmstore/pexmgr.qcow2");
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg("8M")
        .status()
        .expect("qemu-img (package qemu-utils) is needed");
    assert!(st.success());
    for _ in 0..5 {
        let out = h.run("snapshot", &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut copies: Vec<PathBuf> = std::fs::read_dir(h.path("vmstore/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    copies.sort();
    let names: Vec<String> = copies
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "FORJA_SNAPSHOTS_KEPT=3 newest copies, no partial file: {names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("pexmgr-") && n.ends_with("Z.qcow2")),
        "{names:?}"
    );
    let cmp = Command::new("qemu-img")
        .args(["compare", "-q"])
        .arg(&disk)
        .arg(copies.last().unwrap())
        .status()
        .unwrap();
    assert!(cmp.success(), "the newest copy differs from the disk");
    assert_eq!(h.calls(), ["domstate pexmgr"; 5]);
}
