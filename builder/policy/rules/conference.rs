//! §98–105: the conference security services (PINs, room locking, break-in resistance) and the encrypted VM
//! storage.
//!
//! MANUAL rules and their levers:
//! - `1616-5.15.d` (§101, rooms locked until a host joins): `pexip.vmr.rooms[].locked`. Locking is a runtime
//!   command (`command/v1/conference/lock/`), not a stored setting.
//! - `1616-5.15.j` (§105, the vmstore passphrase, which never travels in the image): `storage.passphrase`.
//!
//! Break-in thresholds (§103): the guide says at most 20 in 10 minutes; the Management Node takes 5 to 200
//! (`bdpm_max_*_per_window`: pexip/terraform-provider-pexip `resource_infinity_global_configuration.go`,
//! `int64validator.Between(5, 200)`; the API's field table says the same). So the profile may say 5 to 20.
//!
//! Lab-only relaxation: `storage.kdf-cost = "test-only"` (`1616-5.15.i`) is WAIVED in a lab profile.

use std::ops::RangeInclusive;

use crate::profile::model::{KdfCost, Unlock};

use super::super::rule::{Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::{judge_secrets, proof};

/// What the guide allows (≤ 20) and the Management Node accepts (≥ 5) for both break-in thresholds.
pub const BREAK_IN_RANGE: RangeInclusive<u32> = 5..=20;

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-5.15.a"),
        paragraph: "§98",
        statement: "Conference PINs have at least 6 digits",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ min_pin_length",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: None,
        check: min_pin_length,
    },
    Rule {
        id: RuleId("1616-5.15.b"),
        paragraph: "§98, §100",
        statement: "Every meeting room has a host PIN, and a guest PIN when guests may join",
        enforcement: Enforcement::PexipPlan,
        how: "the plan POSTs each room to conference/ with pin, guest_pin and allow_guests",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: None,
        check: rooms_have_pins,
    },
    Rule {
        id: RuleId("1616-5.15.c"),
        paragraph: "§98–99",
        statement: "Room PINs are digits only, long enough, and the host PIN differs from the guest PIN",
        enforcement: Enforcement::BuildCheck,
        how: "forja checks the PIN values before they go into the plan",
        proof: &[
            "tests/policy_services.rs::rejects_a_four_digit_pin",
            "tests/policy_services.rs::host_and_guest_pins_differ",
        ],
        checklist: None,
        check: pin_values,
    },
    Rule {
        id: RuleId("1616-5.15.d"),
        paragraph: "§98, §101",
        statement: "Meeting rooms are locked: guests wait until a host joins",
        enforcement: Enforcement::Manual,
        how: "Hosts lock each meeting room when it starts (in-call control Lock, or POST command/v1/conference/lock/); guests then wait until a host joins",
        proof: &["tests/policy_services.rs::rooms_are_locked_until_a_host_joins"],
        checklist: None,
        check: rooms_locked,
    },
    Rule {
        id: RuleId("1616-5.15.e"),
        paragraph: "§103",
        statement: "PIN brute-force resistance is on (at most 20 failures per 10 minutes)",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ bdpm_pin_checks_enabled = true and bdpm_max_pin_failures_per_window",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: None,
        check: pin_break_in,
    },
    Rule {
        id: RuleId("1616-5.15.f"),
        paragraph: "§103",
        statement: "VoIP scanner protection is on (at most 20 attempts per 10 minutes)",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ bdpm_scan_quarantine_enabled = true and bdpm_max_scan_attempts_per_window",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: None,
        check: scanner_protection,
    },
    Rule {
        id: RuleId("1616-5.15.g"),
        paragraph: "§104",
        statement: "The break-in allow list names narrow, known networks only",
        enforcement: Enforcement::PexipPlan,
        how: "the plan POSTs each allow-list entry (/16 or narrower, IPv6 /48) to break_in_allow_list_address/",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: None,
        check: allow_list_narrow,
    },
    Rule {
        id: RuleId("1616-5.15.h"),
        paragraph: "§105",
        statement: "The VMs live on an encrypted volume (LUKS2), with a recovery key",
        enforcement: Enforcement::HostArtifact,
        how: "first boot formats vmstore as LUKS2 with a key of its own, enrols TPM2 (PCR 7) and a recovery key shown once, and mounts it where libvirt keeps the VM disks",
        proof: &[proof::BOOT_VMSTORE],
        checklist: None,
        check: vmstore_encrypted,
    },
    Rule {
        id: RuleId("1616-5.15.i"),
        paragraph: "§105",
        statement: "A vmstore passphrase keyslot uses the full argon2id cost",
        enforcement: Enforcement::HostArtifact,
        how: "/etc/forja/firstboot.env carries the argon2id cost that /usr/lib/forja/add-passphrase uses for the passphrase keyslot",
        proof: &[
            proof::BOOT_VMSTORE,
            "tests/plan_golden.rs::lab_plan_matches_golden",
        ],
        checklist: None,
        check: kdf_cost,
    },
    Rule {
        id: RuleId("1616-5.15.j"),
        paragraph: "§105",
        statement: "The vmstore passphrase is added on site (it never travels in the image)",
        enforcement: Enforcement::Manual,
        how: "After first boot, on the host's console: run `/usr/lib/forja/add-passphrase`, enter the recovery key shown at first boot, then the passphrase from the secrets file (storage.passphrase) twice.",
        proof: &["tests/policy_services.rs::vmstore_passphrase_is_added_on_site"],
        checklist: None,
        check: passphrase_on_site,
    },
];

