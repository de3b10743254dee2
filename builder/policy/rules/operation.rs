//! Chapter 6, operation (§106–107). All MANUAL: forja cannot operate the site. The levers are the operator's
//! commitments in `[operation]` (`never` fails; an absent `[operation]` means `never` everywhere), plus
//! `pexip.certificates.renew-before-days` (0 fails) and `pexip.backup.upload-url` (no off-node copy fails).
//! `forja pexip audit` is the monthly proof that the Management Node still matches the plan (§106); the host's own
//! security updates go through the offline A/B update (`forja bundle`, `forja update apply`, forja-health).

use crate::profile::model::Cadence;

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-6.a"),
        paragraph: "§106",
        statement: "The latest security updates are applied",
        enforcement: Enforcement::Manual,
        how: "At the stated cadence, apply Pexip upgrades (verified as in 1616-5.9); rebuild the host image with forja from the current Debian security archive (a later SOURCE_DATE_EPOCH), make its bundle with `forja bundle BUILD_DIR --out DIR --signing-key KEY` and install it on each host with `forja update apply BUNDLE_OR_URL --target-disk DEV` (offline, into the slot not running; vmstore and the VMs are not touched), then reboot: the new slot is kept only if forja-health passes (journal and /var/lib/forja/update-records/), otherwise the host returns to the previous slot by itself.",
        proof: &[
            "tests/policy_services.rs::security_updates_need_a_cadence",
            "tests/update_bundle.rs::a_signed_bundle_updates_slot_b_and_every_bad_bundle_is_refused",
            "tests/host_scripts.rs::each_failed_check_is_named_and_a_trial_slot_is_marked_bad_and_left",
        ],
        checklist: None,
        check: security_updates,
    },
    Rule {
        id: RuleId("1616-6.b"),
        paragraph: "§106",
        statement: "Audit logs are kept, protected and reviewed by authorised security staff",
        enforcement: Enforcement::Manual,
        how: "At the stated cadence, the security officer reviews the audit, support and web logs on the syslog server, where only security staff may read or delete them, and runs `forja pexip audit PROFILE --manager URL --ca CA.pem`, which proves the Management Node still matches the plan (exit 1 and DRIFT naming the rule otherwise).",
        proof: &["tests/policy_services.rs::audit_logs_are_reviewed"],
        checklist: Some(Checklist::Syslog),
        check: audit_review,
    },
    Rule {
        id: RuleId("1616-6.c"),
        paragraph: "§106",
        statement: "Certificates are renewed before they expire",
        enforcement: Enforcement::Manual,
        how: "When a certificate is within the stated days of expiry (`forja pexip audit` prints each certificate's end date), repeat the CSR and import steps of 1616-5.7.d and 1616-5.7.e.",
        proof: &["tests/policy_services.rs::certificates_are_renewed_before_expiry"],
        checklist: Some(Checklist::Certificates),
        check: certificate_renewal,
    },
    Rule {
        id: RuleId("1616-6.d"),
        paragraph: "§106",
        statement: "Backups are made periodically and kept off the node",
        enforcement: Enforcement::Manual,
        how: "Each working day, check that the 01:02 UTC backup arrived on the upload server and that /var/lib/libvirt/images/snapshots on the host holds the night's copy of the Management Node; test a restore every quarter.",
        proof: &["tests/policy_services.rs::backups_are_kept_off_the_node"],
        checklist: Some(Checklist::Backups),
        check: backups_off_node,
    },
    Rule {
        id: RuleId("1616-6.e"),
        paragraph: "§106",
        statement: "RAM and disk use of the VMs is checked; resources grow with a VM restart",
        enforcement: Enforcement::Manual,
        how: "At the stated cadence, compare the VMs' RAM and disk use with their reservation; grow the reservation in the profile, rebuild, and restart the VM.",
        proof: &["tests/policy_services.rs::vm_resource_use_is_reviewed"],
        checklist: None,
        check: resource_review,
    },
    Rule {
        id: RuleId("1616-6.f"),
        paragraph: "§107",
        statement: "Pexip's security bulletins are checked regularly",
        enforcement: Enforcement::Manual,
        how: "At the stated cadence, read https://docs.pexip.com/admin/security_bulletins.htm and act on every bulletin for the installed version.",
        proof: &["tests/policy_services.rs::security_bulletins_are_read"],
        checklist: None,
        check: bulletin_review,
    },
];

fn cadence(ctx: &Ctx, field: &str, c0: Cadence, what: &str) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        c0 != Cadence::Never,
        field,
        val(&c0),
        format!("{what}: commit to a cadence, e.g. \"monthly\""),
    );
    c.verdict(format!("cadence {}", val(&c0)))
}

fn security_updates(ctx: &Ctx) -> Verdict {
    cadence(
        ctx,
        "operation.security-updates",
        ctx.p.operation.security_updates,
        "§106: the product must carry the latest security updates",
    )
}

fn audit_review(ctx: &Ctx) -> Verdict {
    cadence(
        ctx,
        "operation.audit-log-review",
        ctx.p.operation.audit_log_review,
        "§106: audit logs must be analysed",
    )
}

fn resource_review(ctx: &Ctx) -> Verdict {
    cadence(
        ctx,
        "operation.resource-review",
        ctx.p.operation.resource_review,
        "§106: RAM and disk use must be checked",
    )
}

fn bulletin_review(ctx: &Ctx) -> Verdict {
    cadence(
        ctx,
        "operation.bulletin-review",
        ctx.p.operation.bulletin_review,
        "§107: the vendor's security bulletins must be checked regularly",
    )
}

fn certificate_renewal(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let d = ctx.p.pexip.certificates.renew_before_days;
    c.expect(
        d > 0,
        "pexip.certificates.renew-before-days",
        d,
        "§106: renew before expiry: set a lead time in days, e.g. 30",
    );
    c.verdict(format!("renew {d} days before expiry"))
}

fn backups_off_node(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let b = &ctx.p.pexip.backup;
    c.expect(
        b.upload_url.is_some(),
        "pexip.backup.upload-url",
        "(absent)",
        "§94, §106: keep backups off the node: set an upload URL (sftp://, or ftps:// where the node offers no SFTP)",
    );
    c.verdict("daily upload")
}
