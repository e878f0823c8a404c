//! What `release` records in `target/xtask/release.json`: its inputs and each
//! step's state, read and written with serde. Files written before this
//! module (hand-written JSON with the same keys) still read; an unknown step,
//! state or platform is an error naming the file, never silently "pending".

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bad;
use crate::changeset::Changeset;
use crate::context::Context;
use crate::flags::Platform;

pub const STATE_FILE: &str = "target/xtask/release.json";

/// What one step of a release does; recorded as its id (`build-image:vcd`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Work {
    Bump,
    BuildPackage,
    /// Every check the irreversible steps need, run again before the first
    /// of them on every run (rules, pins, tools, credentials, glance,
    /// Artifactory, a clean tree).
    Preflight,
    PublishPackage,
    BuildImage(Platform),
    /// The one image of a tree whose build.sh has no platform option.
    BuildCommonImage,
    /// The image from glance to Artifactory (`publish-image`).
    PublishImage,
    ChefPolicy,
    /// One commit of every file the release edited, once `check --staged`
    /// passes (the locks are current only after chef-policy).
    Commit,
}

impl Work {
    pub fn id(&self) -> String {
        match self {
            Work::Bump => "bump".into(),
            Work::BuildPackage => "build-package".into(),
            Work::Preflight => "preflight".into(),
            Work::PublishPackage => "publish-package".into(),
            Work::BuildImage(platform) => format!("build-image:{}", platform.name()),
            Work::BuildCommonImage => "build-image".into(),
            Work::PublishImage => "publish-image".into(),
            Work::ChefPolicy => "chef-policy".into(),
            Work::Commit => "commit".into(),
        }
    }

    fn from_id(id: &str) -> Option<Work> {
        Some(match id {
            "bump" => Work::Bump,
            "build-package" => Work::BuildPackage,
            "preflight" => Work::Preflight,
            "publish-package" => Work::PublishPackage,
            "chef-policy" => Work::ChefPolicy,
            "commit" => Work::Commit,
            "build-image" => Work::BuildCommonImage,
            "publish-image" => Work::PublishImage,
            other => {
                let name = other.strip_prefix("build-image:")?;
                Work::BuildImage(*Platform::ALL.iter().find(|p| p.name() == name)?)
            }
        })
    }

    /// Publishes, uploads or pushes something that cannot be taken back.
    pub fn irreversible(&self) -> bool {
        matches!(
            self,
            Work::PublishPackage
                | Work::BuildImage(_)
                | Work::BuildCommonImage
                | Work::PublishImage
                | Work::ChefPolicy
        )
    }
}

impl TryFrom<String> for Work {
    type Error = String;

    fn try_from(id: String) -> Result<Work, String> {
        Work::from_id(&id).ok_or_else(|| format!("unknown step `{id}`"))
    }
}

impl From<Work> for String {
    fn from(work: Work) -> String {
        work.id()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    #[default]
    Pending,
    /// Started and not finished: the process was killed; counts as not done.
    Running,
    Done,
    Failed,
    /// Stopped by Ctrl-C; counts as not done.
    Interrupted,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    #[serde(rename = "id")]
    pub work: Work,
    /// Empty in a file that had none: shown as the id.
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub commands: Vec<String>,
    /// Written for readers of the file; recomputed from the step on load.
    #[serde(default)]
    pub irreversible: bool,
    #[serde(default)]
    pub state: StepState,
    /// What the step's result depends on, compared again on --resume.
    #[serde(default)]
    pub inputs: Value,
    #[serde(default)]
    pub attempts: u64,
    #[serde(default)]
    pub seconds: Option<f64>,
    #[serde(default)]
    pub log: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

impl StepRecord {
    pub fn new(work: Work, title: String, commands: Vec<String>) -> StepRecord {
        StepRecord {
            irreversible: work.irreversible(),
            work,
            title,
            commands,
            state: StepState::Pending,
            inputs: Value::Null,
            attempts: 0,
            seconds: None,
            log: None,
            error: None,
        }
    }
}

/// The recorded release: its inputs and each step's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    #[serde(default)]
    pub apt_snapshot: Option<String>,
    #[serde(default)]
    pub platforms: Vec<Platform>,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub publish: bool,
    /// The Artifactory base URL (None: the default).
    #[serde(default)]
    pub artifactory: Option<String>,
    /// Commit the bump (`<ticket> Base image <VERSION>`).
    #[serde(default)]
    pub commit: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Upload the built image to Artifactory (publish-image).
    #[serde(default)]
    pub publish_image: bool,
    /// When the file was last written (seconds since the epoch).
    #[serde(default)]
    pub saved_unix: u64,
    pub steps: Vec<StepRecord>,
}

impl Release {
    /// The state as JSON, as saved (also `release --status --json`).
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }

