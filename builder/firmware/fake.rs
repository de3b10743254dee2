//! An in-memory Redfish BMC for the unit tests of `apply` and `audit`: DMTF shapes, strict about what it accepts
//! (unknown properties and wrong types get 400 with a DMTF error), every request logged.
//!
//! Two flavours: [`Flavour::Dmtf`] behaves like a BMC that keeps every option in `BootOrder` and switches them
//! off with `BootOptionEnabled` (the test stand-in over libvirt does the other thing: it drops them from the
//! order), with `Bios.ChangePassword` and `SecureBootDatabases`; [`Flavour::SushyLike`] has only what
//! sushy-tools 2.2.0 has (override target, `SecureBootEnable`, a listed but missing `ChangePassword`).

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::keys::{self, Database};
use super::redfish::{Reply, Transport};

const SYS: &str = "/redfish/v1/Systems/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Dmtf,
    SushyLike,
}

#[derive(Debug, Clone)]
pub struct State {
    pub order: Vec<String>,
    pub enabled: BTreeMap<String, bool>,
    pub override_enabled: String,
    pub override_target: String,
    pub password: String,
    pub sb_enable: bool,
    pub dbs: BTreeMap<Database, Vec<String>>,
    pub power: String,
}

#[derive(Debug)]
pub struct Fake {
    pub flavour: Flavour,
    pub state: RefCell<State>,
    /// Every request: method, path, body.
    pub log: RefCell<Vec<(String, String, Option<Value>)>>,
}

/// (reference, alias, display name, device path)
const OPTIONS: [(&str, &str, &str, &str); 4] = [
    (
        "Boot0001",
        "Pxe",
        "UEFI PXEv4 NIC1",
        "PciRoot(0x0)/Pci(0x3,0x0)/MAC(525400161601,0x1)/IPv4(0.0.0.0)",
    ),
    (
        "Boot0002",
        "Cd",
        "UEFI DVD-ROM",
        "PciRoot(0x0)/Pci(0x1F,0x2)/Sata(2,0xFFFF,0x0)",
    ),
    (
        "Boot0003",
        "Hdd",
        "UEFI NVMe SAMSUNG MZ7L3960",
        "PciRoot(0x0)/Pci(0x1D,0x0)/NVMe(0x1,00-00-00-00-00-00-00-00)",
    ),
    (
        "Boot0004",
        "Usb",
        "UEFI USB Stick",
        "PciRoot(0x0)/Pci(0x14,0x0)/USB(0x1,0x0)",
    ),
];

fn err(status: u16, id: &str, prop: &str) -> Reply {
    let body = json!({"error": {"code": format!("Base.1.16.{id}"), "message": id,
        "@Message.ExtendedInfo": [{"MessageId": format!("Base.1.16.{id}"), "Message": format!("{id} at {prop}"),
        "RelatedProperties": [prop]}]}});
    Reply {
        status,
        body: body.to_string(),
        location: None,
    }
}

fn ok(v: Value) -> Reply {
    Reply {
        status: 200,
        body: v.to_string(),
        location: None,
    }
}

fn no_content() -> Reply {
    Reply {
        status: 204,
        body: String::new(),
        location: None,
    }
}

impl Fake {
    /// A system as it arrives from the factory: network first, no password, Secure Boot off with vendor keys.
    pub fn new(flavour: Flavour, vendor_pem: &str) -> Fake {
        let order: Vec<String> = ["Boot0001", "Boot0002", "Boot0003", "Boot0004"]
            .map(String::from)
            .to_vec();
        let dbs = [Database::Pk, Database::Kek, Database::Db]
            .into_iter()
            .map(|d| (d, vec![vendor_pem.to_owned()]))
            .collect();
        Fake {
            flavour,
            state: RefCell::new(State {
                enabled: order.iter().map(|r| (r.clone(), true)).collect(),
                order,
                override_enabled: if flavour == Flavour::Dmtf {
                    "Disabled"
                } else {
                    "Continuous"
                }
                .into(),
                override_target: "Pxe".into(),
                password: String::new(),
                sb_enable: false,
                dbs,
                power: "Off".into(),
            }),
            log: RefCell::new(Vec::new()),
        }
    }

