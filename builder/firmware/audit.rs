//! `forja firmware audit`: the BMC's state judged against the plan, setting by setting. Read-only: only GETs.
//!
//! - PASS: the BMC reports what the plan wants.
//! - DRIFT: it reports something else (the exit code is then 1).
//! - MANUAL: this BMC does not expose the setting (no `BootOptions`, no `SecureBootDatabases`, ...), or no BMC
//!   can show it (a password is never read back): the finding carries the setup-menu step from the plan.
//!
//! A PASS can be `pending_reboot`: the setting is stored, but the running firmware still boots with the old
//! one (`SecureBootCurrentBoot` differs from `SecureBootEnable`).

use serde::Serialize;

use super::boot;
use super::keys::Database;
use super::observe::{Observed, SecureBoot};
use super::plan::{FirmwarePlan, Setting};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Drift,
    Manual,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Status::Pass => "PASS",
            Status::Drift => "DRIFT",
            Status::Manual => "MANUAL",
        })
    }
}

/// One setting's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub setting: Setting,
    pub status: Status,
    pub expected: String,
    pub actual: String,
    /// Why it is MANUAL, or how it was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The setup-menu step (MANUAL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pending_reboot: bool,
}

impl Finding {
    fn new(setting: Setting, ok: bool, expected: String, actual: String) -> Self {
        Finding {
            setting,
            status: if ok { Status::Pass } else { Status::Drift },
            expected,
            actual,
            note: None,
            manual: None,
            pending_reboot: false,
        }
    }

    fn manual(setting: Setting, expected: String, why: &str, step: &str) -> Self {
        Finding::manual_as(setting, expected, "not exposed by this BMC", why, step)
    }

    fn manual_as(setting: Setting, expected: String, actual: &str, why: &str, step: &str) -> Self {
        Finding {
            setting,
            status: Status::Manual,
            expected,
            actual: actual.into(),
            note: Some(why.to_owned()),
            manual: Some(step.to_owned()),
            pending_reboot: false,
        }
    }
}

/// The audit's result, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub bmc: String,
    pub system: String,
    pub power_state: Option<String>,
    pub findings: Vec<Finding>,
    pub drift: bool,
}

impl Audit {
    pub fn new(bmc: &str, obs: &Observed, findings: Vec<Finding>) -> Self {
        Audit {
            bmc: bmc.to_owned(),
            system: obs.system.clone(),
            power_state: obs.power_state.clone(),
            drift: findings.iter().any(|f| f.status == Status::Drift),
            findings,
        }
    }

    /// The text report: one line per setting, then a summary line.
    pub fn text(&self) -> String {
        let mut out = format!(
            "forja firmware audit: {} system {} (PowerState {})\n",
            self.bmc,
            self.system,
            self.power_state.as_deref().unwrap_or("unknown")
        );
        for f in &self.findings {
            out.push_str(&format!("{:<6} {:<16} {}", f.status, f.setting, f.actual));
            if f.status == Status::Drift {
                out.push_str(&format!(" (plan: {})", f.expected));
            }
            if f.pending_reboot {
                out.push_str(" (pending: takes effect at the next boot)");
            }
            out.push('\n');
            if let Some(n) = &f.note {
                out.push_str(&format!("       {:<16} {n}\n", ""));
            }
            if let Some(m) = &f.manual {
                out.push_str(&format!("       {:<16} {m}\n", ""));
            }
        }
        let count = |s| self.findings.iter().filter(|f| f.status == s).count();
        out.push_str(&format!(
            "audit: {} PASS, {} DRIFT, {} MANUAL\n",
            count(Status::Pass),
            count(Status::Drift),
            count(Status::Manual)
        ));
        out
    }
}

/// Judges every setting. Fails only when the plan cannot be matched to the BMC at all (an ambiguous disk).
pub fn judge(plan: &FirmwarePlan, obs: &Observed) -> anyhow::Result<Vec<Finding>> {
    let mut out = vec![admin_password(plan, obs)];
    out.extend(boot_findings(plan, obs)?);
    out.push(secure_boot(plan, obs.secure_boot.as_ref()));
    out.push(judge_keys(plan, obs.secure_boot.as_ref()));
    Ok(out)
}

fn admin_password(plan: &FirmwarePlan, obs: &Observed) -> Finding {
    let Some(pw) = &plan.admin_password else {
        return Finding::manual(
            Setting::AdminPassword,
            "(none in the profile)".into(),
            "the profile sets no firmware administrator password (forja check fails rule 1616-4.6.b)",
            "Set one: boot.firmware.admin-password = { secret = \"bios-admin-password\" }.",
        );
    };
    let expected = format!("{} = secret `{}`", pw.password_name, pw.new_password.name());
    match obs.bios.as_ref().and_then(|b| b.change_password.as_ref()) {
        Some(_) => Finding::manual_as(
            Setting::AdminPassword,
            expected,
            "write-only: no BMC reads a password back",
            "`forja firmware apply` confirms it (Bios.ChangePassword with it as the old password); check that the setup menu asks for it",
            &pw.manual,
        ),
        None => Finding::manual(
            Setting::AdminPassword,
            expected,
            "this BMC offers no Bios.ChangePassword action",
            &pw.manual,
        ),
    }
}

