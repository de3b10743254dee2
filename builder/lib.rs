//! forja: signed, reproducible install media for a hardened KVM host running Pexip Infinity, following the
//! Spanish secure-use guide CCN-STIC 1616.
//!
//! The modules follow the pipeline in DESIGN.md: a profile is loaded and validated ([`profile`]), checked against
//! the guide's rules ([`policy`]), resolved into an explicit plan, and executed into signed artifacts.

pub mod artifact;
pub mod build;
pub mod cli;
pub mod compose;
pub mod compress;
pub mod disk;
pub mod error;
pub mod exec;
pub mod firmware;
pub mod fs;
pub mod hashio;
pub mod ids;
pub mod inputs;
pub mod licence;
pub mod media;
pub mod nodes;
pub mod pexip;
pub mod policy;
pub mod profile;
pub mod sbom;
pub mod sign;
pub mod ui;
