//! The end-to-end tests, linked once: each module drives the built `xtask`
//! binary on copies of monorepo trees (the rendition, its overlays, the real
//! monorepo's last commit) with real git, make, dpkg-deb and packer, and fake
//! cloud tools from `fixtures/bin`.
#![allow(clippy::disallowed_methods)] // tests and benchmarks arrange their own trees and run the built binary

mod common;

mod build_image;
mod build_package;
mod bump_base_image;
mod check;
mod chef_policy;
mod chef_push;
mod deps;
mod deps_snapshot;
mod doctor;
mod faults;
mod hostile;
mod mentions;
mod publish_image;
mod real_monorepo;
mod release;
mod terminal;
mod versions;
mod write_fault;
