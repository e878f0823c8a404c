//! The version sites of the monorepo (ids of `shared/spec/monorepo-files.md`):
//! where each lives, which editor finds it, and how many matches are expected.
//! `load` reads only the files that hold sites, so its cost does not grow with the tree.
//!
//! One file on purpose (~600 lines without tests): a site's id, the name that
//! finds it, its field in `Inventory` and its lines in `load` change together
//! whenever a site is added, and `load` reads best as one walk over the
//! monorepo's files. The paths every module shares live in `paths.rs`.

use std::ops::Range;

use anyhow::Result;

use crate::bad;
use crate::formats::dependencies::{self, Dependencies};
use crate::formats::lock_json::{self, Lock};
use crate::formats::ruby::{self, Attribute, Precedence, Requirement, RunList};
use crate::formats::{go, makefile, shell, Found};
use crate::tree::{read_text, Tree};

// The paths live in a leaf module (the runner needs them, and sites → tree →
// runner must not loop back); re-exported so `sites::paths` keeps working.
pub(crate) use crate::paths;

/// Site ids, as in the spec.
pub mod ids {
    pub const PACKAGE_VERSION: &str = "package.version";
    pub const INFRA_VERSION: &str = "vmlayer.infra_version";
    pub const GENERATED_VERSION: &str = "version.package_version";
    pub const PACKER_APT_REPO: &str = "packer.apt_repo";
    pub const CHEF_APT_REPO: &str = "chef.apt_repo";
    pub const CHEF_PACKAGE_VERSION: &str = "chef.package_version";
    pub const COOKBOOK_VERSION: &str = "cookbook.version";
    pub const POLICY_COOKBOOK_PIN: &str = "policy.cookbook_pin";
    pub const POLICY_CHEF_CLIENT: &str = "policy.chef_client";
    pub const DEPS: &str = "deps";
}

/// The names of the variables and attributes that hold sites.
/// The Makefile variable that holds the base image version.
pub const MAKE_VERSION: &str = names::MAKE_VERSION;

mod names {
    pub const MAKE_VERSION: &str = "VERSION";
    pub const INFRA_VERSION_VAR: &str = "MEXInfraVersion";
    pub const GENERATED_VERSION_VAR: &str = "MobiledgeXPackageVersion";
    pub const APT_REPO_VAR: &str = "APT_REPO";
    pub const APT_REPOSITORY_BLOCK: &str = "bionic";
    pub const PACKAGE_VERSION_LOCAL: &str = "defaultMobiledgeXPackageVersion";
    pub const LAYOUT_B_REPO: [&str; 2] = ["upgrade_mobiledgex_package", "repo"];
    pub const LAYOUT_B_VERSION: [&str; 1] = ["mobiledgeXPackageVersion"];
    pub const CHEF_CLIENT: [&str; 2] = ["chef_client_updater", "version"];
}

/// One version site: where it is and what it says. `span` is the byte range an
/// edit replaces: the whole value, or only the date of an APT snapshot URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: &'static str,
    /// What tells several sites of one id apart: a cookbook, a package name.
    pub key: String,
    pub path: String,
    pub line: usize,
    pub value: String,
    pub span: Range<usize>,
}

impl Site {
    fn new(id: &'static str, path: &str, found: Found) -> Site {
        Site {
            id,
            key: found.key,
            path: path.to_string(),
            line: found.line,
            value: found.value,
            span: found.span,
        }
    }

    pub fn location(&self) -> String {
        format!("{}:{}", self.path, self.line)
    }

    /// The id with its key, e.g. `cookbook.version[setup_infra]`.
    pub fn name(&self) -> String {
        if self.key.is_empty() {
            self.id.to_string()
        } else {
            format!("{}[{}]", self.id, self.key)
        }
    }

    /// For an APT repository site: the snapshot date at the end of its URL.
    pub fn snapshot(&self) -> Option<&str> {
        snapshot_date(&self.value).map(|range| &self.value[range])
    }
}

/// The `YYYY-MM-DD` at the end of an APT snapshot URL, as a range of the URL.
pub fn snapshot_date(url: &str) -> Option<Range<usize>> {
    let trimmed = url.trim_end_matches('/');
    let start = trimmed.len().checked_sub(10)?;
    let date = trimmed.get(start..)?;
    let shape_ok = date.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        _ => b.is_ascii_digit(),
    });
    (shape_ok && (start == 0 || trimmed.as_bytes()[start - 1] == b'/'))
        .then_some(start..trimmed.len())
}

