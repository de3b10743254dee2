//! Hostile input and a hostile environment, as a user meets them with the `forja` binary: special files where a
//! file is expected, a saved plan edited to write outside the output folder, a full disk. Each case must end
//! promptly with its documented exit code and a message that names the file or key, and write nothing outside
//! the output folder. (Profile values are covered by the golden error cases in `tests/golden/errors/`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `forja args` (in `dir`), killing it after `limit`: (exit code, stderr). A hang is a failure.
fn forja_within(limit: Duration, dir: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code().expect("exited, not killed"), err);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("forja {args:?} still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const QUICK: Duration = Duration::from_secs(30);

fn mkfifo(p: &Path) {
    assert!(
        Command::new("mkfifo").arg(p).status().unwrap().success(),
        "mkfifo"
    );
}

/// The lab profile with its secrets and CA in a fresh folder (no images: these cases stop before them).
fn lab_copy() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    for f in ["lab.toml", "lab.secrets.toml", "lab-test-ca.pem"] {
        std::fs::copy(src.join(f), d.path().join(f)).unwrap();
    }
    d
}

#[test]
fn a_fifo_or_a_device_as_the_secrets_file_is_refused_at_once() {
    let d = lab_copy();
    let secrets = d.path().join("lab.secrets.toml");
    std::fs::remove_file(&secrets).unwrap();
    mkfifo(&secrets);
    let (code, err) = forja_within(QUICK, d.path(), &["check", "lab.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("lab.secrets.toml") && err.contains("FIFO"),
        "{err}"
    );
    // A link to a device leads outside the profile's folder: refused before it is opened.
    std::fs::remove_file(&secrets).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &secrets).unwrap();
    let (code, err) = forja_within(QUICK, d.path(), &["check", "lab.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("profile.secrets") && err.contains("outside the profile's folder"),
        "{err}"
    );
}

/// The profile itself: `check`, `plan` and `build` first ask whether it is a site file, and that look must be
/// as careful as the loader (it once read `/dev/zero` without a cap until the kernel killed forja).
#[test]
fn a_fifo_or_a_device_as_the_profile_is_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    mkfifo(&d.path().join("site.toml"));
    for profile in ["/dev/zero", "site.toml"] {
        for cmd in [
            vec!["check", profile],
            vec!["plan", profile],
            vec!["build", profile, "--out", "out"],
        ] {
            let (code, err) = forja_within(QUICK, d.path(), &cmd);
            assert_eq!(code, 2, "{cmd:?}: {err}");
            assert!(err.contains(profile), "{cmd:?}: {err}");
            assert!(
                err.contains("not a regular file") || err.contains("FIFO"),
                "{cmd:?}: {err}"
            );
        }
    }
    assert!(
        !d.path().join("out").exists(),
        "a refused build made its output folder"
    );
}

#[test]
fn a_readme_that_is_a_device_or_fifo_is_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.ova"), b"x").unwrap();
    mkfifo(&d.path().join("README.TXT"));
    for readme in ["/dev/zero", "README.TXT"] {
        let (code, err) = forja_within(
            QUICK,
            d.path(),
            &["nodes", "verify", "--readme", readme, "a.ova"],
        );
        assert_eq!(code, 2, "{readme}: {err}");
        assert!(err.contains("not a regular file"), "{readme}: {err}");
    }
}

#[test]
fn verify_does_not_hang_on_a_listed_file_swapped_for_a_fifo() {
    let d = tempfile::tempdir().unwrap();
    let key = forja::sign::SigningKey::generate().unwrap();
    let out = d.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("disk.raw"), vec![7u8; 4096]).unwrap();
    forja::sign::sign_dir(&out, &key, &["disk.raw"]).unwrap();
    std::fs::write(d.path().join("pinned.pub"), key.public().to_signify()).unwrap();
    std::fs::remove_file(out.join("disk.raw")).unwrap();
    mkfifo(&d.path().join("fifo"));
    std::os::unix::fs::symlink(d.path().join("fifo"), out.join("disk.raw")).unwrap();
    let (code, err) = forja_within(
        QUICK,
        d.path(),
        &["verify", "out", "--pubkey", "pinned.pub"],
    );
    assert_ne!(code, 0, "{err}");
    assert_ne!(code, 70, "{err}");
}

