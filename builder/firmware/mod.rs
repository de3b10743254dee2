//! The firmware lock of §30, as code: the plan ([`plan`]) a build writes as `firmware-plan.json`, and the
//! commands that set it through a BMC's Redfish service ([`apply`]) and check it ([`audit`]).
//!
//! The plan holds what a BMC accepts (DMTF property and action names, the site's certificates in PEM) and, per
//! setting, the firmware-setup step for a machine whose BMC does not expose it. It names secrets, never holds
//! them. Boot option references (`Boot0001`) are not in the plan: they belong to the BMC, so `apply` and `audit`
//! find the installed disk among the BMC's `BootOptions` by the plan's rule ([`boot`]).
//!
//! Layers: [`redfish`] (requests, DMTF errors, typed fields) → [`observe`] (what the BMC says, read-only) →
//! [`audit`] (verdict per setting) and [`apply`] (write what differs, read back). [`keys`] reads the site's
//! Secure Boot certificates. Not here: generating those keys (`forja keygen --secure-boot`), sessions
//! (`X-Auth-Token`) and ETags (`If-Match`): basic authentication only, which every Redfish service offers.

pub mod apply;
pub mod audit;
pub mod boot;
pub mod keys;
pub mod observe;
pub mod plan;
pub mod redfish;

#[cfg(test)]
mod fake;

pub use plan::{FirmwarePlan, PLAN_FILE, RULES, plan};

#[cfg(test)]
mod tests;
