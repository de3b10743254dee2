//! Helpers shared by the boot tests: the QEMU/swtpm harness and the report parser/checker.
//! Included with `#[allow(dead_code)] mod support;` by each test crate that needs it.

pub mod bootproof;
pub mod lab;
pub mod qemu;
pub mod report;
pub mod report_host;
pub mod site_files;
pub mod site_lab;
pub mod tamper;
