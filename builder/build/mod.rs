//! `forja plan` and `forja build`: the profile resolved into an explicit plan, then executed into signed
//! artifacts.
//!
//! The plan is the contract between "decide" and "do": everything that can be decided without building (the base
//! source, packages, every generated file with its hash, partitions with types and GUIDs, the artifacts) is in
//! [`plan::Plan`]. Sizes that depend on the built tree (root filesystem, payload) are measured during the build
//! and the complete plan is written to `plan.json` in the output.

pub mod enforced;
pub mod nodes;
pub mod plan;
pub mod run;
pub mod seed;

pub use plan::{Plan, resolve};
pub use run::{BuildOptions, build};
