//! Debian packaging knowledge the xtask needs: version ordering as dpkg does
//! it, repository `Packages` indexes, and apt's unmet-dependency reports.

pub mod apt_report;
pub mod packages_index;
pub mod version;
