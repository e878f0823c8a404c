//! Policyfile lock files (`<policy>.lock.json`), written by `chef install`, read here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::ruby::Precedence;

#[derive(Debug, Clone)]
pub struct Lock {
    pub name: Option<String>,
    /// cookbook name → locked version.
    pub cookbooks: BTreeMap<String, String>,
    pub default_attributes: Value,
    pub override_attributes: Value,
    /// `recipe[x::y]` items, as `chef install` expanded them.
    pub run_list: Vec<String>,
    pub named_run_lists: BTreeMap<String, Vec<String>>,
    /// cookbook name → the cookbooks it depends on (`solution_dependencies.dependencies`).
    pub dependencies: BTreeMap<String, Vec<String>>,
    /// Where each cookbook's entry in `cookbook_locks` starts (1-based line).
    pub cookbook_lines: BTreeMap<String, usize>,
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
    let strings = |value: Option<&Value>| -> Vec<String> {
        value
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let named_run_lists = object
        .get("named_run_lists")
        .and_then(Value::as_object)
        .map(|lists| {
            lists
                .iter()
                .map(|(name, items)| (name.clone(), strings(Some(items))))
                .collect()
        })
        .unwrap_or_default();
    // Keys are `name (version)`, values `[[dependency, constraint]…]`.
    let dependencies = object
        .get("solution_dependencies")
        .and_then(|s| s.get("dependencies"))
        .and_then(Value::as_object)
        .map(|deps| {
            deps.iter()
                .map(|(key, needs)| {
                    let name = key.split(" (").next().unwrap_or(key).to_string();
                    let needs = needs
                        .as_array()
                        .map(|pairs| {
                            pairs
                                .iter()
                                .filter_map(|pair| pair.get(0).and_then(Value::as_str))
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    (name, needs)
                })
                .collect()
        })
        .unwrap_or_default();
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let locks_at = text.find("\"cookbook_locks\"").unwrap_or(0);
    let cookbook_lines = cookbooks
        .keys()
        .map(|name| {
            let key = format!("\"{name}\":");
            let line = text[locks_at..]
                .find(&key)
                .map_or(1, |at| line_of(locks_at + at));
            (name.clone(), line)
        })
        .collect();
    let attributes = |key: &str| {
        object
            .get(key)
            .cloned()
            .unwrap_or(Value::Object(Default::default()))
    };
    Ok(Lock {
        run_list: strings(object.get("run_list")),
        named_run_lists,
        dependencies,
        cookbook_lines,
        override_attributes: attributes("override_attributes"),
        name: object
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string),
        cookbooks,
        default_attributes: attributes("default_attributes"),
    })
}

impl Lock {
    pub fn attributes(&self, level: Precedence) -> &Value {
        match level {
            Precedence::Default => &self.default_attributes,
            Precedence::Override => &self.override_attributes,
        }
    }

    /// The value at an attribute path (`['a']['b']` → `a` then `b`).
    pub fn attribute_at(&self, level: Precedence, path: &[String]) -> Option<&Value> {
        path.iter()
            .try_fold(self.attributes(level), |value, key| value.get(key))
    }

    /// Every cookbook that `roots` need, themselves included, following the
    /// lock's own dependency lists.
    pub fn needed_by<'a>(&'a self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
        let mut needed = BTreeSet::new();
        let mut todo: Vec<&str> = roots.into_iter().collect();
        while let Some(name) = todo.pop() {
            if needed.insert(name) {
                if let Some(deps) = self.dependencies.get(name) {
                    todo.extend(deps.iter().map(String::as_str));
                }
            }
        }
        needed
    }
}

/// The path of every leaf value below `value` (an empty object is a leaf too).
pub fn leaf_paths(value: &Value) -> Vec<Vec<String>> {
    match value.as_object() {
        Some(object) if !object.is_empty() => object
            .iter()
            .flat_map(|(key, child)| {
                leaf_paths(child).into_iter().map(move |mut rest| {
                    rest.insert(0, key.clone());
                    rest
                })
            })
            .collect(),
        _ => vec![Vec::new()],
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
        assert_eq!(lock.cookbooks["a"], "1.0.1");
        assert_eq!(
            lock.attribute_at(Precedence::Default, &["x".into(), "y".into()]),
            Some(&Value::from("z"))
        );
        assert_eq!(
            lock.attribute_at(Precedence::Default, &["x".into(), "q".into()]),
            None
        );
    }

    #[test]
    fn reads_run_lists_dependencies_and_lines() {
        let text = "{\n  \"name\": \"w\",\n  \"run_list\": [\n    \"recipe[a::default]\"\n  ],\n  \"named_run_lists\": {\"local\": [\"recipe[b::x]\"]},\n  \"cookbook_locks\": {\n    \"a\": {\n      \"version\": \"1.3.8\"\n    },\n    \"docker\": {\n      \"version\": \"7.7.0\"\n    }\n  },\n  \"override_attributes\": {\"main\": {\"v\": \"1\"}},\n  \"solution_dependencies\": {\n    \"Policyfile\": [[\"a\", \"= 1.3.8\"], [\"docker\", \"= 7.7.0\"]],\n    \"dependencies\": {\"a (1.3.8)\": [[\"docker\", \">= 0.0.0\"]], \"docker (7.7.0)\": []}\n  }\n}\n";
        let lock = parse(text).unwrap();
        assert_eq!(lock.run_list, ["recipe[a::default]"]);
        assert_eq!(lock.named_run_lists["local"], ["recipe[b::x]"]);
        assert_eq!(lock.cookbook_lines["a"], 8);
        assert_eq!(lock.cookbook_lines["docker"], 11);
        assert_eq!(lock.dependencies["a"], ["docker"]);
        assert_eq!(
            lock.needed_by(["a"]).into_iter().collect::<Vec<_>>(),
            ["a", "docker"]
        );
        assert_eq!(
            lock.attribute_at(Precedence::Override, &["main".into(), "v".into()]),
            Some(&Value::from("1"))
        );
        assert_eq!(
            leaf_paths(&lock.override_attributes),
            [vec!["main".to_string(), "v".to_string()]]
        );
    }

    #[test]
    fn explains_what_is_wrong() {
        assert!(parse("{").unwrap_err().contains("not valid JSON"));
        assert!(parse("[]").unwrap_err().contains("not a JSON object"));
        assert!(parse("{}").unwrap_err().contains("cookbook_locks"));
    }
}
