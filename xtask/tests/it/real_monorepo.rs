//! The real monorepo's last commit (`../shared/edge-cloud-infra-head`), copied
//! into a temporary git repository: what the humans shipped must pass, their
//! ordinary commits must get through the hook, and every command must run on
//! it. Skipped with a notice where `../shared` is absent; never under CI.

mod build_image;
mod build_package;
mod bump_base_image;
mod check;
mod publish_image;
mod release;
