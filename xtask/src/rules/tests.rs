//! The rules, judged in memory: each case edits the rendition (layout A, B or
//! the realistic overlay) and names every finding it expects, with its
//! locations and help; anything else reported fails the case. The end-to-end
//! tests (tests/it/check.rs) keep what needs the binary: the report, exit
//! codes, git, the hook.

use serde_json::Value;

use super::*;
use crate::sites;
use crate::tree::memory::{MemTree, Rendition};

const MAKEFILE: &str = "openstack-tenant/packages/mobiledgex/Makefile";
const DEPENDENCIES: &str = "openstack-tenant/packages/mobiledgex/dependencies";
const PROPS_GO: &str = "vmlayer/props.go";
const VERSION_GO: &str = "version/package-version.go";
const PACKER_BUILD_SH: &str = "openstack-tenant/packer/build.sh";
const RECIPE: &str = "chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb";
const ATTRIBUTES: &str = "chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb";
const SETUP_INFRA_METADATA: &str = "chef/cookbooks/setup_infra/metadata.rb";
const BASE_POLICY: &str = "chef/policyfiles/base.rb";
const BASE_LOCK: &str = "chef/policyfiles/base.lock.json";
const DOCKER_CRM: &str = "chef/policyfiles/docker_crm.rb";
const DOCKER_CRM_LOCK: &str = "chef/policyfiles/docker_crm.lock.json";

/// The warning every pristine rendition carries on purpose.
const DOCKER_CRM_PIN: &str = "warning[cookbook-pin]: policy docker_crm pins setup_infra 1.0.2, older than the cookbook's 1.0.3 (it uses what was uploaded before)";
const REGENERATE_BASE: &str =
    "(cd chef && rm -f policyfiles/base.lock.json && chef install policyfiles/base.rb)";
const REGENERATE_DOCKER_CRM: &str =
    "(cd chef && rm -f policyfiles/docker_crm.lock.json && chef install policyfiles/docker_crm.rb)";

/// A finding a case expects: `severity[rule]: message`, its locations as
/// `(file, start of the line)` (`""`: line 1), and its help (`None`: not
/// checked). A trailing `…` in the head or the help matches a prefix.
struct Expect {
    head: &'static str,
    at: &'static [(&'static str, &'static str)],
    help: Option<&'static str>,
}

const fn expect(
    head: &'static str,
    at: &'static [(&'static str, &'static str)],
    help: &'static str,
) -> Expect {
    Expect {
        head,
        at,
        help: Some(help),
    }
}

/// Only the head: where and how to fix it is another case's business.
const fn also(head: &'static str) -> Expect {
    Expect {
        head,
        at: &[],
        help: None,
    }
}

struct Case {
    name: &'static str,
    trees: &'static [Rendition],
    edit: fn(&mut MemTree),
    expect: &'static [Expect],
}

const BOTH: &[Rendition] = &[Rendition::A, Rendition::B];
const A: &[Rendition] = &[Rendition::A];
const B: &[Rendition] = &[Rendition::B];
const REALISTIC: &[Rendition] = &[Rendition::Realistic];

fn head(finding: &Finding) -> String {
    format!(
        "{}[{}]: {}",
        finding.severity.name(),
        finding.rule,
        finding.message
    )
}

fn matches(expected: &str, head: &str) -> bool {
    match expected.strip_suffix('…') {
        Some(prefix) => head.starts_with(prefix),
        None => head == expected,
    }
}

