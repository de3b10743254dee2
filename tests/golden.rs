//! Golden tests: a reviewer sees behaviour change as a diff of a checked-in file.
//!
//! - `golden/profiles/NAME.json`: each shipped profile resolved (parsed, defaults filled in).
//! - `golden/reports/NAME.json` (and `.md` for the production profile): `forja check` output.
//! - `golden/errors/NAME.toml` (+ optional `NAME.secrets.toml`) beside `NAME.expected`: the exit code, the exact
//!   stderr and the failing rules `forja check` prints. A secrets variant whose first line is `# mode: 0644` is
//!   written with that mode; otherwise secrets files are 0600. The temp folder shows as `$DIR`.
//!
//! `FORJA_BLESS=1 cargo test --test golden` rewrites the files; otherwise they are compared exactly.

#[path = "support/run.rs"]
mod run;
#[path = "support/site_files.rs"]
mod site_files;
use run::forja;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use forja::profile::{SecretsNeed, load};

fn bless() -> bool {
    std::env::var_os("FORJA_BLESS").is_some_and(|v| v == "1")
}

fn golden(path: &Path, actual: &str) {
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run FORJA_BLESS=1 cargo test --test golden",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (FORJA_BLESS=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

const SHIPPED: [&str; 2] = ["ccn-stic-1616", "lab"];

#[test]
fn resolved_profiles() {
    for name in SHIPPED {
        let l = load(
            Path::new(&format!("profiles/{name}.toml")),
            SecretsNeed::IfPresent,
        )
        .unwrap();
        let json = serde_json::to_string_pretty(&l.profile).unwrap() + "\n";
        golden(
            Path::new(&format!("tests/golden/profiles/{name}.json")),
            &json,
        );
    }
}

#[test]
fn check_reports() {
    for name in SHIPPED {
        let (_d, p) = site_files::shipped(name);
        let (code, json, err) = forja(&["check", "--json", p.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
        golden(
            Path::new(&format!("tests/golden/reports/{name}.json")),
            &json,
        );
    }
    let (_d, p) = site_files::shipped("ccn-stic-1616");
    let (code, md, _) = forja(&["check", "--format", "markdown", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    golden(Path::new("tests/golden/reports/ccn-stic-1616.md"), &md);
}

/// The rows of a check table that FAIL (with their continuation lines), then the summary line.
fn failing_rows(stdout: &str) -> String {
    let mut out = String::new();
    let mut in_fail = false;
    for line in stdout.lines() {
        if line.starts_with(' ') {
            if in_fail {
                out.push_str(line.trim_start());
                out.push('\n');
            }
            continue;
        }
        in_fail = line.split_whitespace().nth(2) == Some("FAIL")
            || line.split_whitespace().nth(3) == Some("FAIL");
        if in_fail || line.contains(" rules: ") {
            out.push_str(&line.split_whitespace().collect::<Vec<_>>().join(" "));
            out.push('\n');
        }
    }
    out
}

fn run_error_case(toml: &Path) -> String {
    let name = toml.file_stem().unwrap().to_str().unwrap();
    let d = tempfile::tempdir().unwrap();
    let profile = d.path().join(format!("{name}.toml"));
    std::fs::copy(toml, &profile).unwrap();
    let variant = toml.with_file_name(format!("{name}.secrets.toml"));
    let src = if variant.exists() {
        variant
    } else {
        PathBuf::from("profiles/lab.secrets.toml")
    };
    let secrets = d.path().join("lab.secrets.toml");
    std::fs::copy(&src, &secrets).unwrap();
    let text = std::fs::read_to_string(&src).unwrap();
    let mode = if text.starts_with("# mode: 0644") {
        0o644
    } else {
        0o600
    };
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(mode)).unwrap();
    site_files::lab_inputs(d.path());

    let (code, stdout, stderr) = forja(&["check", profile.to_str().unwrap()]);
    let dir = d.path().display().to_string();
    let norm = |s: &str| s.replace(&dir, "$DIR");
    assert!(
        code == 1 || code == 2,
        "{name}: exit {code}\n{stdout}\n{stderr}"
    );
    if code == 2 {
        assert!(stdout.is_empty(), "{name}: exit 2 printed a report");
    }
    // Never a secret value in anything forja prints.
    for v in ["4829\n", "Lab-Test-"] {
        assert!(
            !stdout.contains(v) && !stderr.contains(v),
            "{name}: secret leaked"
        );
    }
    format!(
        "exit: {code}\n--- stderr\n{}--- failing rules\n{}",
        norm(&stderr),
        norm(&failing_rows(&stdout))
    )
}

#[test]
fn error_messages() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir("tests/golden/errors")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "toml")
                && !p.to_str().unwrap().ends_with(".secrets.toml")
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "{cases:?}");
    for case in cases {
        let actual = run_error_case(&case);
        golden(&case.with_extension("expected"), &actual);
    }
}

/// The exit codes the brief fixes, asserted independently of the golden text.
#[test]
fn error_exit_codes() {
    for (name, code) in [
        ("typo-key", 2),
        ("dhcp-management-address", 1),
        ("tls-below-1-2", 1),
        ("rsa-2048-certificate", 1),
        ("four-digit-pin", 1),
        ("world-readable-secrets", 2),
        ("missing-secret-reference", 2),
        ("malformed-address", 2),
        ("hostname-injection", 2),
        ("file-outside-profile", 2),
        ("node-name-traversal", 2),
        ("suite-as-option", 2),
        ("unknown-time-zone", 2),
        ("epoch-after-9999", 2),
        ("secret-with-newline", 2),
    ] {
        let out = run_error_case(Path::new(&format!("tests/golden/errors/{name}.toml")));
        assert!(out.starts_with(&format!("exit: {code}\n")), "{name}: {out}");
    }
}