fn min_pin_length(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let n = ctx.p.pexip.vmr.min_pin_length;
    c.expect(
        n >= 6,
        "pexip.vmr.min-pin-length",
        n,
        "§98: PINs have at least six digits: set it to 6 or more",
    );
    c.verdict(format!("at least {n} digits"))
}

fn rooms_have_pins(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, r) in ctx.p.pexip.vmr.rooms.iter().enumerate() {
        c.expect(
            r.host_pin.is_some(),
            &format!("pexip.vmr.rooms[{i}].host-pin"),
            "(absent)",
            "§98: access to a room is protected by a PIN: host-pin = { secret = \"...\" }",
        );
        c.expect(
            !r.allow_guests || r.guest_pin.is_some(),
            &format!("pexip.vmr.rooms[{i}].guest-pin"),
            "(absent)",
            "§98, §100: guests would join without a PIN: add guest-pin = { secret = \"...\" } or set allow-guests = false",
        );
    }
    c.verdict(format!(
        "{} room(s) PIN-protected",
        ctx.p.pexip.vmr.rooms.len()
    ))
}

fn pin_values(ctx: &Ctx) -> Verdict {
    if !ctx.has_secrets() {
        return Verdict::NeedsSecrets;
    }
    let min = ctx.p.pexip.vmr.min_pin_length.max(6) as usize;
    let mut refs = Vec::new();
    for (i, r) in ctx.p.pexip.vmr.rooms.iter().enumerate() {
        if let Some(h) = &r.host_pin {
            refs.push((format!("pexip.vmr.rooms[{i}].host-pin"), h));
        }
        if let Some(g) = &r.guest_pin {
            refs.push((format!("pexip.vmr.rooms[{i}].guest-pin"), g));
        }
    }
    let v = judge_secrets(
        ctx,
        refs,
        |pin| {
            let mut out = Vec::new();
            if !pin.chars().all(|c| c.is_ascii_digit()) {
                out.push("is not digits only (§98: a PIN is numeric)".to_owned());
            }
            let n = pin.chars().count();
            if n < min {
                out.push(format!("has {n} digits; §98 asks for at least {min}"));
            }
            out
        },
        "PINs numeric and long enough; host and guest PINs differ",
    );
    let mut c = ctx.checks();
    for (i, r) in ctx.p.pexip.vmr.rooms.iter().enumerate() {
        if let (Some(h), Some(g)) = (&r.host_pin, &r.guest_pin) {
            let same = h == g
                || matches!(
                    (ctx.secret(h).flatten(), ctx.secret(g).flatten()),
                    (Some(a), Some(b)) if a.expose() == b.expose()
                );
            c.expect_about(
                !same,
                &format!("pexip.vmr.rooms[{i}].guest-pin"),
                "equals the host PIN; §99: guests must not get host privileges: choose a different guest PIN",
            );
        }
    }
    match (v, c.verdict("")) {
        (Verdict::Fail(mut a), Verdict::Fail(b)) => {
            a.extend(b);
            Verdict::Fail(a)
        }
        (_, Verdict::Fail(b)) => Verdict::Fail(b),
        (v, _) => v,
    }
}

