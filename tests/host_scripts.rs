//! The host's own scripts in `overlays/usr/lib/forja/`, run here against a stand-in `virsh` (a shell script that
//! records its calls and keeps domain states in files) with their settings file in a temp folder: the start order
//! of the Pexip VMs (§29), the Management Node copies (§92–93, with the real `qemu-img`), and the health check
//! that keeps or rolls back an updated slot (§74–76, §106; stand-ins for `systemctl`, `findmnt`, `ip`, `nft`,
//! `logger` and `systemd-bless-boot`, each check passing and failing). The boot proof runs
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
  dominfo)
    [ -e "$HOST/defined/$2" ] || { echo "error: failed to get domain '$2'" >&2; exit 1; } ;;
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
                "FORJA_VMSTORE_MOUNT={}\nFORJA_MANAGEMENT_DOMAIN=pexmgr\nFORJA_NODE_DOMAINS=\"conf01 edge01\"\nFORJA_SNAPSHOTS_KEPT=3\nFORJA_MGMT_IF=mgmt0\nFORJA_MGMT_ADDRESS=192.0.2.10/24\n",
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

/// Stand-ins for what the health check asks the running system. Each reads the fake host's files: `units/U.PROP`
/// (`systemctl show`), `mounts/PATH.SOURCE|FSTYPE` (`findmnt`, `/` in PATH as `_`), `ip/IF` (`ip -o addr`),
/// `nft/TABLE` (`nft list table inet TABLE`); `logger`, `systemd-bless-boot` and `systemctl reboot` record calls.
const HEALTH_STANDINS: [(&str, &str); 5] = [
    (
        "systemctl",
        r#"#!/bin/bash
echo "systemctl $*" >>"$HOST/calls"
if [ "$1" = show ]; then cat "$HOST/units/$5.$4" 2>/dev/null; exit 0; fi
[ "$1" = --no-block ] && [ "$2" = reboot ] && exit 0
exit 1
"#,
    ),
    (
        "findmnt",
        r#"#!/bin/bash
# findmnt -n -o FIELD --mountpoint PATH
f="$HOST/mounts/$(echo "$5" | tr / _).$3"
[ -e "$f" ] && cat "$f"
"#,
    ),
    (
        "ip",
        r#"#!/bin/bash
# ip -o addr show dev IF up scope global
cat "$HOST/ip/$5" 2>/dev/null
"#,
    ),
    (
        "nft",
        r#"#!/bin/bash
[ -e "$HOST/nft/$4" ]
"#,
    ),
    (
        "logger",
        r#"#!/bin/bash
echo "logger $*" >>"$HOST/journal"
"#,
    ),
];

