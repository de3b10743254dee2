//! `forja firmware apply`: sets what the plan wants through the BMC, idempotently.
//!
//! It reads the system first ([`observe`]) and writes only what differs, in this order: the administrator
//! password, the boot order, the boot options to switch off, the site's Secure Boot keys, Secure Boot itself
//! (keys before enabling, so the firmware never enforces someone else's keys because of forja). Then it reads
//! the system again and fails if a setting it wrote does not read back as the plan wants. A second run finds
//! nothing to change and says so.
//!
//! Every line names the setting and the Redfish property; passwords appear only as secret names. A setting the
//! BMC does not expose is reported as MANUAL with the plan's setup-menu step; that is not an error (audit
//! judges it). What takes effect only when the firmware boots again is reported as pending.
//!
//! The administrator password cannot be read back, so idempotence works by asking: `Bios.ChangePassword` with
//! the plan's password as both old and new. The BMC takes it only if that is the current password (nothing
//! changes); if it refuses, forja changes it from `current-admin-password` — never from a placeholder, and
//! stops if that secret is not named. A refusal counts as a failed login on BMCs that lock out after several;
//! it happens once per firmware, on the first run. (GUESS: a BMC that queues a BIOS job for every password
//! change, as some do, queues one on every run.)

use std::io::Write;

use anyhow::Context;
use serde_json::{Value, json};

use super::audit::{self, Status};
use super::boot;
use super::keys::Database;
use super::observe::{BootOption, Observed, observe};
use super::plan::{FirmwarePlan, Setting};
use super::redfish::Redfish;
use crate::error::{Exit, fail};
use crate::profile::secrets::{SecretRef, Secrets};

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub changed: Vec<Setting>,
    pub unchanged: Vec<Setting>,
    pub manual: Vec<Setting>,
    /// Why a change is not in force yet.
    pub pending: Vec<String>,
}

struct Ctx<'a> {
    rf: &'a Redfish<'a>,
    plan: &'a FirmwarePlan,
    secrets: &'a Secrets,
    system: String,
    dry_run: bool,
    out: &'a mut dyn Write,
    sum: Summary,
}

/// Applies `plan` to `system`, writing the report to `out`.
pub fn apply(
    rf: &Redfish,
    plan: &FirmwarePlan,
    secrets: &Secrets,
    system: &str,
    dry_run: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let obs = observe(rf, system)?;
    let mut c = Ctx {
        rf,
        plan,
        secrets,
        system: system.to_owned(),
        dry_run,
        out,
        sum: Summary::default(),
    };
    c.say(format!(
        "system {system} (PowerState {}){}",
        obs.power_state.as_deref().unwrap_or("unknown"),
        if dry_run {
            ", dry run: nothing is sent"
        } else {
            ""
        }
    ))?;
    c.admin_password(&obs)?;
    c.boot(&obs)?;
    c.secure_boot_keys(&obs)?;
    c.secure_boot(&obs)?;
    if !dry_run && !c.sum.changed.is_empty() {
        let after = observe(rf, system)?;
        c.verify(&after)?;
    } else if !dry_run {
        c.verify(&obs)?;
    }
    if !c.sum.changed.is_empty() && obs.power_state.as_deref() == Some("On") {
        c.sum.pending.push(
            "the system is powered on: the firmware uses the new settings from its next boot; reboot it, then run `forja firmware audit`".into(),
        );
    }
    let s = &c.sum;
    let line = format!(
        "summary: {} changed, {} unchanged, {} manual{}",
        s.changed.len(),
        s.unchanged.len(),
        s.manual.len(),
        if dry_run {
            " (dry run: nothing was sent)"
        } else {
            ""
        }
    );
    c.say(line)?;
    for p in c.sum.pending.clone() {
        c.say(format!("pending: {p}"))?;
    }
    Ok(c.sum)
}