fn run(case: &Case, which: Rendition) {
    let mut tree = MemTree::rendition(which);
    (case.edit)(&mut tree);
    let inventory = sites::load(&tree)
        .unwrap_or_else(|err| panic!("{} ({which:?}): not loaded: {err:#}", case.name));
    let found = evaluate(&inventory, None);
    let heads: Vec<String> = found.iter().map(head).collect();
    let mut unexpected: Vec<&String> = heads.iter().collect();
    for want in case.expect {
        let Some(index) = heads.iter().position(|h| matches(want.head, h)) else {
            panic!(
                "{} ({which:?}): no finding {:?}\nfound: {heads:#?}",
                case.name, want.head
            );
        };
        unexpected.retain(|h| !std::ptr::eq(*h, &heads[index]));
        let finding = &found[index];
        if !want.at.is_empty() {
            let locations: Vec<(String, usize)> = finding
                .locations
                .iter()
                .map(|l| (l.path.clone(), l.line))
                .collect();
            let wanted: Vec<(String, usize)> = want
                .at
                .iter()
                .map(|(path, needle)| {
                    let line = if needle.is_empty() {
                        1
                    } else {
                        tree.line_of(path, needle)
                    };
                    (path.to_string(), line)
                })
                .collect();
            assert_eq!(locations, wanted, "{} ({which:?}): locations", case.name);
        }
        if let Some(help) = want.help {
            let found = finding.help.as_deref().unwrap_or_default();
            assert!(
                matches(help, found),
                "{} ({which:?}): help {found:?}, expected {help:?}",
                case.name
            );
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} ({which:?}): unexpected findings {unexpected:#?}",
        case.name
    );
}

#[test]
fn every_rule_in_memory() {
    for case in CASES {
        for &which in case.trees {
            run(case, which);
        }
    }
}

/// Sets the three base image sites (not chef's) from 3.0.1 to `to`.
fn set_base_image(tree: &mut MemTree, to: &str) {
    for (file, before, after) in crate::test_support::base_image_edits(to) {
        tree.edit(file, &before, &after);
    }
}

/// docker_crm pinned to the repository's setup_infra, its lock as `chef install` would write it.
fn align_docker_crm(tree: &mut MemTree) {
    tree.edit(
        DOCKER_CRM,
        "cookbook 'setup_infra', '= 1.0.2'",
        "cookbook 'setup_infra', '= 1.0.3'",
    );
    edit_lock(tree, DOCKER_CRM_LOCK, |lock| {
        lock["cookbook_locks"]["setup_infra"]["version"] = "1.0.3".into();
    });
}

fn edit_lock(tree: &mut MemTree, rel: &str, edit: impl FnOnce(&mut Value)) {
    let mut lock: Value = serde_json::from_str(tree.text(rel)).unwrap();
    edit(&mut lock);
    tree.write(rel, &serde_json::to_string_pretty(&lock).unwrap());
}

const CASES: &[Case] = &[
    Case {
        name: "pristine: only the intended warning",
        trees: BOTH,
        edit: |_| {},
        expect: &[expect(
            DOCKER_CRM_PIN,
            &[(DOCKER_CRM, "cookbook 'setup_infra'"), (SETUP_INFRA_METADATA, "version '")],
            "nothing, if the policy is meant to stay on 1.0.2; to use the repository's cookbook: pin '= 1.0.3' in chef/policyfiles/docker_crm.rb, then (cd chef && rm -f policyfiles/docker_crm.lock.json && chef install policyfiles/docker_crm.rb)",
        )],
    },
    Case {
        name: "realistic: older pins on purpose are warnings, supermarket cookbooks are not judged",
        trees: REALISTIC,
        edit: |_| {},
        expect: &[
            also("warning[cookbook-pin]: policy docker_crm pins runstatus_handler 1.0.0, older than the cookbook's 1.0.1 (it uses what was uploaded before)"),
            also("warning[cookbook-pin]: policy docker_crm pins upgrade_mobiledgex_package 1.0.8, older than the cookbook's 1.0.9 (it uses what was uploaded before)"),
            also("warning[cookbook-pin]: policy k8s_crm pins setup_infra 1.0.5, older than the cookbook's 1.0.7 (it uses what was uploaded before)"),
            also("warning[cookbook-pin]: policy k8s_crm pins setup_services 1.0.33, older than the cookbook's 1.0.35 (it uses what was uploaded before)"),
            expect(
                "warning[cookbook-pin]: policy local_crm pins run_diagnostics 1.0.3, older than the cookbook's 1.0.4 (it uses what was uploaded before)",
                &[("chef/policyfiles/local_crm.rb", "cookbook 'run_diagnostics'"), ("chef/cookbooks/run_diagnostics/metadata.rb", "version '")],
                "nothing, if the policy is meant to stay on 1.0.3; to use the repository's cookbook: pin '= 1.0.4' in chef/policyfiles/local_crm.rb, then (cd chef && rm -f policyfiles/local_crm.lock.json && chef install policyfiles/local_crm.rb)",
            ),
        ],
    },
    Case {
        name: "package-version: one site disagrees",
        trees: BOTH,
        edit: |t| t.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\""),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[package-version]: base image version disagrees: Makefile has 3.0.1, vmlayer/props.go has 3.0.2",
                &[(MAKEFILE, "VERSION ="), (PROPS_GO, "var MEXInfraVersion =")],
                "cargo xtask bump-base-image 3.0.2",
            ),
        ],
    },
    Case {
        name: "package-version: every disagreeing site is named",
        trees: BOTH,
        edit: |t| {
            t.edit(VERSION_GO, "\"3.0.1\"", "\"3.0.0\"");
            t.edit(PROPS_GO, "\"3.0.1\"", "\"3.1.0\"");
        },
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[package-version]: base image version disagrees: Makefile has 3.0.1, vmlayer/props.go has 3.1.0, version/package-version.go has 3.0.0",
                &[(MAKEFILE, "VERSION ="), (PROPS_GO, "var MEXInfraVersion ="), (VERSION_GO, "var MobiledgeXPackageVersion")],
                "cargo xtask bump-base-image 3.1.0",
            ),
        ],
    },
    Case {
        name: "chef-package-version: behind is a warning (layout A)",
        trees: A,
        edit: |t| set_base_image(t, "3.0.2"),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "warning[chef-package-version]: chef upgrades VMs to mobiledgex 3.0.1, behind the package's 3.0.2 (normal until the new base image is rolled out)",
                &[(ATTRIBUTES, "defaultMobiledgeXPackageVersion = "), (MAKEFILE, "VERSION =")],
                "after the rollout: cargo xtask chef-policy",
            ),
        ],
    },
    Case {
        name: "chef-package-version: behind is a warning (layout B)",
        trees: B,
        edit: |t| set_base_image(t, "3.0.2"),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "warning[chef-package-version]: chef upgrades VMs to mobiledgex 3.0.1, behind the package's 3.0.2 (normal until the new base image is rolled out)",
                &[(BASE_POLICY, "default['mobiledgeXPackageVersion']"), (MAKEFILE, "VERSION =")],
                "after the rollout: cargo xtask chef-policy",
            ),
        ],
    },
    Case {
        name: "chef-package-version: ahead is an error",
        trees: A,
        edit: |t| set_base_image(t, "3.0.0"),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[chef-package-version]: chef upgrades VMs to mobiledgex 3.0.1, but the package version is 3.0.0: that package is never built",
                &[(ATTRIBUTES, "defaultMobiledgeXPackageVersion = "), (MAKEFILE, "VERSION =")],
                "cargo xtask bump-base-image 3.0.1 (or set chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb:…",
            ),
        ],
    },
    Case {
        name: "apt-snapshot: packer and chef disagree (layout A)",
        trees: A,
        edit: |t| t.edit(PACKER_BUILD_SH, "/cirrus/2021-02-01\"", "/cirrus/2021-03-01\""),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[apt-snapshot]: APT snapshot disagrees: packer builds from 2021-03-01, chef points VMs at 2021-02-01",
                &[(PACKER_BUILD_SH, "APT_REPO="), (RECIPE, "uri 'https://apt.mobiledgex.net/cirrus/")],
                "cargo xtask chef-policy --apt-snapshot 2021-03-01",
            ),
        ],
    },
    Case {
        name: "apt-snapshot: packer and chef disagree (layout B)",
        trees: B,
        edit: |t| t.edit(PACKER_BUILD_SH, "/cirrus/2021-02-01\"", "/cirrus/2021-03-01\""),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[apt-snapshot]: APT snapshot disagrees: packer builds from 2021-03-01, chef points VMs at 2021-02-01",
                &[(PACKER_BUILD_SH, "APT_REPO="), (BASE_POLICY, "default['upgrade_mobiledgex_package']['repo']")],
                "cargo xtask chef-policy --apt-snapshot 2021-03-01",
            ),
        ],
    },
    Case {
        name: "apt-snapshot: another repository is not another date",
        trees: A,
        edit: |t| t.edit(RECIPE, "uri 'https://apt.mobiledgex.net/cirrus/2021-02-01'", "uri 'https://apt-mirror.example.net/cirrus/2021-02-01'"),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[apt-snapshot]: APT repository disagrees: packer builds from https://apt.mobiledgex.net/cirrus/2021-02-01, chef points VMs at https://apt-mirror.example.net/cirrus/2021-02-01",
                &[(PACKER_BUILD_SH, "APT_REPO="), (RECIPE, "uri 'https://apt-mirror")],
                "cargo xtask chef-policy --apt-snapshot 2021-02-01",
            ),
        ],
    },
    Case {
        name: "chef-client: the policy and dependencies disagree",
        trees: BOTH,
        edit: |t| t.edit(DEPENDENCIES, "=17.6.18-1", "=17.6.19-1"),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[chef-client]: chef-client disagrees: chef/policyfiles/base.rb updates to 17.6.18, dependencies pins chef =17.6.19-1",
                &[(BASE_POLICY, "default['chef_client_updater']['version']"), (DEPENDENCIES, "chef ")],
                "cargo xtask deps set chef=17.6.18-1 (or set default['chef_client_updater']['version'] to '17.6.19' in chef/policyfiles/base.rb, then (cd chef && rm -f policyfiles/base.lock.json && chef install policyfiles/base.rb))",
            ),
        ],
    },
    Case {
        name: "chef-client: chef not pinned at all",
        trees: A,
        edit: |t| t.edit(DEPENDENCIES, "chef                            =17.6.18-1\n", ""),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[chef-client]: chef-client is pinned to 17.6.18 in chef/policyfiles/base.rb, but `chef` is not pinned in dependencies",
                &[(BASE_POLICY, "default['chef_client_updater']['version']")],
                "add `chef =<version>-1` to openstack-tenant/packages/mobiledgex/dependencies",
            ),
        ],
    },
    Case {
        name: "chef-client: the realistic double-quoted attribute, the pin moved alone",
        trees: REALISTIC,
        edit: |t| {
            assert!(t.text(BASE_POLICY).contains("= \"16.9.29\""));
            t.edit(DEPENDENCIES, "=16.9.29-1", "=16.9.30-1");
        },
        expect: &[
            also("warning[cookbook-pin]: policy docker_crm pins runstatus_handler 1.0.0…"),
            also("warning[cookbook-pin]: policy docker_crm pins upgrade_mobiledgex_package 1.0.8…"),
            also("warning[cookbook-pin]: policy k8s_crm pins setup_infra 1.0.5…"),
            also("warning[cookbook-pin]: policy k8s_crm pins setup_services 1.0.33…"),
            also("warning[cookbook-pin]: policy local_crm pins run_diagnostics 1.0.3…"),
            Expect {
                head: "error[chef-client]: chef-client disagrees…",
                at: &[(BASE_POLICY, "default['chef_client_updater']['version']"), (DEPENDENCIES, "chef ")],
                help: None,
            },
        ],
    },
    Case {
        name: "kubernetes: one package is off",
        trees: BOTH,
        edit: |t| t.edit(DEPENDENCIES, "kubelet                         =1.18.20-00", "kubelet                         =1.18.21-00"),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[kubernetes]: kubeadm, kubectl and kubelet must be pinned to one version: kubeadm =1.18.20-00, kubectl =1.18.20-00, kubelet =1.18.21-00",
                &[(DEPENDENCIES, "kubeadm "), (DEPENDENCIES, "kubectl "), (DEPENDENCIES, "kubelet ")],
                "cargo xtask deps set --kubernetes 1.18.21-00",
            ),
        ],
    },
    Case {
        name: "kubernetes: a package that is not pinned is named",
        trees: REALISTIC,
        edit: |t| t.edit(DEPENDENCIES, "kubectl                         =1.16.2-00\n", ""),
        expect: &[
            also("warning[cookbook-pin]: policy docker_crm pins runstatus_handler 1.0.0…"),
            also("warning[cookbook-pin]: policy docker_crm pins upgrade_mobiledgex_package 1.0.8…"),
            also("warning[cookbook-pin]: policy k8s_crm pins setup_infra 1.0.5…"),
            also("warning[cookbook-pin]: policy k8s_crm pins setup_services 1.0.33…"),
            also("warning[cookbook-pin]: policy local_crm pins run_diagnostics 1.0.3…"),
            expect(
                "error[kubernetes]: kubeadm, kubectl and kubelet must be pinned to one version: kubeadm =1.16.2-00, kubelet =1.16.2-00, kubectl not pinned",
                // The realistic tree pads kubelet with tabs.
                &[(DEPENDENCIES, "kubeadm "), (DEPENDENCIES, "kubelet\t")],
                "cargo xtask deps set --kubernetes 1.16.2-00",
            ),
        ],
    },
    Case {
        name: "dependencies-syntax: every bad line",
        trees: BOTH,
        edit: |t| {
            t.edit(DEPENDENCIES, "jq                              >=1.5+dfsg-2", "jq                              >= 1.5+dfsg-2");
            t.edit(
                DEPENDENCIES,
                "unzip                           >=6.0-21ubuntu1",
                "unzip                           >=6.0-21ubuntu1\nsocat-extra\nBadName                         =1.0\nlibfoo                          =1.0:x",
            );
        },
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[dependencies-syntax]: the operator must be glued to the version: `>=1.5+dfsg-2`: `jq                              >= 1.5+dfsg-2`",
                &[(DEPENDENCIES, "jq ")],
                "edit the line to `name`, blanks, then an operator glued to a Debian version, e.g. `kubeadm                         =1.18.20-00`",
            ),
            expect(
                "error[dependencies-syntax]: expected `name`, blanks, then a constraint such as `=1.18.20-00`: `socat-extra`",
                &[(DEPENDENCIES, "socat-extra")],
                "edit the line to `name`, blanks, then an operator glued to a Debian version, e.g. `kubeadm                         =1.18.20-00`",
            ),
            expect(
                "error[dependencies-syntax]: `BadName` is not a valid Debian package name: `BadName                         =1.0`",
                &[(DEPENDENCIES, "BadName")],
                "edit the line to `name`, blanks, then an operator glued to a Debian version, e.g. `kubeadm                         =1.18.20-00`",
            ),
            Expect {
                head: "error[dependencies-syntax]: invalid Debian version…",
                at: &[(DEPENDENCIES, "libfoo")],
                help: None,
            },
        ],
    },
    Case {
        name: "cookbook-pin: pins equal to metadata, nothing to say",
        trees: BOTH,
        edit: align_docker_crm,
        expect: &[],
    },
    Case {
        name: "cookbook-pin: a pin newer than the metadata",
        trees: BOTH,
        edit: |t| t.edit(SETUP_INFRA_METADATA, "version '1.0.3'", "version '1.0.2'"),
        expect: &[expect(
            "error[cookbook-pin]: policy base pins setup_infra 1.0.3, newer than the cookbook's 1.0.2 in the repository",
            &[(BASE_POLICY, "cookbook 'setup_infra'"), (SETUP_INFRA_METADATA, "version '")],
            "set `version '1.0.3'` in chef/cookbooks/setup_infra/metadata.rb or pin '= 1.0.2' in chef/policyfiles/base.rb",
        )],
    },
    Case {
        name: "policy-lock: a policy attribute moved",
        trees: BOTH,
        edit: |t| t.edit(BASE_POLICY, "'Etc/UTC'", "'Europe/Berlin'"),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[policy-lock]: chef/policyfiles/base.lock.json is stale: attribute setup_infra.timezone is Europe/Berlin but the lock has \"Etc/UTC\"",
                &[(BASE_POLICY, "default['setup_infra']['timezone']"), (BASE_LOCK, "")],
                REGENERATE_BASE,
            ),
        ],
    },
    Case {
        name: "policy-lock: the run list drops a recipe; its cookbook is locked for nothing",
        trees: A,
        edit: |t| {
            t.edit(DOCKER_CRM, "cookbook 'run_diagnostics', '= 1.0.2'\n", "");
            t.edit(DOCKER_CRM, "'recipe[run_diagnostics]', ", "");
        },
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[policy-lock]: chef/policyfiles/docker_crm.lock.json is stale: the run_list is [recipe[setup_infra::default], recipe[upgrade_mobiledgex_package::default]] but the lock has [recipe[setup_infra::default], recipe[run_diagnostics::default], recipe[upgrade_mobiledgex_package::default]]",
                &[(DOCKER_CRM, "run_list"), (DOCKER_CRM_LOCK, "")],
                REGENERATE_DOCKER_CRM,
            ),
            expect(
                "warning[policy-lock]: chef/policyfiles/docker_crm.lock.json locks run_diagnostics 1.0.2 although nothing in policy docker_crm needs it any more",
                &[(DOCKER_CRM_LOCK, "\"run_diagnostics\": {")],
                REGENERATE_DOCKER_CRM,
            ),
        ],
    },
    Case {
        name: "policy-lock: the run list gains a recipe",
        trees: A,
        edit: |t| t.edit(DOCKER_CRM, "'recipe[upgrade_mobiledgex_package]'", "'recipe[upgrade_mobiledgex_package]', 'setup_infra::extra'"),
        expect: &[
            also(DOCKER_CRM_PIN),
            also("error[policy-lock]: chef/policyfiles/docker_crm.lock.json is stale: the run_list is [recipe[setup_infra::default], recipe[run_diagnostics::default], recipe[upgrade_mobiledgex_package::default], recipe[setup_infra::extra]] but the lock has [recipe[setup_infra::default], recipe[run_diagnostics::default], recipe[upgrade_mobiledgex_package::default]]"),
        ],
    },
    Case {
        name: "policy-lock: every way of writing the same run list",
        trees: A,
        edit: |t| t.edit(
            DOCKER_CRM,
            "run_list 'recipe[setup_infra]', 'recipe[run_diagnostics]', 'recipe[upgrade_mobiledgex_package]'",
            "run_list 'setup_infra', # the infrastructure first\n  \"recipe[run_diagnostics::default]\",\n  'upgrade_mobiledgex_package::default'",
        ),
        expect: &[also(DOCKER_CRM_PIN)],
    },
    Case {
        name: "policy-lock: a looser pin the lock meets, a cookbook locked for a dependency",
        trees: A,
        edit: |t| {
            t.edit(DOCKER_CRM, "cookbook 'run_diagnostics', '= 1.0.2'", "cookbook 'run_diagnostics', '~> 1.0'");
            edit_lock(t, DOCKER_CRM_LOCK, |lock| {
                let mut docker = lock["cookbook_locks"]["run_diagnostics"].clone();
                docker["version"] = "7.7.0".into();
                lock["cookbook_locks"]["docker"] = docker;
                let deps = lock["solution_dependencies"]["dependencies"].as_object_mut().unwrap();
                deps.insert("docker (7.7.0)".into(), serde_json::json!([]));
                deps.insert("run_diagnostics (1.0.2)".into(), serde_json::json!([["docker", ">= 0.0.0"]]));
            });
        },
        expect: &[also(DOCKER_CRM_PIN)],
    },
    Case {
        name: "policy-lock: a pin the lock does not meet",
        trees: A,
        edit: |t| t.edit(DOCKER_CRM, "cookbook 'run_diagnostics', '= 1.0.2'", "cookbook 'run_diagnostics', '>= 1.1'"),
        expect: &[
            also(DOCKER_CRM_PIN),
            expect(
                "error[policy-lock]: chef/policyfiles/docker_crm.lock.json is stale: run_diagnostics is pinned to >= 1.1 but locked at 1.0.2",
                &[(DOCKER_CRM, "cookbook 'run_diagnostics'"), (DOCKER_CRM_LOCK, "")],
                REGENERATE_DOCKER_CRM,
            ),
        ],
    },
    Case {
        name: "policy-lock: a pin moved and a cookbook added without the lock",
        trees: A,
        edit: |t| {
            t.edit(DOCKER_CRM, "cookbook 'setup_infra', '= 1.0.2'", "cookbook 'setup_infra', '= 1.0.3'");
            t.edit(DOCKER_CRM, "run_list 'recipe[setup_infra]'", "cookbook 'extra', '= 0.1.0'\nrun_list 'recipe[setup_infra]'");
        },
        expect: &[expect(
            "error[policy-lock]: chef/policyfiles/docker_crm.lock.json is stale: extra 0.1.0 is not in the lock; setup_infra is pinned to 1.0.3 but locked at 1.0.2",
            &[(DOCKER_CRM, "cookbook 'extra'"), (DOCKER_CRM, "cookbook 'setup_infra'"), (DOCKER_CRM_LOCK, "")],
            REGENERATE_DOCKER_CRM,
        )],
    },
    Case {
        name: "policy-lock: named run lists and override attributes, missing from the lock",
        trees: A,
        edit: |t| t.edit(
            DOCKER_CRM,
            "default['setup_infra']['docker_log_max_size'] = '100m'",
            "default['setup_infra']['docker_log_max_size'] = '100m'\noverride['main']['edgeCloudVersion'] = '2021-08-14-5'\nnamed_run_list :local, 'recipe[setup_infra]'",
        ),
        expect: &[
            also(DOCKER_CRM_PIN),
            also("error[policy-lock]: chef/policyfiles/docker_crm.lock.json is stale: named run list `local` is not in the lock; override attribute main.edgeCloudVersion is 2021-08-14-5 but the lock has nothing"),
        ],
    },
    Case {
        name: "policy-lock: named run lists and override attributes, in the lock",
        trees: A,
        edit: |t| {
            t.edit(
                DOCKER_CRM,
                "default['setup_infra']['docker_log_max_size'] = '100m'",
                "default['setup_infra']['docker_log_max_size'] = '100m'\noverride['main']['edgeCloudVersion'] = '2021-08-14-5'\nnamed_run_list :local, 'recipe[setup_infra]'",
            );
            edit_lock(t, DOCKER_CRM_LOCK, |lock| {
                lock["named_run_lists"] = serde_json::json!({"local": ["recipe[setup_infra::default]"]});
                lock["override_attributes"] = serde_json::json!({"main": {"edgeCloudVersion": "2021-08-14-5"}});
            });
        },
        expect: &[also(DOCKER_CRM_PIN)],
    },
    Case {
        name: "policy-lock: an attribute the policyfile no longer sets",
        trees: A,
        edit: |t| edit_lock(t, DOCKER_CRM_LOCK, |lock| {
            lock["override_attributes"] = serde_json::json!({"main": {"edgeCloudVersion": "2021-08-14-5"}});
        }),
        expect: &[
            also(DOCKER_CRM_PIN),
            also("error[policy-lock]: chef/policyfiles/docker_crm.lock.json is stale: the lock has override attribute main.edgeCloudVersion, which the policyfile no longer sets"),
        ],
    },
    Case {
        name: "policy-lock: a lock missing, another unreadable",
        trees: BOTH,
        edit: |t| {
            t.remove(DOCKER_CRM_LOCK);
            t.write(BASE_LOCK, "{\n  \"name\": \"base\",\n");
        },
        expect: &[
            also(DOCKER_CRM_PIN),
            Expect {
                head: "error[policy-lock]: chef/policyfiles/base.lock.json cannot be read: not valid JSON…",
                at: &[(BASE_LOCK, "")],
                help: Some(REGENERATE_BASE),
            },
            expect(
                "error[policy-lock]: policy docker_crm has no lock file chef/policyfiles/docker_crm.lock.json",
                &[(DOCKER_CRM, "")],
                REGENERATE_DOCKER_CRM,
            ),
        ],
    },
];

