//! Policyfile lock files (`<policy>.lock.json`), written by `chef install`, read here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Lock {
    pub name: Option<String>,
    /// cookbook name → locked version.
    pub cookbooks: BTreeMap<String, String>,
    /// The cookbooks the policyfile named when the lock was made
    /// (`solution_dependencies.Policyfile`), without their dependencies.
    pub policyfile_cookbooks: BTreeSet<String>,
    pub default_attributes: Value,
}

pub fn parse(text: &str) -> Result<Lock, String> {
    let json: Value = serde_json::from_str(text).map_err(|err| format!("not valid JSON: {err}"))?;
    let object = json
        .as_object()
        .ok_or("not a policyfile lock: the top level is not a JSON object")?;
    let locks = object
        .get("cookbook_locks")
        .and_then(Value::as_object)
        .ok_or("not a policyfile lock: no `cookbook_locks` object")?;
    let mut cookbooks = BTreeMap::new();
    for (name, lock) in locks {
        let version = lock
            .get("version")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("cookbook_locks.{name} has no `version` string"))?;
        cookbooks.insert(name.clone(), version.to_string());
    }
    let policyfile_cookbooks = object
        .get("solution_dependencies")
        .and_then(|s| s.get("Policyfile"))
        .and_then(Value::as_array)
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|pair| pair.get(0).and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Lock {
        policyfile_cookbooks,
        name: object
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string),
        cookbooks,
        default_attributes: object
            .get("default_attributes")
            .cloned()
            .unwrap_or(Value::Object(Default::default())),
    })
}

impl Lock {
    /// The value at an attribute path (`['a']['b']` → `a` then `b`).
    pub fn attribute(&self, path: &[String]) -> Option<&Value> {
        path.iter()
            .try_fold(&self.default_attributes, |value, key| value.get(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_and_attributes() {
        let lock = parse(
            r#"{"name":"base","cookbook_locks":{"a":{"version":"1.0.1"}},"default_attributes":{"x":{"y":"z"}},"solution_dependencies":{"Policyfile":[["a","= 1.0.1"]],"dependencies":{}}}"#,
        )
        .unwrap();
        assert_eq!(lock.policyfile_cookbooks.iter().collect::<Vec<_>>(), ["a"]);
        assert_eq!(lock.cookbooks["a"], "1.0.1");
        assert_eq!(
            lock.attribute(&["x".into(), "y".into()]),
            Some(&Value::from("z"))
        );
        assert_eq!(lock.attribute(&["x".into(), "q".into()]), None);
    }

    #[test]
    fn explains_what_is_wrong() {
        assert!(parse("{").unwrap_err().contains("not valid JSON"));
        assert!(parse("[]").unwrap_err().contains("not a JSON object"));
        assert!(parse("{}").unwrap_err().contains("cookbook_locks"));
    }
}
