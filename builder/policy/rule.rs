//! The vocabulary of the guide as code: rule ids, statuses, where a rule is enforced, and the small context a
//! check function reads the profile through.
//!
//! Decisions:
//! - **Ids.** `1616-<section>` when a guide section yields one rule (`1616-5.9`), `1616-<section>.<letter>` when it
//!   yields several (`1616-5.1.a`..`1616-5.1.o`), `807-<topic>` for the CCN-STIC-807 cryptography checks the guide
//!   delegates to (§63–64, §67). Ids are stable: a rule that goes away leaves its id unused.
//! - **Statuses.** A check returns a [`Verdict`]; the evaluator turns it into a [`Status`] by the rule's
//!   [`Enforcement`]. An `Ok` verdict is PASS only for rules forja itself makes true (a host artifact, a
//!   Management Node plan request, a check while building), each with the tests that prove it where it takes
//!   effect ([`Rule::proof`]); MANUAL, with the operator's exact step, for rules only a person can carry out;
//!   DECLARED for what the operator asserts in the profile and nothing can check. A check may also answer
//!   MANUAL itself when the step left depends on the profile (a certificate not signed yet). FAIL always wins:
//!   a profile that contradicts the guide fails even where the step itself is manual. WAIVED is only ever given
//!   to a lab profile for a lab-only relaxation; the same value in a production profile is a FAIL.
//! - **Reasons.** A FAIL reason is `file:line:col: field = value; what the guide wants and what to write`. Secret
//!   values are never shown: reasons name the secret, never its value.

use std::fmt;

use serde::Serialize;

use crate::profile::model::Profile;
use crate::profile::secrets::{Secret, SecretRef};
use crate::profile::{FieldPath, Loaded};

/// A stable rule id such as `1616-5.4.4.a` or `807-tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RuleId(pub &'static str);

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The outcome of one rule for one profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// forja enforces it (a host file or unit, a Management Node plan request, a check while building) and a test
    /// proves the enforcement where it takes effect.
    Pass,
    Fail,
    /// A person has to do it; the reason is the exact step.
    Manual,
    /// The operator asserts it in the profile; nothing forja runs can check it.
    Declared,
    Waived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Manual => "MANUAL",
            Status::Declared => "DECLARED",
            Status::Waived => "WAIVED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a rule is made true. Only the first three can give PASS; each names, in [`Rule::proof`], the tests that
/// check the enforcement where it takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Enforcement {
    /// A file, unit or script forja writes into the host image. Proof: the boot report checks it on the booted
    /// host (`tests/support/report.rs`, each check broken on purpose in `tests/boot_report.rs`).
    HostArtifact,
    /// A request of the Management Node configuration plan (`pexip/plan.json`). Proof: the plan golden, `forja
    /// pexip apply` against the strict stand-in Management Node, and `forja pexip audit` reading it back.
    PexipPlan,
    /// forja checks it while building or generating (input hashes, secret values) and refuses to go on.
    BuildCheck,
    /// Only a person can do it; the report carries the exact step.
    Manual,
    /// The operator asserts it in the profile and nothing forja runs can check it.
    Declared,
}

impl Enforcement {
    pub const ALL: [Enforcement; 5] = [
        Enforcement::HostArtifact,
        Enforcement::PexipPlan,
        Enforcement::BuildCheck,
        Enforcement::Manual,
        Enforcement::Declared,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::HostArtifact => "host-artifact",
            Enforcement::PexipPlan => "pexip-plan",
            Enforcement::BuildCheck => "build-check",
            Enforcement::Manual => "manual",
            Enforcement::Declared => "declared",
        }
    }

    /// Whether an `Ok` verdict of a rule with this enforcement is a PASS.
    pub fn enforced_by_forja(self) -> bool {
        matches!(
            self,
            Enforcement::HostArtifact | Enforcement::PexipPlan | Enforcement::BuildCheck
        )
    }
}

/// The rows of the guide's §7 checklist, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checklist {
    Integrity,
    Licences,
    SecureMode,
    Ldap,
    Users,
    Session,
    Tls,
    Certificates,
    Ntp,
    Backups,
    Syslog,
}

impl Checklist {
    pub const ALL: [Checklist; 11] = [
        Checklist::Integrity,
        Checklist::Licences,
        Checklist::SecureMode,
        Checklist::Ldap,
        Checklist::Users,
        Checklist::Session,
        Checklist::Tls,
        Checklist::Certificates,
        Checklist::Ntp,
        Checklist::Backups,
        Checklist::Syslog,
    ];