fn rooms_locked(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, r) in ctx.p.pexip.vmr.rooms.iter().enumerate() {
        c.expect(
            r.locked,
            &format!("pexip.vmr.rooms[{i}].locked"),
            false,
            "§98, §101: guests wait for a host: set locked = true",
        );
    }
    c.verdict("rooms locked until a host joins")
}

fn pin_break_in(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let b = &ctx.p.pexip.break_in;
    c.expect(
        b.pin_checks,
        "pexip.break-in.pin-checks",
        false,
        "§103: turn PIN brute-force resistance on: set it to true",
    );
    c.expect(
        BREAK_IN_RANGE.contains(&b.max_pin_failures),
        "pexip.break-in.max-pin-failures",
        b.max_pin_failures,
        "§103: block after at most 20 failures in 10 minutes; the Management Node takes 5 or more: set 5..20",
    );
    c.verdict(format!("after {} failures", b.max_pin_failures))
}

fn scanner_protection(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let b = &ctx.p.pexip.break_in;
    c.expect(
        b.scanner_protection,
        "pexip.break-in.scanner-protection",
        false,
        "§103: turn VoIP scanner protection on: set it to true",
    );
    c.expect(
        BREAK_IN_RANGE.contains(&b.max_scan_attempts),
        "pexip.break-in.max-scan-attempts",
        b.max_scan_attempts,
        "§103: block after at most 20 attempts in 10 minutes; the Management Node takes 5 or more: set 5..20",
    );
    c.verdict(format!("after {} attempts", b.max_scan_attempts))
}

fn allow_list_narrow(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, e) in ctx.p.pexip.break_in.allow_list.iter().enumerate() {
        let min = if e.network.addr.is_ipv4() { 16 } else { 48 };
        c.expect(
            e.network.prefix >= min,
            &format!("pexip.break-in.allow-list[{i}].network"),
            val(&e.network.to_string()),
            format!("§104: the allow list bypasses break-in protection: name a known network of /{min} or narrower"),
        );
    }
    c.verdict(format!(
        "{} allow-list entr(ies)",
        ctx.p.pexip.break_in.allow_list.len()
    ))
}

fn vmstore_encrypted(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let s = &ctx.p.storage;
    c.expect(
        s.encrypted,
        "storage.encrypted",
        false,
        "§105: the machines holding the nodes are encrypted: remove the line or set encrypted = true",
    );
    c.expect(
        !s.unlock.is_empty(),
        "storage.unlock",
        "[]",
        "§105: say how the vmstore unlocks: unlock = [\"tpm2\", \"passphrase\"]",
    );
    c.expect(
        s.recovery_key,
        "storage.recovery-key",
        false,
        "§105: without a recovery key a lost TPM loses the VMs: set recovery-key = true",
    );
    c.verdict("LUKS2 vmstore with recovery key")
}

fn kdf_cost(ctx: &Ctx) -> Verdict {
    let k = ctx.p.storage.kdf_cost;
    if k == KdfCost::Default {
        return Verdict::Ok("argon2id defaults".into());
    }
    if ctx.lab() {
        return Verdict::Waived(
            "lab profile: test-only KDF cost so QEMU/TCG unlocks quickly".into(),
        );
    }
    let mut c = ctx.checks();
    c.expect(
        false,
        "storage.kdf-cost",
        val(&k),
        "§105: a production vmstore uses the full argon2id cost: set kdf-cost = \"default\"",
    );
    c.verdict("")
}

fn passphrase_on_site(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let s = &ctx.p.storage;
    let wants = s.unlock.contains(&Unlock::Passphrase);
    c.expect(
        !wants || s.passphrase.is_some(),
        "storage.passphrase",
        "(absent)",
        "§105: unlock includes \"passphrase\": name it, passphrase = { secret = \"vmstore-passphrase\" }",
    );
    c.verdict(if wants {
        "passphrase keyslot to add"
    } else {
        "no passphrase keyslot (unlock has no \"passphrase\"): nothing to add"
    })
}
