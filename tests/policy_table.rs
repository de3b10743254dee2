//! The rule table itself: every rule has a lever pulled in a `tests/policy_*.rs` file, ids are unique and well
//! formed, and every rule says how it is enforced.

#[path = "support/policy.rs"]
mod policy_support;

use std::collections::BTreeSet;

use forja::policy;

// ---- the table itself ----

#[test]
fn every_rule_has_a_failing_test_in_a_policy_test_file() {
    let me = policy_support::policy_test_sources();
    let missing: Vec<&str> = policy::rules::all()
        .map(|r| r.id.0)
        .filter(|id| !me.contains(&format!("\"{id}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a lever test: {missing:?}"
    );
}

#[test]
fn rule_ids_are_unique_and_well_formed() {
    let mut seen = BTreeSet::new();
    for r in policy::rules::all() {
        assert!(seen.insert(r.id.0), "duplicate id {}", r.id);
        assert!(
            r.id.0.starts_with("1616-") || r.id.0.starts_with("807-"),
            "{}",
            r.id
        );
        assert!(r.paragraph.starts_with('§'), "{}: {}", r.id, r.paragraph);
        assert!(!r.statement.is_empty() && !r.how.is_empty(), "{}", r.id);
        assert!(
            !r.proof.is_empty(),
            "{}: names no test that proves it",
            r.id
        );
    }
    assert!(seen.len() >= 40, "{} rules", seen.len());
    // §34: each of the fourteen securitywizard answers is its own rule.
    let wizard = policy::rules::all()
        .filter(|r| r.paragraph == "§34")
        .count();
    assert_eq!(wizard, 14);
}
