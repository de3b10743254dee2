//! Every rule, split by guide chapter. The table is data: each module exposes a static slice of [`Rule`]s and
//! [`all`] chains them in guide order (deployment, configuration, operation, then CCN-STIC-807).
//!
//! Every rule has a lever: a profile field whose minimal change makes it FAIL (the tests in `tests/policy_*.rs`
//! pull each lever once). MANUAL and DECLARED rules, which forja cannot carry out or check, use the closest field
//! that states the operator's intent (an `[operation]` cadence, `licence.activation`, `boot.firmware.*`, the
//! securitywizard answers, ...). Each module's comment lists its MANUAL and DECLARED rules and their levers.
//!
//! Every rule also names its proof ([`super::rule::Rule::proof`]); the names shared by many rules are in
//! [`proof`], and `tests/rule_proofs.rs` checks that each named test exists.

use crate::profile::model::PasswordPolicy;
use crate::profile::secrets::SecretRef;

use super::rule::{Ctx, Rule, Verdict};

pub mod admin;
pub mod certificates;
pub mod conference;
pub mod crypto807;
pub mod deployment;
pub mod install;
pub mod operation;
pub mod protocols;
pub mod secure_mode;
pub mod services;
pub mod session;

/// All rules in report order.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    deployment::RULES
        .iter()
        .chain(install::RULES)
        .chain(secure_mode::RULES)
        .chain(admin::RULES)
        .chain(session::RULES)
        .chain(protocols::RULES)
        .chain(certificates::RULES)
        .chain(services::RULES)
        .chain(conference::RULES)
        .chain(operation::RULES)
        .chain(crypto807::RULES)
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    all().find(|r| r.id.0 == id)
}

/// Tests that many rules name as their proof (`tests/FILE.rs::function`; `tests/rule_proofs.rs` checks each).
pub mod proof {
    /// The Management Node plan as `forja pexip plan` prints it, against its golden file.
    pub const PLAN_GOLDEN: &str =
        "tests/pexip_generate.rs::plan_command_prints_references_not_secrets";
    /// `forja pexip apply` on the strict stand-in Management Node, then a second apply that changes nothing.
    pub const APPLY: &str = "tests/pexip_apply.rs::full_apply_then_second_apply_changes_nothing";
    /// `forja pexip audit` right after `apply`: every plan field read back, no drift.
    pub const AUDIT: &str = "tests/pexip_audit.rs::audit_right_after_apply_finds_no_drift";
    /// `forja pexip audit` after one field was changed on the manager: DRIFT naming the rule, exit 1.
    pub const AUDIT_DRIFT: &str =
        "tests/pexip_audit.rs::a_field_changed_behind_forjas_back_is_drift_naming_the_rule";
    /// NTP and syslog servers attached to the Management Node and to every system location.
    pub const ATTACH: &str = "tests/pexip_apply.rs::ntp_and_syslog_servers_are_attached_to_the_manager_and_every_location";
    /// The boot report's checks (run on the booted lab host by the boot proof), each broken on purpose in
    /// `tests/boot_report.rs` or `tests/boot_report_host.rs`.
    pub const BOOT_NETWORK: &str = "tests/support/report/host.rs::check_network";
    pub const BOOT_FIREWALL: &str = "tests/support/report/host.rs::check_firewall";
    pub const BOOT_VMSTORE: &str = "tests/support/report/storage.rs::check_vmstore";
    pub const BOOT_NODES: &str = "tests/support/report/storage.rs::check_nodes";
    pub const BOOT_DOMAINS: &str = "tests/support/report/domains.rs::check_domains";
    /// Secure Boot enforcing with the site's keys, the booted image's command line the signed one, the verity root.
    pub const BOOT_CHAIN: &str = "tests/support/report/boot.rs::check_boot";
    pub const BOOT_SELFCHECK: &str = "tests/support/report/boot.rs::check_selfcheck";
    pub const BOOT_ACCESS: &str = "tests/support/report_host.rs::check_access";
    pub const BOOT_TIME: &str = "tests/support/report_host.rs::check_time";
    pub const BOOT_SYSLOG: &str = "tests/support/report_host.rs::check_syslog";
    pub const BOOT_CAPACITY: &str = "tests/support/report_host.rs::check_capacity";
    pub const BOOT_SNAPSHOTS: &str = "tests/support/report_host.rs::check_snapshots";
    /// The host scripts run against a stand-in `virsh` (order of starts, snapshot copies).
    pub const NODES_START: &str =
        "tests/host_scripts.rs::the_management_node_starts_before_any_conferencing_node";
    pub const SNAPSHOT_SCRIPT: &str =
        "tests/host_scripts.rs::a_snapshot_copies_the_stopped_management_node_and_keeps_the_newest";
}

/// What is wrong with a password under the §52 policy, without ever quoting it.
pub fn password_problems(pw: &str, policy: &PasswordPolicy) -> Vec<String> {
    let mut out = Vec::new();
    let len = pw.chars().count();
    let want_len = policy.min_length.max(12) as usize;
    if len < want_len {
        out.push(format!(
            "has {len} characters, needs at least {want_len} (§52)"
        ));
    }
    let classes = [
        pw.chars().any(|c| c.is_lowercase()),
        pw.chars().any(|c| c.is_uppercase()),
        pw.chars().any(|c| c.is_ascii_digit()),
        pw.chars().any(|c| !c.is_alphanumeric()),
    ];
    let have = classes.iter().filter(|b| **b).count();
    // §52 asks for all four classes; a profile that asks for fewer already fails 1616-5.4.4.a.
    let want = 4;
    if have < want {
        out.push(format!(
            "uses {have} of the 4 character classes (lower case, upper case, digit, special); §52 asks for all {want}"
        ));
    }
    out
}

/// Runs `judge` on the value of every secret in `refs`; MANUAL when the secrets file is absent. `judge` returns
/// problems as text that must not contain the value.
pub fn judge_secrets<'r>(
    ctx: &Ctx,
    refs: impl IntoIterator<Item = (String, &'r SecretRef)>,
    judge: impl Fn(&str) -> Vec<String>,
    note: &str,
) -> Verdict {
    if !ctx.has_secrets() {
        return Verdict::NeedsSecrets;
    }
    let mut c = ctx.checks();
    for (field, r) in refs {
        match ctx.secret(r).flatten() {
            None => {
                c.expect_about(
                    false,
                    &field,
                    format!(
                        "names secret `{}`, which the secrets file does not define",
                        r.name()
                    ),
                );
            }
            Some(s) => {
                for problem in judge(s.expose()) {
                    c.expect_about(false, &field, format!("secret `{}` {problem}", r.name()));
                }
            }
        }
    }
    c.verdict(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min_length: u32) -> PasswordPolicy {
        PasswordPolicy {
            min_length,
            min_classes: 4,
            history: 5,
            max_age_days: 60,
            min_age_days: 10,
        }
    }

    #[test]
    fn password_policy_counts_length_and_classes_without_quoting() {
        assert!(password_problems("Correct-Horse-9", &policy(12)).is_empty());
        let p = password_problems("short1!", &policy(12));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().all(|m| !m.contains("short1!")));
        // A profile cannot lower the guide's floor of 12.
        assert!(!password_problems("Ab1!Ab1!Ab", &policy(8)).is_empty());
        // A stricter profile is honoured.
        assert!(!password_problems("Correct-Horse-9", &policy(20)).is_empty());
    }
}