/// Checks that a user's `--apt-snapshot` is a real calendar date `YYYY-MM-DD`.
pub fn validate_snapshot_date(date: &str) -> Result<(), String> {
    let explain = || {
        format!("`{date}` is not an APT snapshot date: expected a calendar date YYYY-MM-DD, e.g. 2021-02-01")
    };
    if snapshot_date(date) != Some(0..date.len()) {
        return Err(explain());
    }
    let number = |range: Range<usize>| date[range].parse::<u32>().map_err(|_| explain());
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(explain()),
    };
    if day == 0 || day > days_in_month || year < 1970 {
        return Err(explain());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChefLayout {
    /// Recipe literal + attributes file (what the runbook describes).
    A,
    /// Policy attributes in `base.rb`, read by the recipe from the node.
    B,
}

#[derive(Debug, Clone)]
pub struct Cookbook {
    pub name: String,
    pub dir: String,
    pub version: Site,
}

#[derive(Debug, Clone)]
pub enum LockState {
    Missing,
    Invalid(String),
    Present(Lock),
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy's `name`, else the file stem: `base` for `chef/policyfiles/base.rb`.
    pub name: String,
    pub path: String,
    pub pins: Vec<Site>,
    /// Every `cookbook` line, pinned exactly or not.
    pub requirements: Vec<Requirement>,
    pub run_lists: Vec<RunList>,
    /// Literal `default[...]` attributes: sites, and what the lock must hold.
    pub attributes: Vec<Attribute>,
    /// Literal `override[...]` attributes.
    pub override_attributes: Vec<Attribute>,
    /// The key path of every assignment, literal or not, per level.
    pub assigned: Vec<(Precedence, Vec<String>)>,
    pub lock_path: String,
    pub lock: LockState,
}

/// Everything the rules and editors need to know about the monorepo's versions.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub package_version: Site,
    pub infra_version: Site,
    pub generated_version: Site,
    pub packer_apt_repo: Site,
    pub chef_layout: ChefLayout,
    pub chef_apt_repos: Vec<Site>,
    pub chef_package_versions: Vec<Site>,
    pub chef_clients: Vec<Site>,
    pub cookbooks: Vec<Cookbook>,
    pub policies: Vec<Policy>,
    pub dependencies: Dependencies,
}

/// Collects every site problem, so one run names them all.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    /// Exactly one find expected.
    fn one(&mut self, id: &'static str, path: &str, what: &str, found: Vec<Found>) -> Option<Site> {
        match found.len() {
            1 => found.into_iter().next().map(|f| Site::new(id, path, f)),
            0 => {
                self.0.push(format!(
                    "{path}: {id} not found (expected a line like {what})"
                ));
                None
            }
            _ => {
                let lines: Vec<String> = found.iter().map(|f| f.line.to_string()).collect();
                self.0.push(format!(
                    "{path}: {id} found {} times (lines {}); expected exactly one line like {what}",
                    found.len(),
                    lines.join(", ")
                ));
                None
            }
        }
    }

    fn required_text(&mut self, tree: &dyn Tree, path: &str) -> Result<Option<String>> {
        let text = read_text(tree, path)?;
        if text.is_none() {
            self.0
                .push(format!("{path}: file not found in {}", tree.label()));
        }
        Ok(text)
    }
}

