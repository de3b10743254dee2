//! `[install]`: how the site installer picks the disk it writes (`forja media`). Parsed and checked with the
//! rest of the profile, so a typo fails `forja check`, not the installer at the site.

use serde::{Deserialize, Serialize};

use super::size::ByteSize;

/// `[install]`: the installer's rules. Optional; without it the installer takes the only non-removable disk that
/// is not its own medium, and refuses when there are several.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Install {
    /// `target = { min-size = "100G", model = "...", serial = "..." }`: every given field must match, and exactly
    /// one disk may match.
    #[serde(default)]
    pub target: TargetRule,
}

/// `[install] target = { min-size = "100G", model = "...", serial = "..." }`: every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetRule {
    /// Smallest acceptable size, e.g. `"100G"` ([`ByteSize`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<ByteSize>,
    /// The disk's model as the kernel reports it (`/sys/block/X/device/model`), exact after trimming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The disk's serial number, exact after trimming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl TargetRule {
    pub fn is_empty(&self) -> bool {
        self.min_size.is_none() && self.model.is_none() && self.serial.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_parses_typed_and_refuses_unknown_fields_and_bad_sizes() {
        let i: Install =
            toml::from_str("target = { min-size = \"100G\", serial = \"S1\" }").unwrap();
        assert_eq!(i.target.min_size, Some(ByteSize(100 << 30)));
        assert!(toml::from_str::<Install>("target = { size = \"1G\" }").is_err());
        let err = toml::from_str::<Install>("target = { min-size = \"100GB\" }").unwrap_err();
        assert!(err.to_string().contains("unknown unit"), "{err}");
    }
}
