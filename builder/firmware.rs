//! The firmware plan (§30): BIOS/UEFI settings a disk image cannot carry, as the Redfish requests a BMC needs.
//!
//! forja never talks to the BMC itself: the plan is a reviewed artifact that the operator (or the site's own
//! tooling) applies, and the compliance report lists it as a MANUAL step. Passwords appear as secret references.
//! Paths follow the DMTF Redfish schema (`Bios.ChangePassword`, `ComputerSystem.Boot`, `SecureBoot`); the system
//! id differs per vendor, so it is `{system}` here, to be taken from `GET /redfish/v1/Systems`.

use serde::Serialize;

use crate::profile::Loaded;

/// The firmware plan's file name in a build's output folder.
pub const PLAN_FILE: &str = "firmware-plan.json";

#[derive(Debug, Clone, Serialize)]
pub struct FirmwarePlan {
    pub endpoint: Option<String>,
    pub requests: Vec<RedfishRequest>,
    /// The same settings as steps for a machine without a BMC.
    pub manual_steps: Vec<String>,
    pub rules: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RedfishRequest {
    pub method: &'static str,
    pub path: String,
    pub body: serde_json::Value,
    pub purpose: String,
}

pub fn plan(l: &Loaded) -> FirmwarePlan {
    let fw = &l.profile.boot.firmware;
    let mut requests = Vec::new();
    let mut steps = Vec::new();
    if let Some(pw) = &fw.admin_password {
        requests.push(RedfishRequest {
            method: "POST",
            path: "/redfish/v1/Systems/{system}/Bios/Actions/Bios.ChangePassword".into(),
            body: serde_json::json!({
                "PasswordName": "AdminPassword",
                "OldPassword": {"secret": "current BIOS admin password (ask the vendor default if none)"},
                "NewPassword": {"secret": pw.name()},
            }),
            purpose: "set the firmware administrator password (§30)".into(),
        });
        steps.push(format!(
            "Set the BIOS/UEFI administrator password to the value of secret `{}` (sealed envelope).",
            pw.name()
        ));
    }
    requests.push(RedfishRequest {
        method: "PATCH",
        path: "/redfish/v1/Systems/{system}".into(),
        body: serde_json::json!({
            "Boot": {
                "BootSourceOverrideEnabled": "Disabled",
                "BootOrder": fw.boot_order,
            }
        }),
        purpose: "boot only from the installed disk, no one-time override (§30)".into(),
    });
    steps.push(format!(
        "Set the boot order to {} and disable boot from removable media and network once installed.",
        fw.boot_order.join(", ")
    ));
    requests.push(RedfishRequest {
        method: "PATCH",
        path: "/redfish/v1/Systems/{system}/SecureBoot".into(),
        body: serde_json::json!({ "SecureBootEnable": fw.secure_boot }),
        purpose: "Secure Boot state".into(),
    });
    steps.push(format!(
        "Secure Boot: {}.",
        if fw.secure_boot {
            "enabled"
        } else {
            "disabled"
        }
    ));
    FirmwarePlan {
        endpoint: fw.redfish_endpoint.as_ref().map(|e| e.to_string()),
        requests,
        manual_steps: steps,
        rules: vec!["1616-4.6.b"],
    }
}
