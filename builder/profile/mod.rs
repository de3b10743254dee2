//! The deployment profile: model, loading, secrets and value types.

pub mod convert;
pub mod init;
pub mod install;
pub mod load;
pub mod model;
pub mod names;
pub mod net;
pub mod paths;
pub mod secrets;
pub mod serial;
pub mod site;
pub mod size;
pub mod toml_path;

pub use load::{FieldPath, Loaded, SecretsNeed, load};
pub use model::Profile;