    /// Reads a recorded release from its JSON text; `Err` says what is wrong.
    pub fn from_json(text: &str) -> Result<Release, String> {
        let mut release: Release = serde_json::from_str(text).map_err(|err| {
            // serde's message without its " at line L column C" tail, which
            // follows below in words.
            let line = err.line();
            let what = err.to_string();
            let what = what
                .rsplit_once(" at line ")
                .map(|(head, _)| head.to_string())
                .unwrap_or(what);
            format!("{what} (line {line})")
        })?;
        if release.steps.is_empty() {
            return Err("no steps".into());
        }
        for step in &mut release.steps {
            step.irreversible = step.work.irreversible();
            if step.title.is_empty() {
                step.title = step.work.id();
            }
        }
        Ok(release)
    }
}

pub fn save(ctx: &Context, release: &Release) -> Result<()> {
    let mut release = release.clone();
    release.saved_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    ctx.runner().create_private_state_dir()?;
    let mut changes = Changeset::new(&ctx.root);
    changes.write(std::path::Path::new(STATE_FILE), release.to_json()?, 0o600)?;
    changes.apply()?;
    Ok(())
}

pub fn load(ctx: &Context) -> Result<Release> {
    // Bounded, and never a FIFO or a device (which would hang `--status`).
    let tree = ctx.work_tree();
    let Some(text) = crate::tree::read_text(&tree, STATE_FILE)? else {
        return Err(bad!(
            "no release is recorded in {STATE_FILE}; start one with cargo xtask release <VERSION>"
        ));
    };
    Release::from_json(&text).map_err(|what| {
        bad!("{STATE_FILE} is damaged: {what}; mend it, or start a new release with cargo xtask release <VERSION>")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as the hand-written code wrote it (before serde).
    const WRITTEN_BEFORE: &str = r#"{
  "apt_snapshot": null,
  "artifactory": null,
  "platforms": [
    "openstack",
    "vcd"
  ],
  "publish": true,
  "saved_unix": 1700000000,
  "steps": [
    {
      "attempts": 1,
      "commands": [
        "cargo xtask bump-base-image 3.0.2"
      ],
      "error": null,
      "id": "bump",
      "inputs": {
        "version": "3.0.2"
      },
      "irreversible": false,
      "log": null,
      "seconds": 0.25,
      "state": "done",
      "title": "set base image version 3.0.2 at every site"
    },
    {
      "attempts": 0,
      "commands": [],
      "error": null,
      "id": "build-image:vcd",
      "inputs": null,
      "irreversible": true,
      "log": null,
      "seconds": null,
      "state": "pending",
      "title": "build image mobiledgex-v3.0.2-vcd (vcd)"
    }
  ],
  "user": "tester",
  "version": "3.0.2"
}
"#;

    #[test]
    fn reads_a_file_written_by_the_hand_written_code() {
        let release = Release::from_json(WRITTEN_BEFORE).unwrap();
        assert_eq!(release.version, "3.0.2");
        assert_eq!(release.platforms, [Platform::Openstack, Platform::Vcd]);
        assert!(release.publish);
        assert!(!release.commit);
        assert_eq!(release.steps[0].work, Work::Bump);
        assert_eq!(release.steps[0].state, StepState::Done);
        assert_eq!(release.steps[0].seconds, Some(0.25));
        assert_eq!(release.steps[1].work, Work::BuildImage(Platform::Vcd));
        assert!(release.steps[1].irreversible);
        // And writes it back with the same keys.
        let again: Value = serde_json::from_str(&release.to_json().unwrap()).unwrap();
        let before: Value = serde_json::from_str(WRITTEN_BEFORE).unwrap();
        for key in ["version", "platforms", "publish", "user", "steps"] {
            assert_eq!(again[key], before[key], "{key}");
        }
    }

    #[test]
    fn an_unknown_state_step_or_platform_is_an_error_not_pending() {
        let cases = [
            ("\"state\": \"done\"", "\"state\": \"finished\"", "finished"),
            (
                "\"id\": \"bump\"",
                "\"id\": \"bumpp\"",
                "unknown step `bumpp`",
            ),
            ("\"vcd\"\n  ]", "\"vmware\"\n  ]", "vmware"),
        ];
        for (from, to, said) in cases {
            let text = WRITTEN_BEFORE.replacen(from, to, 1);
            assert_ne!(text, WRITTEN_BEFORE, "{from}");
            let err = Release::from_json(&text).unwrap_err();
            assert!(err.contains(said), "{said}: {err}");
            assert!(err.contains("line "), "{err}");
        }
        assert!(Release::from_json("{\"version\": \"3.0.2\", \"steps\": []}").is_err());
        assert!(Release::from_json("not json").is_err());
    }

    #[test]
    fn a_minimal_file_takes_defaults() {
        let release =
            Release::from_json(r#"{"version": "3.0.2", "steps": [{"id": "chef-policy"}]}"#)
                .unwrap();
        assert_eq!(release.steps[0].state, StepState::Pending);
        assert_eq!(release.steps[0].title, "chef-policy");
        assert!(release.steps[0].irreversible);
    }
}