    /// The checklist heading the row sits under (the guide's spelling, with its "SINCORNIZACIÓN" typo fixed).
    pub fn heading(self) -> &'static str {
        match self {
            Checklist::Integrity | Checklist::Licences => "DESPLIEGUE E INSTALACIÓN",
            Checklist::SecureMode => "CONFIGURACIÓN · MODO DE OPERACIÓN SEGURO",
            Checklist::Ldap => "CONFIGURACIÓN · SERVIDORES DE AUTENTICACIÓN",
            Checklist::Users | Checklist::Session => "CONFIGURACIÓN · ADMINISTRACIÓN DEL PRODUCTO",
            Checklist::Tls => "CONFIGURACIÓN · CONFIGURACIÓN DE PROTOCOLOS SEGUROS",
            Checklist::Certificates => "CONFIGURACIÓN · GESTIÓN DE CERTIFICADOS",
            Checklist::Ntp => "CONFIGURACIÓN · SINCRONIZACIÓN",
            Checklist::Backups => "CONFIGURACIÓN · COPIAS DE SEGURIDAD",
            Checklist::Syslog => "CONFIGURACIÓN · AUDITORÍA",
        }
    }

    /// The checklist row ("ACCIONES").
    pub fn action(self) -> &'static str {
        match self {
            Checklist::Integrity => "Verificación de la integridad de la descarga",
            Checklist::Licences => "Registro de licencias",
            Checklist::SecureMode => "Activación del modo seguro",
            Checklist::Ldap => "Configuración del servidor LDAP",
            Checklist::Users => "Configuración de usuarios",
            Checklist::Session => "Configuración de los parámetros de sesión",
            Checklist::Tls => "Configuración de TLSv1.2 en las conferencias",
            Checklist::Certificates => {
                "Importar CA, crear CSR e importar el certificado de servidor"
            }
            Checklist::Ntp => "Configuración de un servidor de hora NTP",
            Checklist::Backups => "Creación de los backups",
            Checklist::Syslog => "Configuración del envío de los logs a un servidor Syslog",
        }
    }
}

/// One actionable paragraph of the guide, as data.
#[derive(Debug)]
pub struct Rule {
    pub id: RuleId,
    /// The guide paragraph(s), e.g. `§34` or `§11, §13`.
    pub paragraph: &'static str,
    /// One line, in English, of what must hold.
    pub statement: &'static str,
    pub enforcement: Enforcement,
    /// What enforces it (the host file or unit, the plan request, the build check), for MANUAL rules the
    /// operator's exact step, for DECLARED rules what the operator asserts.
    pub how: &'static str,
    /// The tests that prove it, as `tests/FILE.rs::function`: for enforced rules the check at the point of
    /// effect, for MANUAL and DECLARED rules the test that pulls the rule's lever. `tests/rule_proofs.rs` checks
    /// that every one exists.
    pub proof: &'static [&'static str],
    pub checklist: Option<Checklist>,
    pub check: fn(&Ctx) -> Verdict,
}

/// What a check found, before the evaluator turns it into a [`Status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The profile agrees with the guide; the text says what was found.
    Ok(String),
    /// One reason per offending field.
    Fail(Vec<String>),
    /// A lab-only relaxation in a lab profile.
    Waived(String),
    /// The check needs secret values and the secrets file is not available.
    NeedsSecrets,
    /// What forja can do is done or not possible for this profile; the text is the operator's remaining step
    /// (e.g. the signed certificate is not there yet).
    Manual(String),
}

/// The reason given when a rule needs the secrets file and `check` runs without it.
pub const NO_SECRETS: &str = "secrets file not available here; forja build checks the values";

/// What a check function sees: the loaded profile, with locations for its fields.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub loaded: &'a Loaded,
    pub p: &'a Profile,
}

impl<'a> Ctx<'a> {
    pub fn new(loaded: &'a Loaded) -> Self {
        Ctx {
            loaded,
            p: &loaded.profile,
        }
    }

    /// `file:line:col` of a field (just the file when the field is not written out).
    pub fn at(&self, field: &str) -> String {
        self.loaded.locate(&FieldPath::parse(field))
    }

    pub fn lab(&self) -> bool {
        self.loaded.is_lab()
    }

    pub fn checks(&self) -> Checks<'_, 'a> {
        Checks {
            ctx: self,
            fails: Vec::new(),
        }
    }

    /// Looks up a secret. `None` when the secrets file is not loaded; `Some(None)` when it lacks the name.
    pub fn secret(&self, r: &SecretRef) -> Option<Option<&'a Secret>> {
        self.loaded.secrets.as_ref().map(|s| s.get(r))
    }

    pub fn has_secrets(&self) -> bool {
        self.loaded.secrets.is_some()
    }
}

/// Collects failures of one rule, each naming field, location, value found and the fix.
#[derive(Debug)]
pub struct Checks<'c, 'a> {
    ctx: &'c Ctx<'a>,
    fails: Vec<String>,
}

impl Checks<'_, '_> {
    /// Records a failure unless `ok`: `file:line:col: field = found; fix`.
    pub fn expect(
        &mut self,
        ok: bool,
        field: &str,
        found: impl fmt::Display,
        fix: impl fmt::Display,
    ) -> &mut Self {
        if !ok {
            self.fails
                .push(format!("{}: {field} = {found}; {fix}", self.ctx.at(field)));
        }
        self
    }

    /// Records a failure about a field without quoting its value (secrets).
    pub fn expect_about(&mut self, ok: bool, field: &str, what: impl fmt::Display) -> &mut Self {
        if !ok {
            self.fails
                .push(format!("{}: {field}: {what}", self.ctx.at(field)));
        }
        self
    }

    pub fn failed(&self) -> bool {
        !self.fails.is_empty()
    }

    /// `Ok(note)` when nothing failed.
    pub fn verdict(self, note: impl Into<String>) -> Verdict {
        if self.fails.is_empty() {
            Verdict::Ok(note.into())
        } else {
            Verdict::Fail(self.fails)
        }
    }
}

/// A profile value as TOML would show it (`"dhcp"`, `false`, `2048`, `(absent)`).
pub fn val<T: Serialize + ?Sized>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::Null) => "(absent)".to_owned(),
        Ok(v) => v.to_string(),
        Err(_) => "(unprintable)".to_owned(),
    }
}
