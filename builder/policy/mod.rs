//! The guide as code: every actionable paragraph of CCN-STIC 1616 (deployment §10–31, configuration §32–105,
//! operation §106–107) and the CCN-STIC-807 cryptography it refers to, as a table of [`rule::Rule`]s evaluated
//! over a loaded profile into a [`Report`].
//!
//! What this module does not do: it never reads build inputs (images, CA files, keys: `pipeline::preflight` does)
//! and never prints a secret value. `forja check` runs it; `forja build` will write the same [`Report`] as JSON and Markdown.
//! See [`rule`] for the id scheme and statuses, and [`rules`] for each rule's lever.

pub mod findings;
pub mod markdown;
pub mod report;
pub mod rule;
pub mod rules;
pub mod secret_values;
pub mod site;

pub use findings::Finding;
pub use report::{InputFile, Report, RuleResult, Summary};
pub use rule::{Enforcement, RuleId, Status};

use crate::profile::Loaded;

/// Evaluates every rule over the profile.
pub fn evaluate(loaded: &Loaded) -> Report {
    let ctx = rule::Ctx::new(loaded);
    let results = rules::all()
        .map(|r| RuleResult::from_verdict(r, (r.check)(&ctx)))
        .collect();
    Report::new(loaded, results, findings::findings(&loaded.profile))
}