/// A fake host on which every check passes: selfcheck ran and passed, vmstore unlocked and mounted, both defined
/// domains known to libvirt, mgmt0 up with its address, forja's nftables table loaded, the ESP on /efi, a booted
/// slot B of version 1767225601 on trial (LoaderBootCountPath set).
fn healthy_host() -> Host {
    let h = Host::new();
    use std::os::unix::fs::PermissionsExt;
    let exe = |p: &Path, text: &str| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    for (name, text) in HEALTH_STANDINS {
        exe(&h.path("bin").join(name), text);
    }
    exe(
        &h.path("bin/systemd-bless-boot"),
        "#!/bin/bash\necho \"bless $*\" >>\"$HOST/calls\"\n",
    );
    let put = |p: &str, text: &str| {
        let f = h.path(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    };
    put("units/forja-selfcheck.service.Result", "success\n");
    put("units/forja-selfcheck.service.ExecMainStatus", "0\n");
    put(
        "units/forja-selfcheck.service.ExecMainExitTimestampMonotonic",
        "31415926\n",
    );
    put("var/firstboot.done", "2027-01-01T00:00:00Z\n");
    let vmstore = h.path("vmstore").display().to_string().replace('/', "_");
    put(&format!("mounts/{vmstore}.SOURCE"), "/dev/mapper/vmstore\n");
    let efi = h.path("efi").display().to_string().replace('/', "_");
    put(&format!("mounts/{efi}.FSTYPE"), "vfat\n");
    put(
        "var/selfcheck/domains.sha256",
        "0123abcd  pexmgr\n4567ef01  conf01\n",
    );
    put("defined/pexmgr", "");
    put("defined/conf01", "");
    put(
        "ip/mgmt0",
        "2: mgmt0    inet 192.0.2.10/24 brd 192.0.2.255 scope global mgmt0\\       valid_lft forever preferred_lft forever\n",
    );
    put("nft/forja", "");
    put(
        "efivars/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f",
        "\u{6}\0\0\0forja-b+2-1.efi",
    );
    put(
        "cmdline",
        "root=/dev/mapper/root ro forja.slot=b console=ttyS0\n",
    );
    put("image-version", "IMAGE_VERSION=1767225601\n");
    std::fs::create_dir_all(h.path("health.d")).unwrap();
    h
}

fn health(h: &Host) -> Output {
    let p = |x: &str| h.path(x).display().to_string();
    h.run(
        "health",
        &[
            ("FORJA_EFI", &p("efi")),
            ("FORJA_EFIVARS", &p("efivars")),
            ("FORJA_HEALTH_D", &p("health.d")),
            ("FORJA_UPDATE_RECORDS", &p("records")),
            ("FORJA_STATE", &p("var")),
            ("FORJA_HEALTH_WAIT", "0"),
            ("FORJA_BLESS_BOOT", &p("bin/systemd-bless-boot")),
            ("FORJA_CMDLINE", &p("cmdline")),
            ("FORJA_IMAGE_VERSION", &p("image-version")),
            // Never the build machine's own stick: a path that does not exist unless a test makes it.
            ("FORJA_UPDATE_STICK", &p("no-stick")),
            ("FORJA_UPDATE_STICK_DIR", &p_opt(h, "stick")),
        ],
    )
}

/// `h.path(x)` when the test made it, else "" (the script's "not given").
fn p_opt(h: &Host, x: &str) -> String {
    let p = h.path(x);
    if p.exists() {
        p.display().to_string()
    } else {
        String::new()
    }
}

/// The update record lines the health check wrote for slot B, version 1767225601.
fn records(h: &Host) -> Vec<serde_json::Value> {
    std::fs::read_to_string(h.path("records/b-1767225601.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_healthy_trial_boot_passes_every_check_and_is_recorded() {
    let h = healthy_host();
    let out = health(&h);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for c in ["selfcheck", "vmstore", "domains", "mgmt", "firewall", "esp"] {
        assert!(stdout.contains(&format!("ok: {c}\n")), "{c}: {stdout}");
    }
    let rec = records(&h);
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0]["result"], "healthy");
    assert_eq!(rec[0]["slot"], "b");
    assert_eq!(rec[0]["trial"], true);
    assert_eq!(rec[0]["failed"], serde_json::json!([]));
    // Healthy: systemd-bless-boot (after boot-complete.target) does the marking; the script neither marks bad
    // nor reboots.
    assert!(
        h.calls()
            .iter()
            .all(|c| !c.starts_with("bless") && !c.contains("reboot")),
        "{:?}",
        h.calls()
    );
}

#[test]
fn the_record_also_goes_onto_the_update_stick_and_never_through_a_link_on_it() {
    let h = healthy_host();
    std::fs::create_dir_all(h.path("stick")).unwrap();
    break_one(&h, "firewall");
    let out = health(&h);
    assert_eq!(out.status.code(), Some(1));
    let on_host = records(&h);
    let stick_dir = h.path("stick/forja-update-records");
    let files: Vec<_> = std::fs::read_dir(&stick_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let on_stick: Vec<serde_json::Value> = std::fs::read_to_string(&files[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(on_stick, on_host, "the stick must carry the host's record");
    assert_eq!(on_stick[0]["result"], "unhealthy");

    // A stick whose records folder is a link elsewhere: nothing is written there (nor anywhere through it).
    let h = healthy_host();
    let elsewhere = h.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(h.path("stick")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, h.path("stick/forja-update-records")).unwrap();
    let out = health(&h);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(records(&h).len(), 1, "the host keeps its record");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// Breaks one thing on an otherwise healthy host.
fn break_one(h: &Host, check: &str) {
    let rm = |p: &str| std::fs::remove_file(h.path(p)).unwrap();
    match check {
        "selfcheck" => std::fs::write(
            h.path("units/forja-selfcheck.service.Result"),
            "exit-code\n",
        )
        .unwrap(),
        "vmstore" => {
            let m = h.path("vmstore").display().to_string().replace('/', "_");
            rm(&format!("mounts/{m}.SOURCE"));
        }
        "domains" => rm("defined/conf01"),
        "mgmt" => std::fs::write(
            h.path("ip/mgmt0"),
            "2: mgmt0    inet 192.0.2.99/24 scope global mgmt0\n",
        )
        .unwrap(),
        "firewall" => rm("nft/forja"),
        "esp" => {
            let m = h.path("efi").display().to_string().replace('/', "_");
            rm(&format!("mounts/{m}.FSTYPE"));
        }
        "health.d/test-fail" => {
            use std::os::unix::fs::PermissionsExt;
            let f = h.path("health.d/test-fail");
            std::fs::write(&f, "#!/bin/sh\necho 'the test overlay says no'\nexit 1\n").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        _ => unreachable!("{check}"),
    }
}

#[test]
fn each_failed_check_is_named_and_a_trial_slot_is_marked_bad_and_left() {
    for check in [
        "selfcheck",
        "vmstore",
        "domains",
        "mgmt",
        "firewall",
        "esp",
        "health.d/test-fail",
    ] {
        let h = healthy_host();
        break_one(&h, check);
        let out = health(&h);
        assert_eq!(out.status.code(), Some(1), "{check}");
        let journal = std::fs::read_to_string(h.path("journal")).unwrap();
        let failed: Vec<&str> = journal.lines().filter(|l| l.contains("FAILED: ")).collect();
        assert_eq!(failed.len(), 1, "{check}: {journal}");
        assert!(
            failed[0].contains(&format!("-t forja-health FAILED: {check}: ")),
            "{check}: {journal}"
        );
        assert!(
            journal.contains("ALARM: slot b version 1767225601 failed"),
            "{journal}"
        );
        let rec = records(&h);
        assert_eq!(rec[0]["result"], "unhealthy", "{check}");
        assert_eq!(rec[0]["failed"], serde_json::json!([check]), "{check}");
        let calls = h.calls();
        assert!(
            calls.contains(&"bless bad".to_owned()),
            "{check}: {calls:?}"
        );
        assert!(
            calls.contains(&"systemctl --no-block reboot".to_owned()),
            "{check}: {calls:?}"
        );
    }
}

#[test]
fn a_failure_on_a_slot_already_marked_good_is_an_alarm_without_a_reboot() {
    let h = healthy_host();
    std::fs::remove_dir_all(h.path("efivars")).unwrap();
    break_one(&h, "firewall");
    let out = health(&h);
    assert_eq!(out.status.code(), Some(1));
    let rec = records(&h);
    assert_eq!(rec[0]["trial"], false);
    assert_eq!(
        rec[0]["action"],
        "alarm only: this slot is already marked good"
    );
    assert!(
        h.calls()
            .iter()
            .all(|c| !c.starts_with("bless") && !c.contains("reboot")),
        "{:?}",
        h.calls()
    );
}
