//! The deployment profile: model, loading, secrets and value types.

pub mod load;
pub mod model;
pub mod net;
pub mod secrets;

pub use load::{FieldPath, Loaded, SecretsNeed, load};
pub use model::Profile;