fn boot_findings(plan: &FirmwarePlan, obs: &Observed) -> anyhow::Result<Vec<Finding>> {
    let lock = &plan.boot;
    let b = &obs.boot;
    let (Some(order), Some(options)) = (&b.order, &b.options) else {
        return Ok(vec![boot_override(plan, obs), {
            Finding::manual(
                Setting::BootOthersOff,
                "every other boot option off".into(),
                "this BMC has no BootOptions/BootOrder: it cannot switch single devices off",
                &lock.manual_others,
            )
        }]);
    };
    let want = boot::desired(lock, options)?;
    let eff = boot::effective(order, options);
    let override_ok = b
        .override_enabled
        .as_deref()
        .is_none_or(|e| e == lock.boot_source_override_enabled);
    let mut order_f = Finding::new(
        Setting::BootOrder,
        eff.starts_with(&want) && override_ok,
        format!(
            "BootOrder starts {:?}, BootSourceOverrideEnabled {}",
            want, lock.boot_source_override_enabled
        ),
        format!(
            "BootOrder {:?} (bootable: {:?}), BootSourceOverrideEnabled {}",
            order,
            eff,
            b.override_enabled.as_deref().unwrap_or("(absent)")
        ),
    );
    order_f.note = Some(format!(
        "the installed disk is {}",
        boot::match_disk(&lock.disk, options)?.describe()
    ));
    let left = boot::unwanted_bootable(order, options, &want);
    let others_f = Finding::new(
        Setting::BootOthersOff,
        left.is_empty(),
        format!("only {want:?} bootable"),
        if left.is_empty() {
            "no other boot option is bootable".into()
        } else {
            format!(
                "also bootable: {}",
                left.iter()
                    .map(|o| o.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    );
    Ok(vec![order_f, others_f])
}

/// A BMC without a persistent boot order: the plan's fallback is a continuous override to the disk's kind.
fn boot_override(plan: &FirmwarePlan, obs: &Observed) -> Finding {
    let fb = &plan.boot.fallback;
    let b = &obs.boot;
    let expected = format!(
        "BootSourceOverrideTarget {}, BootSourceOverrideEnabled {}",
        fb.boot_source_override_target, fb.boot_source_override_enabled
    );
    let allowed = b
        .override_allowed
        .as_ref()
        .is_none_or(|a| a.contains(&fb.boot_source_override_target));
    if b.override_target.is_none() || !allowed {
        return Finding::manual(
            Setting::BootOrder,
            expected,
            "this BMC exposes neither BootOrder nor a usable BootSourceOverrideTarget",
            &plan.boot.manual_order,
        );
    }
    let mut f = Finding::new(
        Setting::BootOrder,
        b.override_target.as_deref() == Some(fb.boot_source_override_target.as_str())
            && b.override_enabled.as_deref() == Some(fb.boot_source_override_enabled.as_str()),
        expected,
        format!(
            "BootSourceOverrideTarget {}, BootSourceOverrideEnabled {}",
            b.override_target.as_deref().unwrap_or("(absent)"),
            b.override_enabled.as_deref().unwrap_or("(absent)")
        ),
    );
    f.note = Some(
        "this BMC has no BootOrder: the override picks a kind of device, and the firmware picks the disk".into(),
    );
    f
}

fn secure_boot(plan: &FirmwarePlan, sb: Option<&SecureBoot>) -> Finding {
    let want = plan.secure_boot.secure_boot_enable;
    let expected = format!("SecureBootEnable {want}");
    let Some(enable) = sb.and_then(|s| s.enable) else {
        return Finding::manual(
            Setting::SecureBoot,
            expected,
            "this BMC exposes no SecureBoot resource",
            &plan.secure_boot.manual,
        );
    };
    let sb = sb.expect("enable came from it");
    let mut f = Finding::new(
        Setting::SecureBoot,
        enable == want,
        expected,
        format!(
            "SecureBootEnable {enable}, SecureBootCurrentBoot {}, SecureBootMode {}",
            sb.current_boot.as_deref().unwrap_or("(absent)"),
            sb.mode.as_deref().unwrap_or("(absent)")
        ),
    );
    let running = sb.current_boot.as_deref().map(|c| c == "Enabled");
    f.pending_reboot = enable == want && running.is_some_and(|r| r != want);
    f
}

/// The `secure-boot-keys` verdict (also what `apply` decides by).
pub fn judge_keys(plan: &FirmwarePlan, sb: Option<&SecureBoot>) -> Finding {
    let sbp = &plan.secure_boot;
    let Some(keys) = &sbp.site_keys else {
        return Finding::manual_as(
            Setting::SecureBootKeys,
            "(no site keys in the profile)".into(),
            "not planned",
            "the firmware keeps the keys it has",
            &sbp.manual_keys,
        );
    };
    let expected = keys
        .certificates
        .iter()
        .map(|c| format!("{}: {} only", c.database.id(), c.subject))
        .collect::<Vec<_>>()
        .join("; ");
    let Some(dbs) = sb.filter(|s| s.databases.is_some()) else {
        return Finding::manual(
            Setting::SecureBootKeys,
            expected,
            "this BMC offers no SecureBootDatabases",
            &sbp.manual_keys,
        );
    };
    let mut ok = true;
    let mut actual = Vec::new();
    for db in [Database::Pk, Database::Kek, Database::Db] {
        let want = keys.cert(db).map(|c| c.sha256);
        let have = dbs
            .database(db)
            .map(|d| d.certificates.as_slice())
            .unwrap_or(&[]);
        let same = have.len() == 1 && have[0].sha256 == want;
        ok &= same;
        let names: Vec<String> = have
            .iter()
            .map(|c| {
                let n = c.subject.clone().unwrap_or_else(|| "unnamed".into());
                if c.sha256 == want {
                    format!("{n} (site)")
                } else {
                    n
                }
            })
            .collect();
        actual.push(format!("{}: [{}]", db.id(), names.join(", ")));
    }
    Finding::new(Setting::SecureBootKeys, ok, expected, actual.join("; "))
}
