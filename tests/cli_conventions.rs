//! The CLI behaves like the tools a site administrator knows: shell completions and man pages generated from
//! the argument definitions (checked by bash and groff, not by forja), `--version` naming the git commit (checked
//! against git), and outputs whose parent folder must exist.

#[path = "support/run.rs"]
mod run;
use run::forja;

use std::path::Path;
use std::process::Command;

#[test]
fn bash_completion_parses_and_knows_every_subcommand() {
    let (code, script, err) = forja(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("forja.bash");
    std::fs::write(&file, &script).unwrap();
    let st = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        st.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    // Completing `forja ` in a real bash offers the subcommands.
    let probe = format!(
        "source {}; COMP_WORDS=(forja ''); COMP_CWORD=1; COMP_LINE='forja '; COMP_POINT=6; _forja forja '' forja; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let o = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let offered = String::from_utf8_lossy(&o.stdout);
    for sub in [
        "build",
        "check",
        "plan",
        "verify",
        "media",
        "completions",
        "manpage",
    ] {
        assert!(
            offered.lines().any(|l| l == sub),
            "`{sub}` not offered:\n{offered}"
        );
    }
    let (code, _, _) = forja(&["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is a usage error");
}

#[test]
fn man_pages_render_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man");
    let (code, out, err) = forja(&["manpage", man.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let pages: Vec<&str> = v["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for p in [
        "forja.1",
        "forja-build.1",
        "forja-media-usb.1",
        "forja-verify.1",
    ] {
        assert!(pages.contains(&p), "{p} missing from {pages:?}");
    }
    assert!(
        !pages.iter().any(|p| p.contains("install")),
        "the hidden installer command has no page"
    );
    for p in &pages {
        let path = man.join(p);
        // groff with all warnings on (-ww), UTF-8 input (-k): the reference formatter for man pages.
        let o = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{p}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let text = Command::new("groff")
        .args(["-k", "-man", "-Tascii", "-P-cbu"])
        .arg(man.join("forja-build.1"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("--out"), "{text}");
}

#[test]
fn version_names_the_git_commit() {
    let (code, out, _) = forja(&["--version"]);
    assert_eq!(code, 0);
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let commit = if git.status.success() {
        String::from_utf8(git.stdout).unwrap().trim().to_owned()
    } else {
        "unknown".into()
    };
    assert!(
        out.starts_with(&format!(
            "forja {} (commit {commit}",
            env!("CARGO_PKG_VERSION")
        )),
        "--version says {out:?}, git says {commit}"
    );
    assert_eq!(forja::GIT_COMMIT.trim_end_matches("-dirty"), commit);
}

#[test]
fn an_output_folder_whose_parent_is_missing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo/keys");
    let (code, _, err) = forja(&["keygen", "--out", typo.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&dir.path().join("typo").display().to_string()),
        "{err}"
    );
    assert!(
        !dir.path().join("typo").exists(),
        "the missing parent was created"
    );
    // Not a bug (70): a folder that cannot be made is unusable input, named.
    let (code, _, err) = forja(&["keygen", "--out", "/proc/forja-keys"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/proc/forja-keys"), "{err}");
    let (code, _, err) = forja(&["manpage", typo.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(!Path::new(&typo).exists());
}