    /// Requests other than GET.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.log
            .borrow()
            .iter()
            .filter(|(m, _, _)| m != "GET")
            .map(|(m, p, _)| (m.clone(), p.clone()))
            .collect()
    }

    fn system(&self) -> Value {
        let s = self.state.borrow();
        let mut boot = json!({
            "BootSourceOverrideEnabled": s.override_enabled,
            "BootSourceOverrideTarget": s.override_target,
            "BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Cd", "Hdd", "Usb"],
        });
        if self.flavour == Flavour::Dmtf {
            boot["BootOrder"] = json!(s.order);
            boot["BootOptions"] = json!({"@odata.id": format!("{SYS}/BootOptions")});
        }
        json!({"@odata.id": SYS, "Id": "1", "PowerState": s.power, "Boot": boot,
            "Bios": {"@odata.id": format!("{SYS}/Bios")},
            "SecureBoot": {"@odata.id": format!("{SYS}/SecureBoot")}})
    }

    fn patch_system(&self, body: &Value) -> Reply {
        let Some(boot) = body.get("Boot").and_then(Value::as_object) else {
            return err(400, "PropertyUnknown", "#/");
        };
        if body.as_object().is_some_and(|o| o.len() != 1) {
            return err(400, "PropertyUnknown", "#/");
        }
        let mut s = self.state.borrow_mut();
        for (k, v) in boot {
            match (k.as_str(), v) {
                ("BootOrder", Value::Array(a)) if self.flavour == Flavour::Dmtf => {
                    let refs: Vec<String> = a
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect();
                    if refs.len() != a.len() || refs.iter().any(|r| !s.enabled.contains_key(r)) {
                        return err(400, "PropertyValueNotInList", "#/Boot/BootOrder");
                    }
                    // This BMC wants a permutation of every option.
                    if refs.len() != s.enabled.len() {
                        return err(400, "PropertyValueIncorrect", "#/Boot/BootOrder");
                    }
                    s.order = refs;
                }
                ("BootSourceOverrideEnabled", Value::String(e)) => s.override_enabled = e.clone(),
                ("BootSourceOverrideTarget", Value::String(t)) => s.override_target = t.clone(),
                _ => return err(400, "PropertyUnknown", &format!("#/Boot/{k}")),
            }
        }
        no_content()
    }

    fn boot_option(&self, r: &str, method: &str, body: Option<&Value>) -> Reply {
        let Some((r, alias, name, path)) = OPTIONS.iter().find(|o| o.0 == r) else {
            return err(404, "ResourceNotFound", "#/");
        };
        if method == "PATCH" {
            return match body.and_then(|b| b.get("BootOptionEnabled")) {
                Some(Value::Bool(e)) if body.is_some_and(|b| b.as_object().unwrap().len() == 1) => {
                    self.state.borrow_mut().enabled.insert((*r).to_owned(), *e);
                    no_content()
                }
                _ => err(400, "PropertyValueTypeError", "#/BootOptionEnabled"),
            };
        }
        let enabled = self.state.borrow().enabled[*r];
        ok(
            json!({"@odata.id": format!("{SYS}/BootOptions/{r}"), "Id": r, "BootOptionReference": r,
            "Alias": alias, "DisplayName": name, "UefiDevicePath": path, "BootOptionEnabled": enabled}),
        )
    }

    fn change_password(&self, body: &Value) -> Reply {
        if self.flavour == Flavour::SushyLike {
            return err(404, "ResourceNotFound", "#/");
        }
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(name), Some(old), Some(new)) = (
            field("PasswordName"),
            field("OldPassword"),
            field("NewPassword"),
        ) else {
            return err(400, "ActionParameterMissing", "#/");
        };
        if name != "AdminPassword" || body.as_object().unwrap().len() != 3 {
            return err(400, "ActionParameterNotSupported", "#/PasswordName");
        }
        let mut s = self.state.borrow_mut();
        if old != s.password {
            return err(400, "ActionParameterValueError", "#/OldPassword");
        }
        s.password = new;
        no_content()
    }

    fn secure_boot(&self, method: &str, body: Option<&Value>) -> Reply {
        if method == "PATCH" {
            return match body.and_then(|b| b.get("SecureBootEnable")) {
                Some(Value::Bool(e)) => {
                    self.state.borrow_mut().sb_enable = *e;
                    no_content()
                }
                _ => err(400, "PropertyValueTypeError", "#/SecureBootEnable"),
            };
        }
        let s = self.state.borrow();
        let mut v = json!({"@odata.id": format!("{SYS}/SecureBoot"), "SecureBootEnable": s.sb_enable,
            "SecureBootCurrentBoot": "Disabled",
            "SecureBootMode": if s.dbs[&Database::Pk].is_empty() { "SetupMode" } else { "UserMode" }});
        if self.flavour == Flavour::Dmtf {
            v["SecureBootDatabases"] =
                json!({"@odata.id": format!("{SYS}/SecureBoot/SecureBootDatabases")});
            v["Actions"] = json!({"#SecureBoot.ResetKeys": {"target": format!("{SYS}/SecureBoot/Actions/SecureBoot.ResetKeys")}});
        }
        ok(v)
    }

    fn databases(&self, rest: &str, method: &str, body: Option<&Value>) -> Reply {
        let base = format!("{SYS}/SecureBoot/SecureBootDatabases");
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let db_of = |id: &str| {
            [Database::Pk, Database::Kek, Database::Db]
                .into_iter()
                .find(|d| d.id() == id)
        };
        match parts.as_slice() {
            [] => {
                let members =
                    ["PK", "KEK", "db", "dbx"].map(|d| json!({"@odata.id": format!("{base}/{d}")}));
                ok(json!({ "Members": members }))
            }
            ["dbx"] => ok(json!({"Id": "dbx", "DatabaseId": "dbx"})),
            [id] => ok(json!({"Id": id, "DatabaseId": id,
                "Certificates": {"@odata.id": format!("{base}/{id}/Certificates")}})),
            [id, "Certificates"] => {
                let Some(db) = db_of(id) else {
                    return err(404, "ResourceNotFound", "#/");
                };
                if method == "POST" {
                    let b = body.cloned().unwrap_or_default();
                    let pem = b
                        .get("CertificateString")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if b.get("CertificateType") != Some(&json!("PEM"))
                        || keys::pem_to_der(pem).is_err()
                    {
                        return err(400, "PropertyValueFormatError", "#/CertificateString");
                    }
                    self.state
                        .borrow_mut()
                        .dbs
                        .get_mut(&db)
                        .unwrap()
                        .push(pem.to_owned());
                    return Reply {
                        status: 201,
                        body: "{}".into(),
                        location: Some(format!("{base}/{id}/Certificates/9")),
                    };
                }
                let n = self.state.borrow().dbs[&db].len();
                let members: Vec<Value> = (1..=n)
                    .map(|i| json!({"@odata.id": format!("{base}/{id}/Certificates/{i}")}))
                    .collect();
                ok(json!({ "Members": members }))
            }
            [id, "Certificates", n] => {
                let s = self.state.borrow();
                let pem = db_of(id).and_then(|d| {
                    s.dbs[&d]
                        .get(n.parse::<usize>().ok()?.checked_sub(1)?)
                        .cloned()
                });
                match pem {
                    Some(p) => ok(
                        json!({"CertificateString": p, "CertificateType": "PEM", "Subject": {"CommonName": id}}),
                    ),
                    None => err(404, "ResourceNotFound", "#/"),
                }
            }
            _ => err(404, "ResourceNotFound", "#/"),
        }
    }

    fn reset_keys(&self, body: &Value) -> Reply {
        if body != &json!({"ResetKeysType": "DeleteAllKeys"}) {
            return err(400, "ActionParameterNotSupported", "#/ResetKeysType");
        }
        for v in self.state.borrow_mut().dbs.values_mut() {
            v.clear();
        }
        no_content()
    }
}

