//! Reading what the BMC says about one system: its boot settings and boot options, the BIOS password action,
//! Secure Boot and its key databases. Read-only; `audit` judges this, `apply` changes what differs.
//!
//! Everything is discovered from the service's own links: `/redfish/v1` → `Systems` → the system → `Bios`,
//! `SecureBoot` → `SecureBootDatabases`, `Boot.BootOptions`. A resource the BMC does not link (or answers 404 for)
//! is `None`: "not exposed by this BMC", which `audit` reports as MANUAL, never as a failure.

use super::keys::{self, Database};
use super::redfish::{Redfish, Resource, members};
use crate::error::{Exit, fail};
use crate::hashio::Sha256;

/// The system as the BMC reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The system's `@odata.id`.
    pub system: String,
    pub power_state: Option<String>,
    pub boot: Boot,
    pub bios: Option<Bios>,
    pub secure_boot: Option<SecureBoot>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Boot {
    /// `Boot.BootOrder`; `None`: the BMC has no persistent boot order.
    pub order: Option<Vec<String>>,
    /// The `BootOptions` collection; `None`: not exposed.
    pub options: Option<Vec<BootOption>>,
    pub override_enabled: Option<String>,
    pub override_target: Option<String>,
    /// `BootSourceOverrideTarget@Redfish.AllowableValues`.
    pub override_allowed: Option<Vec<String>>,
}

/// A Redfish `BootOption`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootOption {
    pub path: String,
    pub reference: String,
    pub alias: Option<String>,
    pub display_name: Option<String>,
    pub uefi_device_path: Option<String>,
    /// `BootOptionEnabled`; `None`: not exposed (the option's only lever is its place in `BootOrder`).
    pub enabled: Option<bool>,
}

