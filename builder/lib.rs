//! forja: signed, reproducible install media for a hardened KVM host running Pexip Infinity, following the
//! Spanish secure-use guide CCN-STIC 1616.
//!
//! The modules follow the pipeline in DESIGN.md: a profile is loaded and validated ([`profile`]), checked against
//! the guide's rules ([`policy`]), resolved into an explicit plan, and executed into signed artifacts.

pub mod artifact;
pub mod cli;
pub mod error;
pub mod exec;
pub mod hashio;
pub mod nodes;
pub mod ui;