impl Ctx<'_> {
    fn say(&mut self, line: String) -> anyhow::Result<()> {
        writeln!(self.out, "{line}").context("writing the report")
    }

    fn unchanged(&mut self, s: Setting, what: String) -> anyhow::Result<()> {
        self.sum.unchanged.push(s);
        self.say(format!("= {s} unchanged: {what}"))
    }

    fn changing(&mut self, s: Setting, what: String) -> anyhow::Result<()> {
        if !self.sum.changed.contains(&s) {
            self.sum.changed.push(s);
        }
        let tail = if self.dry_run {
            " (dry run: not sent)"
        } else {
            ""
        };
        self.say(format!("~ {s}: {what}{tail}"))
    }

    fn manual(&mut self, s: Setting, why: &str, step: &str) -> anyhow::Result<()> {
        self.sum.manual.push(s);
        self.say(format!("! {s} MANUAL: {why}. {step}"))
    }

    fn write(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<()> {
        if !self.dry_run {
            self.rf.write(method, path, body)?;
        }
        Ok(())
    }

    fn secret(&self, r: &SecretRef, field: &str) -> anyhow::Result<String> {
        self.secrets
            .get(r)
            .map(|s| s.expose().to_owned())
            .ok_or_else(|| {
                fail(
                    Exit::Input,
                    format!(
                        "{field} names secret `{}`, which {} does not define",
                        r.name(),
                        self.secrets.path.display()
                    ),
                )
            })
    }

    fn admin_password(&mut self, obs: &Observed) -> anyhow::Result<()> {
        let s = Setting::AdminPassword;
        let Some(pw) = &self.plan.admin_password else {
            return self.manual(
                s,
                "the profile sets no administrator password",
                "Set boot.firmware.admin-password.",
            );
        };
        let Some(target) = obs.bios.as_ref().and_then(|b| b.change_password.clone()) else {
            return self.manual(
                s,
                "this BMC offers no Bios.ChangePassword action",
                &pw.manual,
            );
        };
        let new_name = pw.new_password.name().to_owned();
        if self.dry_run {
            return self.say(format!(
                "? {s}: would ask the BMC (POST {target}) whether secret `{new_name}` is the current {}, and change it if not (a dry run sends nothing)",
                pw.password_name
            ));
        }
        let new = self.secret(&pw.new_password, "boot.firmware.admin-password")?;
        let body = |old: &str| json!({"PasswordName": pw.password_name, "OldPassword": old, "NewPassword": new});
        let r = self.rf.send("POST", &target, Some(&body(&new)))?;
        if r.ok() {
            return self.unchanged(
                s,
                format!(
                    "the BMC takes secret `{new_name}` as the current {}",
                    pw.password_name
                ),
            );
        }
        match r.status {
            404 | 405 | 501 => {
                let why = format!(
                    "the BMC lists Bios.ChangePassword but answers HTTP {} at {target}",
                    r.status
                );
                return self.manual(s, &why, &pw.manual);
            }
            400 => {}
            _ => return Err(self.rf.refused("POST", &target, &r)),
        }
        let Some(old_ref) = &pw.old_password else {
            return Err(fail(
                Exit::Input,
                format!(
                    "POST {target}: the BMC does not take secret `{new_name}` as the current {} ({}); name the password the firmware has now: boot.firmware.current-admin-password = {{ secret = \"...\" }} (an empty value if none is set)",
                    pw.password_name,
                    super::redfish::dmtf_message(&r.body)
                ),
            ));
        };
        let old = self.secret(old_ref, "boot.firmware.current-admin-password")?;
        if old == new {
            return Err(self.rf.refused("POST", &target, &r));
        }
        self.rf
            .write("POST", &target, &body(&old))
            .with_context(|| {
                format!(
                    "changing {} from secret `{}`",
                    pw.password_name,
                    old_ref.name()
                )
            })?;
        self.changing(
            s,
            format!(
                "{} changed from secret `{}` to secret `{new_name}`",
                pw.password_name,
                old_ref.name()
            ),
        )
    }

    fn boot(&mut self, obs: &Observed) -> anyhow::Result<()> {
        match (&obs.boot.order, &obs.boot.options) {
            (Some(order), Some(options)) => {
                let want = boot::desired(&self.plan.boot, options)?;
                let wrote = self.boot_order(obs, order, options, &want)?;
                if wrote && !self.dry_run {
                    let again = observe(self.rf, &self.system)?;
                    let order = again.boot.order.unwrap_or_default();
                    let options = again.boot.options.unwrap_or_default();
                    self.boot_others(&order, &options, &want)
                } else {
                    self.boot_others(order, options, &want)
                }
            }
            _ => {
                self.boot_override(obs)?;
                let step = self.plan.boot.manual_others.clone();
                self.manual(
                    Setting::BootOthersOff,
                    "this BMC has no BootOptions/BootOrder: it cannot switch single devices off",
                    &step,
                )
            }
        }
    }

    /// Puts the wanted options first (and enabled), the override off. Returns whether it wrote anything.
    fn boot_order(
        &mut self,
        obs: &Observed,
        order: &[String],
        options: &[BootOption],
        want: &[String],
    ) -> anyhow::Result<bool> {
        let s = Setting::BootOrder;
        let lock = &self.plan.boot;
        let mut wrote = false;
        for o in options
            .iter()
            .filter(|o| want.contains(&o.reference) && o.enabled == Some(false))
        {
            self.changing(
                s,
                format!("{} BootOptionEnabled false -> true", o.describe()),
            )?;
            self.write("PATCH", &o.path, &json!({"BootOptionEnabled": true}))?;
            wrote = true;
        }
        let eff = boot::effective(order, options);
        let ovr = obs.boot.override_enabled.as_deref();
        let ovr_bad = ovr.is_some_and(|e| e != lock.boot_source_override_enabled);
        if eff.starts_with(want) && !ovr_bad {
            if !wrote {
                let disk = boot::match_disk(&lock.disk, options)?.describe();
                self.unchanged(
                    s,
                    format!("BootOrder {order:?}, bootable {eff:?} (installed disk {disk})"),
                )?;
            }
            return Ok(wrote);
        }
        let mut b = serde_json::Map::new();
        let mut what = Vec::new();
        if !eff.starts_with(want) {
            let new = boot::new_order(order, options, want);
            what.push(format!("BootOrder {order:?} -> {new:?}"));
            b.insert("BootOrder".into(), json!(new));
        }
        if ovr_bad {
            let want_ovr = &lock.boot_source_override_enabled;
            what.push(format!(
                "BootSourceOverrideEnabled {} -> {want_ovr}",
                ovr.unwrap_or_default()
            ));
            b.insert("BootSourceOverrideEnabled".into(), json!(want_ovr));
        }
        self.changing(s, what.join(", "))?;
        let system = self.system.clone();
        self.write("PATCH", &system, &json!({ "Boot": b }))?;
        Ok(true)
    }

    fn boot_others(
        &mut self,
        order: &[String],
        options: &[BootOption],
        want: &[String],
    ) -> anyhow::Result<()> {
        let s = Setting::BootOthersOff;
        let left = boot::unwanted_bootable(order, options, want);
        if left.is_empty() {
            return self.unchanged(s, format!("only {want:?} bootable"));
        }
        for o in left {
            if o.enabled.is_some() {
                self.changing(
                    s,
                    format!("{} BootOptionEnabled true -> false", o.describe()),
                )?;
                self.write("PATCH", &o.path, &json!({"BootOptionEnabled": false}))?;
            } else if !self.dry_run {
                let step = self.plan.boot.manual_others.clone();
                let why = format!(
                    "{} stays in BootOrder and has no BootOptionEnabled",
                    o.describe()
                );
                self.manual(s, &why, &step)?;
            }
        }
        Ok(())
    }

    fn boot_override(&mut self, obs: &Observed) -> anyhow::Result<()> {
        let s = Setting::BootOrder;
        let fb = self.plan.boot.fallback.clone();
        let b = &obs.boot;
        let allowed = b
            .override_allowed
            .as_ref()
            .is_none_or(|a| a.contains(&fb.boot_source_override_target));
        if b.override_target.is_none() || !allowed {
            let step = self.plan.boot.manual_order.clone();
            return self.manual(
                s,
                "this BMC exposes neither BootOrder nor a usable BootSourceOverrideTarget",
                &step,
            );
        }
        let (t, e) = (b.override_target.as_deref(), b.override_enabled.as_deref());
        let now = format!(
            "BootSourceOverrideTarget {}, BootSourceOverrideEnabled {}",
            t.unwrap_or("(absent)"),
            e.unwrap_or("(absent)")
        );
        if t == Some(fb.boot_source_override_target.as_str())
            && e == Some(fb.boot_source_override_enabled.as_str())
        {
            return self.unchanged(
                s,
                format!("{now} (this BMC has no BootOrder: the override is the lock)"),
            );
        }
        self.changing(
            s,
            format!(
                "{now} -> {}, {} (this BMC has no BootOrder: the override is the lock)",
                fb.boot_source_override_target, fb.boot_source_override_enabled
            ),
        )?;
        let system = self.system.clone();
        let body = json!({"Boot": {
            "BootSourceOverrideTarget": fb.boot_source_override_target,
            "BootSourceOverrideEnabled": fb.boot_source_override_enabled,
        }});
        self.write("PATCH", &system, &body)
    }

    fn secure_boot_keys(&mut self, obs: &Observed) -> anyhow::Result<()> {
        let s = Setting::SecureBootKeys;
        let plan = self.plan;
        let f = audit::judge_keys(plan, obs.secure_boot.as_ref());
        match f.status {
            Status::Pass => return self.unchanged(s, f.actual),
            Status::Manual => {
                return self.manual(
                    s,
                    f.note.as_deref().unwrap_or(""),
                    f.manual.as_deref().unwrap_or(""),
                );
            }
            Status::Drift => {}
        }
        let (Some(keys), Some(sb)) = (&plan.secure_boot.site_keys, &obs.secure_boot) else {
            unreachable!("a DRIFT finding needs site keys and a SecureBoot resource");
        };
        let Some(reset) = sb.reset_keys.clone() else {
            return self.manual(
                s,
                "this BMC cannot clear the key databases (no SecureBoot.ResetKeys)",
                &plan.secure_boot.manual_keys,
            );
        };
        let mut targets = Vec::new();
        for db in Database::ENROL_ORDER {
            match sb.database(db).and_then(|d| d.certificates_path.clone()) {
                Some(p) => targets.push((db, p)),
                None => {
                    let why = format!("this BMC offers no {} Certificates collection", db.id());
                    return self.manual(s, &why, &plan.secure_boot.manual_keys);
                }
            }
        }
        let rtype = &plan.secure_boot.reset_keys_type;
        self.changing(
            s,
            format!(
                "{} -> the site's ({rtype}, then enrol db, KEK, PK)",
                f.actual
            ),
        )?;
        self.write("POST", &reset, &json!({"ResetKeysType": rtype}))?;
        for (db, path) in targets {
            let c = keys.cert(db).expect("the plan has all three");
            let body = json!({
                "CertificateString": c.certificate_string,
                "CertificateType": c.certificate_type,
                "UefiSignatureOwner": keys.uefi_signature_owner,
            });
            self.write("POST", &path, &body)
                .with_context(|| format!("enrolling {} into {}", c.file, db.id()))?;
            let verb = if self.dry_run {
                "would enrol"
            } else {
                "enrolled"
            };
            self.say(format!(
                "  {verb} {} ({}, sha256 {}) into {}",
                c.file,
                c.subject,
                c.sha256,
                db.id()
            ))?;
        }
        Ok(())
    }

    fn secure_boot(&mut self, obs: &Observed) -> anyhow::Result<()> {
        let s = Setting::SecureBoot;
        let want = self.plan.secure_boot.secure_boot_enable;
        let Some((path, enable)) = obs
            .secure_boot
            .as_ref()
            .and_then(|sb| Some((sb.path.clone(), sb.enable?)))
        else {
            let step = self.plan.secure_boot.manual.clone();
            return self.manual(s, "this BMC exposes no SecureBoot resource", &step);
        };
        if enable == want {
            return self.unchanged(s, format!("SecureBootEnable {enable}"));
        }
        self.changing(s, format!("SecureBootEnable {enable} -> {want}"))?;
        // Exactly this one property: sushy-tools 2.2.0 reads a SecureBoot PATCH without it as "disable".
        self.write("PATCH", &path, &json!({"SecureBootEnable": want}))
    }

    /// Judges the system as read after the writes: every setting written must read back as the plan wants,
    /// and a stored setting the running firmware does not use yet is reported as pending.
    fn verify(&mut self, after: &Observed) -> anyhow::Result<()> {
        for f in audit::judge(self.plan, after)? {
            if f.status == Status::Drift && self.sum.changed.contains(&f.setting) {
                return Err(fail(
                    Exit::Remote,
                    format!(
                        "{}: the BMC accepted the change but now reports {} (plan: {})",
                        f.setting, f.actual, f.expected
                    ),
                ));
            }
            if f.pending_reboot {
                self.sum.pending.push(format!(
                    "{}: {} (the running firmware still boots the old way)",
                    f.setting, f.actual
                ));
            }
        }
        Ok(())
    }
}
