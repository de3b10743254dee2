//! `forja check` on the shipped profiles, run as the built binary, and the help of every subcommand.

#[path = "support/run.rs"]
mod run;
#[path = "support/site_files.rs"]
mod site_files;
use run::forja;

use clap::CommandFactory;
use forja::cli::Cli;

fn check_json(name: &str, allowed: &[&str]) -> serde_json::Value {
    let (_d, profile) = site_files::shipped(name);
    let profile = profile.to_str().unwrap();
    let (code, out, err) = forja(&["check", "--json", profile]);
    assert_eq!(code, 0, "{profile}: {err}\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rules = v["rules"].as_array().unwrap();
    assert!(rules.len() >= 40, "{} rules", rules.len());
    for r in rules {
        let id = r["id"].as_str().unwrap();
        assert!(id.starts_with("1616-") || id.starts_with("807-"), "{id}");
        assert!(r["paragraph"].as_str().unwrap().starts_with('§'), "{id}");
        let status = r["status"].as_str().unwrap();
        assert!(
            allowed.contains(&status),
            "{id} is {status}: {}",
            r["reason"]
        );
    }
    assert_eq!(
        v["summary"]["rules"].as_u64().unwrap() as usize,
        rules.len()
    );
    assert_eq!(v["summary"]["fail"], 0);
    v
}

#[test]
fn production_profile_passes_with_manual_and_declared_steps_only() {
    let v = check_json("ccn-stic-1616", &["PASS", "MANUAL", "DECLARED"]);
    // The guide-vs-vendor conflicts are reported as findings with both sides stated.
    let f = v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 3);
    for f in f {
        assert!(!f["guide"].as_str().unwrap().is_empty());
        assert!(!f["other"].as_str().unwrap().is_empty());
    }
}

#[test]
fn lab_profile_passes_with_waivers() {
    let v = check_json("lab", &["PASS", "MANUAL", "DECLARED", "WAIVED"]);
    assert_eq!(v["summary"]["waived"], 3);
}

#[test]
fn table_ends_with_the_summary_line() {
    let (_d, profile) = site_files::shipped("ccn-stic-1616");
    let (code, out, err) = forja(&["check", profile.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("97 rules: ")
            && last.ends_with("0 FAIL, 39 MANUAL, 6 DECLARED, 0 WAIVED; 3 findings"),
        "{last}"
    );
    assert!(out.starts_with("RULE"), "{out}");
}

#[test]
fn markdown_mirrors_the_checklist() {
    let (_d, profile) = site_files::shipped("lab");
    let (code, out, err) = forja(&["check", "--format", "markdown", profile.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for row in [
        "Verificación de la integridad de la descarga",
        "Registro de licencias",
        "Activación del modo seguro",
        "Configuración del servidor LDAP",
        "Configuración de usuarios",
        "Configuración de los parámetros de sesión",
        "Configuración de TLSv1.2 en las conferencias",
        "Importar CA, crear CSR e importar el certificado de servidor",
        "Configuración de un servidor de hora NTP",
        "Creación de los backups",
        "Configuración del envío de los logs a un servidor Syslog",
    ] {
        assert!(
            out.contains(&format!("| {row} |")),
            "missing checklist row {row}"
        );
    }
    // Session parameters are all enforced by forja: SÍ.
    assert!(
        out.contains("| Configuración de los parámetros de sesión | X |  |"),
        "{out}"
    );
}

#[test]
fn missing_profile_is_an_input_error() {
    let (code, out, err) = forja(&["check", "profiles/nope.toml"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("profiles/nope.toml: cannot read the profile"),
        "{err}"
    );
}

#[test]
fn every_subcommand_has_help() {
    Cli::command().debug_assert();
    let cmd = Cli::command();
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    assert!(subs.contains(&"check".to_owned()));
    for sub in subs {
        let (code, out, _) = forja(&[&sub, "--help"]);
        assert_eq!(code, 0, "{sub}");
        assert!(out.contains("Usage: forja"), "{sub}: {out}");
        for a in cmd.find_subcommand(&sub).unwrap().get_arguments() {
            assert!(
                a.get_help().is_some(),
                "{sub}: --{} has no help",
                a.get_id()
            );
        }
    }
}