/// A saved plan from `forja plan`, edited by `edit`, given to `forja build --plan`: refused with exit 2 before
/// anything is written, inside or outside the output folder.
fn build_edited_plan(edit: impl FnOnce(&mut serde_json::Value)) -> (i32, String, PathBuf) {
    let d = lab_copy();
    let plan = Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(["plan", "lab.toml", "--json"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    edit(&mut v);
    std::fs::write(
        d.path().join("edited.json"),
        serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    let (code, err) = forja_within(
        QUICK,
        d.path(),
        &[
            "build",
            "lab.toml",
            "--out",
            "deep/out",
            "--plan",
            "edited.json",
        ],
    );
    let escaped = d.path().join("escape");
    let leaked = escaped.exists()
        || std::fs::read_dir(d.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains("escape"));
    assert!(!leaked, "a file was written outside the output folder");
    assert!(
        !d.path().join("deep/out").exists(),
        "the output folder was touched by a plan that is refused"
    );
    (code, err, d.keep())
}

#[test]
fn a_saved_plan_cannot_write_outside_the_output_folder_or_the_image() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "outputs.name",
            Box::new(|v| v["outputs"][0]["name"] = "../../escape.json".into()),
        ),
        (
            "config-drive.name",
            Box::new(|v| v["config_drive"]["name"] = "../escape-config-2.iso".into()),
        ),
        (
            "payload.nodes.name",
            Box::new(|v| v["payload"]["nodes"][0]["name"] = "../../../escape".into()),
        ),
        (
            "payload.nodes.config-drive",
            Box::new(|v| {
                v["payload"]["nodes"][0]["config_drive"] = "../../../escape-config-2.iso".into()
            }),
        ),
        (
            "root.generated",
            Box::new(|v| v["root"]["generated"][0]["path"] = "/../../../escape".into()),
        ),
        (
            "artifacts",
            Box::new(|v| v["artifacts"][0] = "../escape.raw".into()),
        ),
        (
            "base.tarball",
            Box::new(|v| {
                v["base"] = serde_json::json!({
                    "kind": "tarball", "path": "../../escape.tar",
                    "sha256": "0000000000000000000000000000000000000000000000000000000000000000"
                })
            }),
        ),
    ];
    for (key, edit) in cases {
        let (code, err, dir) = build_edited_plan(edit);
        assert_eq!(code, 2, "{key}: {err}");
        assert!(
            err.contains("not a forja plan") && err.contains("escape"),
            "{key}: {err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// A tmpfs of `size` mounted for the test (this machine kind runs tests as root), unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let d = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(d.path())
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "mounting a tmpfs needs root (the test machines run as root)"
        );
        Tmpfs(d)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_is_exit_11_naming_the_file() {
    // forja's own writes: the Pexip answers into a folder with no room.
    let d = lab_copy();
    let full = Tmpfs::new("8k");
    std::fs::write(full.0.path().join("filler"), vec![0u8; 8192]).unwrap_or(());
    let out = full.0.path().join("pexip");
    let (code, err) = forja_within(
        QUICK,
        d.path(),
        &[
            "pexip",
            "generate",
            "lab.toml",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 11, "{err}");
    assert!(err.contains(full.0.path().to_str().unwrap()), "{err}");
    assert!(err.contains("No space left"), "{err}");

    // The compressor (disk.raw.zst) on a filesystem that fills up half way.
    let src_dir = tempfile::tempdir().unwrap();
    let src = src_dir.path().join("disk.raw");
    let mut noise = vec![0u8; 4 << 20];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut noise,
    )
    .unwrap();
    std::fs::write(&src, noise).unwrap();
    let small = Tmpfs::new("1m");
    let dst = small.0.path().join("disk.raw.zst");
    let err = forja::compress::zstd_file_hashed(&src, &dst).unwrap_err();
    assert_eq!(
        forja::error::exit_of(&err),
        forja::error::Exit::Io,
        "{err:#}"
    );
    let msg = format!("{err:#}");
    assert!(msg.contains(small.0.path().to_str().unwrap()), "{msg}");
    assert!(
        !dst.exists(),
        "a partial .zst was left under its final name"
    );
}

#[test]
fn the_readme_exit_code_table_lists_every_code() {
    use forja::error::Exit;
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table: Vec<i32> = readme
        .lines()
        .skip_while(|l| !l.starts_with("### Exit codes"))
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| ")?.split(' ').next()?.parse().ok())
        .collect();
    let all = [
        Exit::Ok,
        Exit::PolicyFailed,
        Exit::Input,
        Exit::HashMismatch,
        Exit::Unverified,
        Exit::BadSignature,
        Exit::Tool,
        Exit::BadArchive,
        Exit::Busy,
        Exit::Remote,
        Exit::Refused,
        Exit::Io,
        Exit::Internal,
    ];
    // A new variant must be added to `all` (and to the README): this match stops compiling until it is.
    for e in all {
        match e {
            Exit::Ok
            | Exit::PolicyFailed
            | Exit::Input
            | Exit::HashMismatch
            | Exit::Unverified
            | Exit::BadSignature
            | Exit::Tool
            | Exit::BadArchive
            | Exit::Busy
            | Exit::Remote
            | Exit::Refused
            | Exit::Io
            | Exit::Internal => {}
        }
    }
    let codes: Vec<i32> = all.iter().map(|e| e.code()).collect();
    assert_eq!(
        table, codes,
        "README.md's exit-code table and error::Exit differ"
    );
}

#[test]
fn verify_does_not_hang_on_a_list_or_signature_that_is_a_fifo() {
    for name in [
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "SHA256SUMS.sshsig",
        "forja.pub.ssh",
    ] {
        let d = tempfile::tempdir().unwrap();
        let key = forja::sign::SigningKey::generate().unwrap();
        let out = d.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("disk.raw"), vec![7u8; 4096]).unwrap();
        forja::sign::sign_dir(&out, &key, &["disk.raw"]).unwrap();
        std::fs::write(d.path().join("pinned.pub"), key.public().to_signify()).unwrap();
        std::fs::remove_file(out.join(name)).unwrap();
        mkfifo(&out.join(name));
        let (code, err) = forja_within(
            QUICK,
            d.path(),
            &["verify", "out", "--pubkey", "pinned.pub", "--strict"],
        );
        assert!(err.contains(name), "{name}: {err}");
        let want = if name == "SHA256SUMS" {
            2
        } else if name == "forja.pub.ssh" {
            4
        } else {
            5
        };
        assert_eq!(code, want, "{name}: {err}");
    }
}