impl BootOption {
    /// `Boot0001 (Hdd, "disk sata sda")`, for people.
    pub fn describe(&self) -> String {
        let mut s = self.reference.clone();
        let mut inner = Vec::new();
        if let Some(a) = &self.alias {
            inner.push(a.clone());
        }
        if let Some(d) = &self.display_name {
            inner.push(format!("{d:?}"));
        }
        if !inner.is_empty() {
            s.push_str(&format!(" ({})", inner.join(", ")));
        }
        s
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bios {
    pub path: String,
    /// `Actions["#Bios.ChangePassword"].target`.
    pub change_password: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecureBoot {
    pub path: String,
    pub enable: Option<bool>,
    pub current_boot: Option<String>,
    pub mode: Option<String>,
    /// `Actions["#SecureBoot.ResetKeys"].target`.
    pub reset_keys: Option<String>,
    /// PK, KEK and db, when the BMC offers `SecureBootDatabases`.
    pub databases: Option<Vec<KeyDatabase>>,
}

impl SecureBoot {
    pub fn database(&self, db: Database) -> Option<&KeyDatabase> {
        self.databases.as_ref()?.iter().find(|d| d.database == db)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDatabase {
    pub database: Database,
    pub path: String,
    /// The `Certificates` collection (where a POST enrols one).
    pub certificates_path: Option<String>,
    pub certificates: Vec<Certificate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub path: String,
    /// SHA-256 of the DER certificate; `None` when the BMC's `CertificateString` is missing or not PEM.
    pub sha256: Option<Sha256>,
    pub subject: Option<String>,
}

/// The system's path: the only member of `Systems`, or the one `wanted` names (its `Id` or `@odata.id`).
pub fn find_system(rf: &Redfish, wanted: Option<&str>) -> anyhow::Result<String> {
    let root = rf.get("/redfish/v1")?;
    let systems = Resource::new("/redfish/v1", &root)
        .link("Systems")?
        .ok_or_else(|| {
            fail(
                Exit::Remote,
                "GET /redfish/v1: the service links no `Systems` collection",
            )
        })?;
    let all = members(rf, &systems)?;
    let pick: Vec<&String> = match wanted {
        Some(w) => all
            .iter()
            .filter(|m| *m == w || m.trim_end_matches('/').rsplit('/').next() == Some(w))
            .collect(),
        None => all.iter().collect(),
    };
    match pick.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(fail(
            if wanted.is_some() {
                Exit::Input
            } else {
                Exit::Remote
            },
            format!(
                "GET {systems}: {} system(s) {}; pick one with --system ID (members: {})",
                pick.len(),
                wanted.map_or("in the collection".to_owned(), |w| format!("match `{w}`")),
                all.join(", ")
            ),
        )),
    }
}

/// Reads everything forja judges about `system`.
pub fn observe(rf: &Redfish, system: &str) -> anyhow::Result<Observed> {
    let v = rf.get(system)?;
    let r = Resource::new(system, &v);
    let options_link = r.link("Boot.BootOptions")?;
    let boot = Boot {
        order: r.strings("Boot.BootOrder")?,
        options: match options_link {
            Some(p) => boot_options(rf, &p)?,
            None => None,
        },
        override_enabled: r.str("Boot.BootSourceOverrideEnabled")?,
        override_target: r.str("Boot.BootSourceOverrideTarget")?,
        override_allowed: r.strings("Boot.BootSourceOverrideTarget@Redfish.AllowableValues")?,
    };
    let bios = match r.link("Bios")? {
        Some(p) => rf.get_if_exists(&p)?.map(|b| -> anyhow::Result<Bios> {
            Ok(Bios {
                change_password: Resource::new(&p, &b).action("#Bios.ChangePassword")?,
                path: p.clone(),
            })
        }),
        None => None,
    }
    .transpose()?;
    let secure_boot = match r.link("SecureBoot")? {
        Some(p) => secure_boot(rf, &p)?,
        None => None,
    };
    Ok(Observed {
        system: system.to_owned(),
        power_state: r.str("PowerState")?,
        boot,
        bios,
        secure_boot,
    })
}

fn boot_options(rf: &Redfish, path: &str) -> anyhow::Result<Option<Vec<BootOption>>> {
    if rf.get_if_exists(path)?.is_none() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for m in members(rf, path)? {
        let v = rf.get(&m)?;
        let r = Resource::new(&m, &v);
        out.push(BootOption {
            reference: r.str("BootOptionReference")?.ok_or_else(|| {
                fail(
                    Exit::Remote,
                    format!("GET {m}: the boot option has no `BootOptionReference`"),
                )
            })?,
            alias: r.str("Alias")?,
            display_name: r.str("DisplayName")?,
            uefi_device_path: r.str("UefiDevicePath")?,
            enabled: r.bool("BootOptionEnabled")?,
            path: m,
        });
    }
    Ok(Some(out))
}

fn secure_boot(rf: &Redfish, path: &str) -> anyhow::Result<Option<SecureBoot>> {
    let Some(v) = rf.get_if_exists(path)? else {
        return Ok(None);
    };
    let r = Resource::new(path, &v);
    let databases = match r.link("SecureBootDatabases")? {
        Some(p) => key_databases(rf, &p)?,
        None => None,
    };
    Ok(Some(SecureBoot {
        path: path.to_owned(),
        enable: r.bool("SecureBootEnable")?,
        current_boot: r.str("SecureBootCurrentBoot")?,
        mode: r.str("SecureBootMode")?,
        reset_keys: r.action("#SecureBoot.ResetKeys")?,
        databases,
    }))
}

fn key_databases(rf: &Redfish, path: &str) -> anyhow::Result<Option<Vec<KeyDatabase>>> {
    if rf.get_if_exists(path)?.is_none() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for m in members(rf, path)? {
        let v = rf.get(&m)?;
        let r = Resource::new(&m, &v);
        let id = r.str("DatabaseId")?.or(r.str("Id")?).unwrap_or_default();
        let Some(database) = [Database::Pk, Database::Kek, Database::Db]
            .into_iter()
            .find(|d| d.id() == id)
        else {
            continue; // dbx and the read-only *Default copies: forja does not manage them
        };
        let certificates_path = r.link("Certificates")?;
        let certificates = match &certificates_path {
            Some(p) => certificates(rf, p)?,
            None => Vec::new(),
        };
        out.push(KeyDatabase {
            database,
            path: m,
            certificates_path,
            certificates,
        });
    }
    Ok(Some(out))
}

fn certificates(rf: &Redfish, path: &str) -> anyhow::Result<Vec<Certificate>> {
    let mut out = Vec::new();
    for m in members(rf, path)? {
        let v = rf.get(&m)?;
        let r = Resource::new(&m, &v);
        let pem = r.str("CertificateString")?;
        out.push(Certificate {
            sha256: pem.as_deref().and_then(|p| keys::fingerprint(p).ok()),
            subject: r.str("Subject.CommonName")?.map(|cn| format!("CN={cn}")),
            path: m,
        });
    }
    Ok(out)
}
