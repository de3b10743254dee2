//! The independent SPDX validator: `pyspdxtools` (PyPI `spdx-tools`, the SPDX project's reference library),
//! installed by `ci/install-deps` into the shared test venv.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub const PYSPDXTOOLS: &str = "/opt/forja-test/venv/bin/pyspdxtools";

/// Validates an SPDX document; panics with the validator's messages when it refuses it.
pub fn validate(doc: &Path) {
    assert!(
        Path::new(PYSPDXTOOLS).exists(),
        "{PYSPDXTOOLS} is missing: run ci/install-deps (it installs spdx-tools into /opt/forja-test/venv)"
    );
    let o = Command::new(PYSPDXTOOLS)
        .arg("-i")
        .arg(doc)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success()
            && !said.contains("ValidationMessage")
            && !said.to_lowercase().contains("invalid"),
        "pyspdxtools refused {}:\n{said}",
        doc.display()
    );
}
