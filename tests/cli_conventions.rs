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

/// Every argument of every command, with the command's path (`forja media usb`).
fn all_args() -> Vec<(String, clap::Arg)> {
    fn walk(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Arg)>) {
        for a in cmd.get_arguments() {
            out.push((path.clone(), a.clone()));
        }
        for s in cmd.get_subcommands() {
            walk(s, format!("{path} {}", s.get_name()), out);
        }
    }
    use clap::CommandFactory;
    let mut cmd = forja::cli::Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "forja".into(), &mut out);
    out
}

#[test]
fn every_flag_has_one_meaning_across_commands() {
    let args = all_args();
    let help = |a: &clap::Arg| a.get_help().map(|h| h.to_string()).unwrap_or_default();
    let value = |a: &clap::Arg| {
        a.get_value_names()
            .map(|v| {
                v.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let mut seen = std::collections::BTreeSet::new();
    for (cmd, a) in &args {
        let Some(long) = a.get_long() else { continue };
        seen.insert(long.to_owned());
        match long {
            // `--key` meant a public key in some commands and a secret key in others.
            "key" => panic!("{cmd}: --key is ambiguous; use --signing-key or --pubkey"),
            "signing-key" => assert!(
                help(a).contains("secret key") && value(a) == "FILE",
                "{cmd} --signing-key: {}",
                help(a)
            ),
            "pubkey" | "courier-pubkey" => assert!(
                help(a).contains("public key") && value(a) == "FILE",
                "{cmd} --{long}: {}",
                help(a)
            ),
            "out" => assert_eq!(value(a), "DIR", "{cmd} --out must be a folder"),
            "output" => assert_eq!(value(a), "FILE", "{cmd} --output must be a file"),
            "json" => assert!(
                !a.get_action().takes_values(),
                "{cmd} --json takes no value"
            ),
            _ => {}
        }
    }
    assert!(seen.contains("signing-key") && seen.contains("pubkey") && seen.contains("output"));
}

#[test]
fn commands_a_ci_reads_have_json() {
    let args = all_args();
    let has_json = |cmd: &str| {
        args.iter()
            .any(|(c, a)| c == cmd && a.get_long() == Some("json"))
    };
    for cmd in [
        "forja check",
        "forja plan",
        "forja build",
        "forja keygen",
        "forja verify",
        "forja diff",
        "forja init",
        "forja cache list",
        "forja nodes verify",
        "forja nodes stage",
        "forja media usb",
        "forja media pxe",
        "forja licence inspect",
        "forja manpage",
    ] {
        assert!(has_json(cmd), "{cmd} has no --json");
    }
}

#[test]
fn media_refuses_a_missing_parent_and_a_public_key_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let (code, _, err) = forja(&["keygen", "--out", keys.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let build = dir.path().join("build");
    std::fs::create_dir(&build).unwrap();
    let typo = dir.path().join("typo/usb");
    let sec = keys.join("forja.sec");
    let (code, _, err) = forja(&[
        "media",
        "usb",
        build.to_str().unwrap(),
        "--out",
        typo.to_str().unwrap(),
        "--signing-key",
        sec.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(
        !dir.path().join("typo").exists(),
        "media created the mistyped folders"
    );
    let public = keys.join("forja.pub");
    let (code, _, err) = forja(&[
        "media",
        "usb",
        build.to_str().unwrap(),
        "--out",
        dir.path().join("usb").to_str().unwrap(),
        "--signing-key",
        public.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is a signify public key") && err.contains("forja.sec"),
        "{err}"
    );
    assert!(!err.contains("chmod"), "{err}");
    let (code, _, err) = forja(&[
        "verify",
        build.to_str().unwrap(),
        "--pubkey",
        sec.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("SECRET key"), "{err}");
}

#[test]
fn init_writes_a_starter_profile_and_a_private_template_of_placeholders() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("sede");
    let (code, out, err) = forja(&[
        "init",
        site.to_str().unwrap(),
        "--name",
        "sede-madrid",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let profile = site.join("sede-madrid.toml");
    let secrets = site.join("sede-madrid.secrets.toml");
    assert_eq!(v["profile"], profile.to_str().unwrap());
    let mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o600,
        "the secrets template must be private from creation"
    );
    // The profile loads and names itself; every secret it refers to has a placeholder, and only placeholders.
    let l = forja::profile::load(&profile, forja::profile::SecretsNeed::Required).unwrap();
    assert_eq!(l.profile.profile.name, "sede-madrid");
    let table: toml::Value = toml::from_str(&std::fs::read_to_string(&secrets).unwrap()).unwrap();
    let table = table["secrets"].as_table().unwrap();
    let names: Vec<&str> = v["secret_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    for n in &names {
        assert_eq!(table[*n].as_str().unwrap(), format!("REPLACE-ME-{n}"));
    }
    // A template is not a site's secrets: check does not pass it.
    let (code, out, _) = forja(&["check", profile.to_str().unwrap()]);
    assert_ne!(code, 0, "check accepted the placeholders:\n{out}");
    // Nothing is overwritten.
    std::fs::write(&secrets, "[secrets]\n").unwrap();
    let (code, _, err) = forja(&["init", site.to_str().unwrap(), "--name", "sede-madrid"]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&secrets).unwrap(), "[secrets]\n");
}

#[test]
fn plan_prints_a_summary_and_the_whole_plan_with_json() {
    let (code, out, err) = forja(&["plan", "profiles/lab.toml"]);
    assert_eq!(code, 0, "{err}");
    for section in ["PROFILE", "BASE", "DISK", "ROOT", "NODES", "OUTPUTS"] {
        assert!(
            out.lines().any(|l| l == section),
            "no {section} section:\n{out}"
        );
    }
    assert!(
        out.contains("SOURCE_DATE_EPOCH: 1767225600 (2026-01-01T00:00:00Z)"),
        "{out}"
    );
    assert!(
        out.contains("256 MiB") && out.contains("fit content"),
        "{out}"
    );
    assert!(!out.contains("null"), "{out}");
    let (code, json, _) = forja(&["plan", "--json", "profiles/lab.toml"]);
    assert_eq!(code, 0);
    let plan = forja::plan::Plan::from_slice(json.as_bytes()).unwrap();
    for p in &plan.disk {
        assert!(
            out.contains(&format!(" {} ", p.name)),
            "partition {} not in the summary",
            p.name
        );
    }
    for s in forja::plan::summary::secret_names(&plan) {
        assert!(out.contains(&s), "secret {s} not named");
    }
}
