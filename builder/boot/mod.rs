//! EFI boot binaries forja builds: unified kernel images ([`uki`]) for the host's slots and for the installers.
//! Signing them with the site's db key is [`crate::secureboot`]'s.

pub mod pe;
pub mod pe_append;
pub mod uki;