impl Transport for Fake {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Reply> {
        self.log
            .borrow_mut()
            .push((method.into(), path.into(), body.cloned()));
        let b = body.cloned().unwrap_or(Value::Null);
        let options = || {
            let members: Vec<Value> = OPTIONS
                .iter()
                .map(|o| json!({"@odata.id": format!("{SYS}/BootOptions/{}", o.0)}))
                .collect();
            ok(json!({"Members": members}))
        };
        Ok(match (method, path) {
            ("GET", "/redfish/v1") => ok(json!({"Systems": {"@odata.id": "/redfish/v1/Systems"}})),
            ("GET", "/redfish/v1/Systems") => ok(json!({"Members": [{"@odata.id": SYS}]})),
            ("GET", SYS) => ok(self.system()),
            ("PATCH", SYS) => self.patch_system(&b),
            ("GET", p) if p == format!("{SYS}/Bios") => {
                ok(json!({"Actions": {"#Bios.ChangePassword":
                {"target": format!("{SYS}/Bios/Actions/Bios.ChangePassword")}}}))
            }
            ("POST", p) if p == format!("{SYS}/Bios/Actions/Bios.ChangePassword") => {
                self.change_password(&b)
            }
            (m, p) if p == format!("{SYS}/SecureBoot") => self.secure_boot(m, body),
            ("POST", p)
                if p == format!("{SYS}/SecureBoot/Actions/SecureBoot.ResetKeys")
                    && self.flavour == Flavour::Dmtf =>
            {
                self.reset_keys(&b)
            }
            (m, p)
                if self.flavour == Flavour::Dmtf
                    && p.starts_with(&format!("{SYS}/SecureBoot/SecureBootDatabases")) =>
            {
                self.databases(
                    &p[format!("{SYS}/SecureBoot/SecureBootDatabases").len()..],
                    m,
                    body,
                )
            }
            ("GET", p) if self.flavour == Flavour::Dmtf && p == format!("{SYS}/BootOptions") => {
                options()
            }
            (m, p)
                if self.flavour == Flavour::Dmtf
                    && p.starts_with(&format!("{SYS}/BootOptions/")) =>
            {
                self.boot_option(&p[format!("{SYS}/BootOptions/").len()..], m, body)
            }
            _ => err(404, "ResourceNotFound", "#/"),
        })
    }
}
