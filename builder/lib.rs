//! forja: signed, reproducible install media for a hardened KVM host running Pexip Infinity, following the
//! Spanish secure-use guide CCN-STIC 1616.
//!
//! The modules follow the pipeline in DESIGN.md: a profile is loaded and validated ([`profile`]), checked against
//! the guide's rules ([`policy`]), resolved into an explicit [`plan`], and executed ([`pipeline`]) through the
//! stages [`inputs`] → [`compose`] → [`fs`]/[`boot`] → [`disk`] → [`sign`]; [`media`] makes the site's installers
//! from a signed build. Imports run one way along that line; [`pipeline`] alone knows every stage.

/// forja's version and the git commit it was built from (`build.rs`): what `--version`, the SBOM and
/// `report.html` name, since media embed the running binary.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FORJA_GIT_COMMIT"),
    ")"
);
/// The git commit alone (`unknown` outside a git checkout without `FORJA_GIT_COMMIT`).
pub const GIT_COMMIT: &str = env!("FORJA_GIT_COMMIT");

pub mod archive;
pub mod artifact;
pub mod boot;
pub mod certs;
pub mod cli;
pub mod compose;
pub mod compress;
pub mod crypt;
pub mod diff;
pub mod disk;
pub mod error;
pub mod exec;
pub mod firmware;
pub mod fs;
pub mod hashio;
pub mod ids;
pub mod inbound;
pub mod inputs;
pub mod licence;
pub mod lock;
pub mod media;
pub mod nodes;
pub mod pexip;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod process;
pub mod profile;
pub mod report;
pub mod sbom;
pub mod secureboot;
pub mod sign;
pub mod ui;
pub mod update;