fn finding(rule: &'static str, message: &str, path: &str) -> Finding {
    Finding::new(
        rule,
        Severity::Error,
        message.into(),
        vec![Location {
            path: path.into(),
            line: 1,
        }],
        None,
    )
}

#[test]
fn only_untouched_findings_that_stood_before_are_spared() {
    let stale = finding(POLICY_LOCK, "a.lock.json is stale: x", "a.lock.json");
    let before = vec![stale.clone()];
    let mut now = vec![
        stale.clone(),
        finding(PACKAGE_VERSION, "disagrees", "Makefile"),
        finding(POLICY_LOCK, "a.lock.json is stale: x; y", "a.lock.json"),
    ];
    spare_pre_existing(&mut now, &before, &["README.md".into()]);
    let judged: Vec<(Severity, bool)> = now.iter().map(|f| (f.severity, f.pre_existing)).collect();
    assert_eq!(
        judged,
        [
            (Severity::Warning, true),
            (Severity::Error, false),
            (Severity::Error, false),
        ]
    );
    let mut touched = vec![stale];
    spare_pre_existing(&mut touched, &before, &["a.lock.json".into()]);
    assert_eq!(
        (touched[0].severity, touched[0].pre_existing),
        (Severity::Error, false)
    );
    assert!(touched[0].to_json()["pre_existing"] == false);
}
