//! forja: signed, reproducible install media for a hardened KVM host running Pexip Infinity, following the
//! Spanish secure-use guide CCN-STIC 1616.
//!
//! The modules follow the pipeline in DESIGN.md: a profile is loaded and validated ([`profile`]), checked against
//! the guide's rules ([`policy`]), resolved into an explicit [`plan`], and executed ([`pipeline`]) through the
//! stages [`inputs`] → [`compose`] → [`fs`]/[`boot`] → [`disk`] → [`sign`]; [`media`] makes the site's installers
//! from a signed build. Imports run one way along that line; [`pipeline`] alone knows every stage.

pub mod archive;
pub mod artifact;
pub mod boot;
pub mod cli;
pub mod compose;
pub mod compress;
pub mod crypt;
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
pub mod sbom;
pub mod sign;
pub mod ui;