/// Reads every site of the monorepo from `tree`. Missing, doubled or malformed
/// sites are bad input (exit 2), all named in one error.
pub fn load(tree: &dyn Tree) -> Result<Inventory> {
    let mut problems = Problems::default();
    let fixed = [
        paths::MAKEFILE,
        paths::PROPS_GO,
        paths::PACKAGE_VERSION_GO,
        paths::PACKER_BUILD_SH,
        paths::DEPENDENCIES,
        paths::RECIPE,
        paths::ATTRIBUTES,
    ];
    tree.prefetch(&fixed.map(str::to_string))?;

    let package_version = problems
        .required_text(tree, paths::MAKEFILE)?
        .and_then(|text| {
            let found = makefile::variable(&text, names::MAKE_VERSION);
            problems.one(
                ids::PACKAGE_VERSION,
                paths::MAKEFILE,
                "`VERSION = 3.0.1`",
                found,
            )
        });
    let infra_version = problems
        .required_text(tree, paths::PROPS_GO)?
        .and_then(|text| {
            let found = go::string_var(&text, names::INFRA_VERSION_VAR);
            problems.one(
                ids::INFRA_VERSION,
                paths::PROPS_GO,
                "`var MEXInfraVersion = \"3.0.1\"`",
                found,
            )
        });
    let generated_version = problems
        .required_text(tree, paths::PACKAGE_VERSION_GO)?
        .and_then(|text| {
            let found = go::string_var(&text, names::GENERATED_VERSION_VAR);
            problems.one(
                ids::GENERATED_VERSION,
                paths::PACKAGE_VERSION_GO,
                "`var MobiledgeXPackageVersion = \"3.0.1\"`",
                found,
            )
        });
    let packer_apt_repo = problems
        .required_text(tree, paths::PACKER_BUILD_SH)?
        .and_then(|text| {
            let found = shell::assignment(&text, names::APT_REPO_VAR);
            problems.one(
                ids::PACKER_APT_REPO,
                paths::PACKER_BUILD_SH,
                "`APT_REPO=\"https://apt.mobiledgex.net/cirrus/2021-02-01\"`",
                found,
            )
        });

    let dependencies = load_dependencies(tree, &mut problems)?;
    let cookbooks = load_cookbooks(tree, &mut problems)?;
    let policies = load_policies(tree, &mut problems)?;

    // Chef layout A: the recipe's literal and the attributes file's local.
    let mut chef_apt_repos = Vec::new();
    let mut chef_package_versions = Vec::new();
    // Ids seen at least once, so a doubled site is not also reported as missing.
    let mut seen: Vec<&'static str> = Vec::new();
    if let Some(recipe) = read_text(tree, paths::RECIPE)? {
        let found = ruby::apt_repository_uri(&recipe, names::APT_REPOSITORY_BLOCK);
        if !found.is_empty() {
            seen.push(ids::CHEF_APT_REPO);
            chef_apt_repos.extend(problems.one(
                ids::CHEF_APT_REPO,
                paths::RECIPE,
                "`uri 'https://apt.mobiledgex.net/cirrus/2021-02-01'` in `apt_repository 'bionic'`",
                found,
            ));
        }
    }
    if let Some(attributes) = read_text(tree, paths::ATTRIBUTES)? {
        let found = ruby::local(&attributes, names::PACKAGE_VERSION_LOCAL);
        if !found.is_empty() {
            seen.push(ids::CHEF_PACKAGE_VERSION);
            chef_package_versions.extend(problems.one(
                ids::CHEF_PACKAGE_VERSION,
                paths::ATTRIBUTES,
                "`defaultMobiledgeXPackageVersion = '3.0.1'`",
                found,
            ));
        }
    }
    let layout = if seen.is_empty() {
        ChefLayout::B
    } else {
        ChefLayout::A
    };
    // Layout B (and any policy that carries them): policy attributes, at most
    // one line each per policy (a second one would leave chef's value unclear).
    let mut chef_clients = Vec::new();
    for policy in &policies {
        let attribute_sites: [(&'static str, &[&str], &str, &mut Vec<Site>); 3] = [
            (
                ids::CHEF_APT_REPO,
                &names::LAYOUT_B_REPO,
                "`default['upgrade_mobiledgex_package']['repo'] = \"https://apt.mobiledgex.net/cirrus/2021-02-01\"`",
                &mut chef_apt_repos,
            ),
            (
                ids::CHEF_PACKAGE_VERSION,
                &names::LAYOUT_B_VERSION,
                "`default['mobiledgeXPackageVersion'] = '3.0.1'`",
                &mut chef_package_versions,
            ),
            (
                ids::POLICY_CHEF_CLIENT,
                &names::CHEF_CLIENT,
                "`default['chef_client_updater']['version'] = '17.6.18'`",
                &mut chef_clients,
            ),
        ];
        for (id, attribute_path, what, sites) in attribute_sites {
            let found: Vec<Found> = policy
                .attributes
                .iter()
                .filter(|attribute| attribute.path == attribute_path)
                .map(|attribute| attribute.found.clone())
                .collect();
            if !found.is_empty() {
                seen.push(id);
                sites.extend(problems.one(id, &policy.path, what, found));
            }
        }
    }
    if !seen.contains(&ids::CHEF_APT_REPO) {
        problems.0.push(format!(
            "chef.apt_repo not found: neither `uri '…'` in the `apt_repository 'bionic'` block of {} (layout A) nor `default['upgrade_mobiledgex_package']['repo']` in {} (layout B)",
            paths::RECIPE,
            paths::BASE_POLICY
        ));
    }
    if !seen.contains(&ids::CHEF_PACKAGE_VERSION) {
        problems.0.push(format!(
            "chef.package_version not found: neither `defaultMobiledgeXPackageVersion = '…'` in {} (layout A) nor `default['mobiledgeXPackageVersion']` in {} (layout B)",
            paths::ATTRIBUTES,
            paths::BASE_POLICY
        ));
    }
    for site in chef_apt_repos.iter_mut() {
        narrow_to_snapshot(site, &mut problems);
    }
    let packer_apt_repo = packer_apt_repo.map(|mut site| {
        narrow_to_snapshot(&mut site, &mut problems);
        site
    });

    match (
        package_version,
        infra_version,
        generated_version,
        packer_apt_repo,
    ) {
        (
            Some(package_version),
            Some(infra_version),
            Some(generated_version),
            Some(packer_apt_repo),
        ) if problems.0.is_empty() => Ok(Inventory {
            package_version,
            infra_version,
            generated_version,
            packer_apt_repo,
            chef_layout: layout,
            chef_apt_repos,
            chef_package_versions,
            chef_clients,
            cookbooks,
            policies,
            dependencies,
        }),
        _ => Err(bad!(
            "cannot read the monorepo's version sites in {}:\n  - {}",
            tree.label(),
            problems.0.join("\n  - ")
        )),
    }
}

/// An APT site's edits touch only the date at the end of its URL.
fn narrow_to_snapshot(site: &mut Site, problems: &mut Problems) {
    match snapshot_date(&site.value) {
        Some(date) => {
            let start = site.span.start;
            site.span = start + date.start..start + date.end;
        }
        None => problems.0.push(format!(
            "{}: APT repository `{}` does not end in a snapshot date (YYYY-MM-DD)",
            site.location(),
            site.value
        )),
    }
}

fn load_dependencies(tree: &dyn Tree, problems: &mut Problems) -> Result<Dependencies> {
    match read_text(tree, paths::DEPENDENCIES)? {
        Some(text) => Ok(dependencies::parse(&text)),
        None if tree.read(paths::SPLIT_DEPENDENCIES)?.is_some() => Err(bad!(
            "{} uses the old split layout (dependencies.common + dependencies.<platform>, per-platform packages), which the xtask does not support; merge them into one `dependencies` file first",
            paths::PACKAGE_DIR
        )),
        None => {
            problems.0.push(format!("{}: file not found in {}", paths::DEPENDENCIES, tree.label()));
            Ok(Dependencies::default())
        }
    }
}

fn load_cookbooks(tree: &dyn Tree, problems: &mut Problems) -> Result<Vec<Cookbook>> {
    let mut cookbooks = Vec::new();
    let names = tree.list(paths::COOKBOOKS_DIR)?;
    tree.prefetch(
        &names
            .iter()
            .map(|name| paths::metadata(name))
            .collect::<Vec<_>>(),
    )?;
    for name in names {
        let metadata_path = paths::metadata(&name);
        let Some(text) = read_text(tree, &metadata_path)? else {
            continue; // not a cookbook (a README, a stray folder)
        };
        let found = ruby::metadata_version(&text);
        if let Some(version) = problems.one(
            ids::COOKBOOK_VERSION,
            &metadata_path,
            "`version '1.0.14'`",
            found,
        ) {
            cookbooks.push(Cookbook {
                version: Site {
                    key: name.clone(),
                    ..version
                },
                dir: paths::cookbook_dir(&name),
                name,
            });
        }
    }
    Ok(cookbooks)
}

fn load_policies(tree: &dyn Tree, problems: &mut Problems) -> Result<Vec<Policy>> {
    let mut policies = Vec::new();
    let files = tree.list(paths::POLICYFILES_DIR)?;
    let policy_paths: Vec<String> = files
        .iter()
        .filter(|file| file.ends_with(".rb"))
        .map(|file| format!("{}/{file}", paths::POLICYFILES_DIR))
        .flat_map(|path| [paths::lock_for(&path), path])
        .collect();
    tree.prefetch(&policy_paths)?;
    for file in files {
        let Some(name) = file.strip_suffix(".rb") else {
            continue;
        };
        let path = format!("{}/{file}", paths::POLICYFILES_DIR);
        let Some(text) = read_text(tree, &path)? else {
            continue;
        };
        let lock_path = paths::lock_for(&path);
        let lock = match read_text(tree, &lock_path)? {
            None => LockState::Missing,
            Some(text) => match lock_json::parse(&text) {
                Ok(lock) => LockState::Present(lock),
                Err(why) => LockState::Invalid(why),
            },
        };
        let pins: Vec<Site> = ruby::cookbook_pins(&text)
            .into_iter()
            .map(|found| Site::new(ids::POLICY_COOKBOOK_PIN, &path, found))
            .collect();
        for (i, pin) in pins.iter().enumerate() {
            if pins[..i].iter().any(|earlier| earlier.key == pin.key) {
                problems.0.push(format!(
                    "{}: cookbook `{}` is pinned twice",
                    pin.location(),
                    pin.key
                ));
            }
        }
        let declared = ruby::name(&text)
            .into_iter()
            .next()
            .map(|found| found.value);
        policies.push(Policy {
            name: declared.unwrap_or_else(|| name.to_string()),
            path,
            pins,
            requirements: ruby::cookbook_requirements(&text),
            run_lists: ruby::run_lists(&text),
            attributes: ruby::default_attributes(&text),
            override_attributes: ruby::attributes(&text, Precedence::Override),
            assigned: [Precedence::Default, Precedence::Override]
                .into_iter()
                .flat_map(|level| {
                    ruby::assigned_paths(&text, level)
                        .into_iter()
                        .map(move |path| (level, path))
                })
                .collect(),
            lock_path,
            lock,
        });
    }
    Ok(policies)
}

impl Inventory {
    /// The three sites that hold the base image version.
    pub fn base_image_sites(&self) -> [&Site; 3] {
        [
            &self.package_version,
            &self.infra_version,
            &self.generated_version,
        ]
    }

    /// Every APT snapshot site: packer's first, then chef's.
    pub fn apt_sites(&self) -> Vec<&Site> {
        std::iter::once(&self.packer_apt_repo)
            .chain(&self.chef_apt_repos)
            .collect()
    }

    pub fn cookbook(&self, name: &str) -> Option<&Cookbook> {
        self.cookbooks.iter().find(|c| c.name == name)
    }

    /// The cookbook whose folder holds `path`, if any.
    pub fn cookbook_of(&self, path: &str) -> Option<&Cookbook> {
        self.cookbooks
            .iter()
            .find(|c| paths::is_under(path, &c.dir))
    }

    /// Every site, in the order `versions` lists them.
    pub fn all_sites(&self) -> Vec<Site> {
        let mut sites: Vec<Site> = self.base_image_sites().into_iter().cloned().collect();
        sites.extend(self.chef_package_versions.iter().cloned());
        sites.extend(self.apt_sites().into_iter().cloned());
        sites.extend(self.chef_clients.iter().cloned());
        sites.extend(self.cookbooks.iter().map(|c| c.version.clone()));
        sites.extend(self.policies.iter().flat_map(|p| p.pins.iter().cloned()));
        sites.extend(self.dependencies.pins.iter().map(|pin| Site {
            id: ids::DEPS,
            key: pin.name.clone(),
            path: paths::DEPENDENCIES.to_string(),
            line: pin.line,
            value: format!("{}{}", pin.op, pin.version),
            span: pin.version_span.clone(),
        }));
        sites
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_date_is_the_url_tail() {
        let url = "https://apt.mobiledgex.net/cirrus/2021-02-01";
        assert_eq!(&url[snapshot_date(url).unwrap()], "2021-02-01");
        assert_eq!(
            snapshot_date("https://apt.mobiledgex.net/cirrus/2021-02-01/").map(|r| &url[r]),
            Some("2021-02-01")
        );
        assert_eq!(
            snapshot_date("https://artifactory.mobiledgex.net/artifactory/packages"),
            None
        );
        assert_eq!(snapshot_date("https://x/cirrus-2021-02-01"), None);
    }

    #[test]
    fn snapshot_dates_must_exist_on_the_calendar() {
        for good in ["2021-02-01", "2024-02-29", "2000-02-29", "2021-12-31"] {
            assert!(validate_snapshot_date(good).is_ok(), "{good}");
        }
        for bad in [
            "2021-02-30",
            "2023-02-29",
            "1900-02-29",
            "2021-13-01",
            "2021-00-10",
            "2021-1-01",
            "21-02-01",
            "2021/02/01",
            "2021-02-01 ",
            "",
            "x2021-02-01",
        ] {
            assert!(validate_snapshot_date(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lock_path_follows_the_policyfile() {
        assert_eq!(
            paths::lock_for("chef/policyfiles/base.rb"),
            "chef/policyfiles/base.lock.json"
        );
    }
}
