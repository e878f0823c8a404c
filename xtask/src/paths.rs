//! Every path the xtask knows, relative to the monorepo root. A leaf module:
//! the runner (its logs) and the sites (the files they read) both need these,
//! and neither may depend on the other.

pub const PACKAGE_DIR: &str = "openstack-tenant/packages/mobiledgex";
pub const MAKEFILE: &str = "openstack-tenant/packages/mobiledgex/Makefile";
pub const DEPENDENCIES: &str = "openstack-tenant/packages/mobiledgex/dependencies";
/// The old split layout, refused with an explanation.
pub const SPLIT_DEPENDENCIES: &str = "openstack-tenant/packages/mobiledgex/dependencies.common";
pub const PROPS_GO: &str = "vmlayer/props.go";
pub const PACKAGE_VERSION_GO: &str = "version/package-version.go";
pub const PACKER_DIR: &str = "openstack-tenant/packer";
pub const PACKER_BUILD_SH: &str = "openstack-tenant/packer/build.sh";
/// What the package's Makefile runs to make the .deb.
pub const PACKAGE_BUILD_SH: &str = "openstack-tenant/packages/build.sh";
/// The packer template, in PACKER_DIR (packer runs there).
pub const PACKER_TEMPLATE: &str = "packer_template.mobiledgex.json";
pub const DOCKER_IMAGE_CACHE: &str = "openstack-tenant/packer/docker-image-cache.txt";
pub const CHEF_DIR: &str = "chef";
pub const COOKBOOKS_DIR: &str = "chef/cookbooks";
pub const POLICYFILES_DIR: &str = "chef/policyfiles";
pub const UPGRADE_COOKBOOK: &str = "upgrade_mobiledgex_package";
pub const RECIPE: &str = "chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb";
pub const ATTRIBUTES: &str = "chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb";
pub const BASE_POLICY: &str = "chef/policyfiles/base.rb";
pub const BASE_LOCK: &str = "chef/policyfiles/base.lock.json";
/// Where the xtask keeps logs and release state (ignored by git).
pub const XTASK_STATE_DIR: &str = "target/xtask";

pub fn cookbook_dir(name: &str) -> String {
    format!("{COOKBOOKS_DIR}/{name}")
}

pub fn metadata(cookbook: &str) -> String {
    format!("{COOKBOOKS_DIR}/{cookbook}/metadata.rb")
}

/// Whether `path` lies inside the folder `dir` (at any depth; not `dir`
/// itself). Both relative to the root; a trailing `/` on `dir` is allowed.
pub fn is_under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir.trim_end_matches('/'))
        .is_some_and(|rest| rest.starts_with('/'))
}

/// A path of the monorepo as chef's tools name it, from `chef/`:
/// `chef/policyfiles/base.rb` → `policyfiles/base.rb` (others unchanged).
pub fn in_chef(path: &str) -> &str {
    path.strip_prefix(CHEF_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path)
}

/// `chef/policyfiles/base.rb` → `chef/policyfiles/base.lock.json`.
pub fn lock_for(policyfile: &str) -> String {
    format!("{}.lock.json", policyfile.trim_end_matches(".rb"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_a_folder_means_inside_it() {
        assert!(is_under("chef/cookbooks/a/metadata.rb", "chef/cookbooks"));
        assert!(is_under("chef/cookbooks/a", "chef/cookbooks/"));
        assert!(!is_under("chef/cookbooks", "chef/cookbooks"));
        assert!(!is_under("chef/cookbooks-old/a", "chef/cookbooks"));
        assert!(!is_under("vmlayer/props.go", "chef"));
    }
}
