//! Every rule id cited outside the policy module exists in the policy table: the Pexip plan entries and sheets
//! (production profile), the generated host files (lab profile) and the firmware plan. A failure names the
//! unknown id and who cited it. Also: the report of a build names what carries each rule out.

#[path = "support/prod_profile.rs"]
mod prod_profile;

use std::path::Path;

use forja::pipeline::{self, Environment};
use forja::profile::{Loaded, SecretsNeed, load};
use forja::{firmware, pexip, policy};

fn lab() -> Loaded {
    load(Path::new("profiles/lab.toml"), SecretsNeed::Required).unwrap()
}

fn lab_plan(l: &Loaded) -> forja::plan::Plan {
    pipeline::resolve(l, &Environment::fixture()).unwrap()
}

/// `(id, who cited it)` pairs whose id the policy table does not know, one line each.
fn unknown(cited: &[(String, String)]) -> Vec<String> {
    cited
        .iter()
        .filter(|(id, _)| policy::rules::find(id).is_none())
        .map(|(id, by)| format!("{id} (cited by {by})"))
        .collect()
}

fn assert_known(what: &str, cited: &[(String, String)]) {
    assert!(!cited.is_empty(), "{what} cites no rule at all");
    let bad = unknown(cited);
    assert!(
        bad.is_empty(),
        "{what} cites rule ids the policy table does not have:\n  {}",
        bad.join("\n  ")
    );
}

fn pexip_citations(l: &Loaded) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in pexip::plan::plan(l).unwrap() {
        for r in &e.rules {
            out.push((
                r.clone(),
                format!("pexip plan entry {:?} {}", e.method, e.path),
            ));
        }
    }
    for q in pexip::sheets::securitywizard_answers(&l.profile.pexip.secure_mode) {
        out.push((
            q.rule.to_owned(),
            format!("securitywizard sheet row {:?}", q.question),
        ));
    }
    for r in pexip::sheets::INSTALL_RULES {
        out.push((r.to_string(), "install sheet".to_owned()));
    }
    out
}

#[test]
fn pexip_plan_and_sheets_cite_known_rules() {
    let p = prod_profile::prod();
    assert_known("the Pexip plan and sheets", &pexip_citations(&p.load()));
}

#[test]
fn host_files_cite_known_rules() {
    let l = lab();
    let plan = lab_plan(&l);
    let mut cited: Vec<(String, String)> = Vec::new();
    for f in &plan.root.generated {
        for r in &f.rules {
            cited.push((r.to_string(), format!("host file {}", f.path)));
        }
    }
    for c in &plan.enforcement {
        cited.push((c.rule.clone(), format!("plan citation {}", c.by)));
    }
    assert!(
        plan.enforcement
            .iter()
            .any(|c| c.rule == "1616-5.10" && c.by.starts_with("/usr/share/forja/factory/")),
        "the self-check's factory copies cite §77–80"
    );
    assert_known("the plan's generated files and citations", &cited);
}

#[test]
fn firmware_plan_cites_known_rules() {
    for l in [lab(), prod_profile::prod().load()] {
        let cited: Vec<(String, String)> = firmware::plan(&l)
            .unwrap()
            .rules
            .into_iter()
            .map(|r| {
                (
                    r.to_owned(),
                    format!("firmware plan of {}", l.path.display()),
                )
            })
            .collect();
        assert_known("firmware::plan", &cited);
    }
}

#[test]
fn an_unknown_id_is_named_with_who_cited_it() {
    let cited = vec![
        ("1616-5.6.b".to_owned(), "pexip plan entry".to_owned()),
        ("1616-5.6".to_owned(), "host file /etc/x".to_owned()),
    ];
    assert_eq!(unknown(&cited), ["1616-5.6 (cited by host file /etc/x)"]);
}

#[test]
fn a_build_report_names_what_enforces_each_rule() {
    let l = lab();
    let plan = lab_plan(&l);
    let mut report = policy::evaluate(&l);
    // `forja check`'s report: nothing is marked, and the JSON has no `enforced_by` at all.
    assert!(report.rules.iter().all(|r| r.enforced_by.is_empty()));
    assert!(!report.to_json().contains("enforced_by"));

    pipeline::enforced::mark(&mut report, &plan.enforcement).unwrap();
    let by = |id: &str| report.get(id).unwrap().enforced_by.clone();
    assert!(
        by("1616-5.6.b").contains(&"pexip/plan.json: PATCH configuration/v1/global/1/".to_owned()),
        "{:?}",
        by("1616-5.6.b")
    );
    assert!(
        by("1616-5.5.a").contains(&"/etc/nftables.conf".to_owned()),
        "{:?}",
        by("1616-5.5.a")
    );
    assert_eq!(by("1616-5.1.a"), ["pexip/securitywizard-sheet.md"]);
    assert_eq!(by("1616-4.6.b"), ["firmware-plan.json"]);
    assert!(by("1616-4.6.d").contains(&"pexip/install-sheet.md".to_owned()));
    // A POST names the object it creates.
    assert!(
        by("1616-4.3")
            .iter()
            .any(|b| b.starts_with("pexip/plan.json: POST configuration/v1/worker_vm/ (")),
        "{:?}",
        by("1616-4.3")
    );
    // Nothing a build writes carries out an operator's step.
    assert!(by("1616-6.f").is_empty());

    let json = report.to_json();
    assert!(json.contains("\"enforced_by\""), "{json}");
    let md = report.to_markdown();
    assert!(md.contains("<br>· `/etc/nftables.conf`"), "{md}");

    assert!(!report.mark_enforced("1616-9.9", "nowhere"));
}
