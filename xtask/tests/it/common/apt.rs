//! A served APT snapshot for the tests whose preflight reads its `Packages`
//! index (build-image, release): a thread on 127.0.0.1, nothing else.

use super::http::{Response, Server};
use super::{Layout, Tree};

pub const APT_REPO: &str = "https://apt.mobiledgex.net/cirrus/2021-02-01";
pub const DEPENDENCIES: &str = "openstack-tenant/packages/mobiledgex/dependencies";

/// Serves `packages` as the snapshot's `dists/bionic/main/binary-amd64/Packages`
/// on 127.0.0.1 (404 for anything else); returns the snapshot's URL.
pub fn apt_server(packages: String) -> String {
    let server = Server::start(move |request| {
        if request
            .path
            .ends_with("/dists/bionic/main/binary-amd64/Packages")
        {
            Response::new(200, packages.as_str())
        } else {
            Response::new(404, "not found\n")
        }
    });
    server.url("/cirrus/2021-02-01")
}

/// A `Packages` index with every pin of `dependencies` at its pinned version.
pub fn packages_of(dependencies: &str) -> String {
    dependencies
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next().unwrap();
            let version = fields.next().unwrap().trim_start_matches(['<', '>', '=']);
            format!("Package: {name}\nVersion: {version}\nArchitecture: amd64\n\n")
        })
        .collect()
}

/// A tree whose APT snapshot (packer's and chef's) is served on 127.0.0.1
/// with `packages`, or with every pin as it is when `None`.
pub fn tree_with_snapshot(layout: Layout, packages: Option<String>) -> (Tree, String) {
    let tree = Tree::with_git(layout);
    let packages = packages.unwrap_or_else(|| packages_of(&tree.read(DEPENDENCIES)));
    let url = apt_server(packages);
    for file in [
        "openstack-tenant/packer/build.sh",
        "chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb",
        "chef/policyfiles/base.rb",
        "chef/policyfiles/base.lock.json",
    ] {
        let text = tree.read(file);
        tree.write(file, &text.replace(APT_REPO, &url));
    }
    tree.git(&["commit", "-q", "-am", "APT snapshot on 127.0.0.1"]);
    (tree, url)
}
