//! Every rule, split by guide chapter. The table is data: each module exposes a static slice of [`Rule`]s and
//! [`all`] chains them in guide order (deployment, configuration, operation, then CCN-STIC-807).
//!
//! Every rule has a lever: a profile field whose minimal change makes it FAIL (the tests in
//! `tests/policy_rules.rs` pull each lever once). MANUAL rules, which forja cannot carry out from a disk image,
//! use the closest field that states the operator's intent (an `[operation]` cadence, `licence.activation`,
//! `certificates.issuer`, `boot.firmware.*`, `pexip.version` for the securitywizard run, ...). Each module's
//! comment lists its MANUAL rules and their levers.

use crate::profile::model::PasswordPolicy;
use crate::profile::secrets::SecretRef;

use super::rule::{Ctx, Rule, Verdict};

pub mod admin;
pub mod crypto807;
pub mod deployment;
pub mod operation;
pub mod protocols;
pub mod secure_mode;
pub mod services;

/// All rules in report order.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    deployment::RULES
        .iter()
        .chain(secure_mode::RULES)
        .chain(admin::RULES)
        .chain(protocols::RULES)
        .chain(services::RULES)
        .chain(operation::RULES)
        .chain(crypto807::RULES)
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    all().find(|r| r.id.0 == id)
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
