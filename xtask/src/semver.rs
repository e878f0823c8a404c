//! `X.Y.Z` versions: the base image version and chef cookbook versions.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Semver {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Semver {
    /// Parses `X.Y.Z` with decimal numbers (no leading `v`, no suffixes).
    pub fn parse(text: &str) -> Result<Semver, String> {
        let parts: Vec<&str> = text.split('.').collect();
        let explain = || format!("`{text}` is not a version of the form X.Y.Z (for example 3.0.1)");
        if parts.len() != 3 {
            return Err(explain());
        }
        let number = |part: &str| -> Result<u64, String> {
            if part.is_empty()
                || !part.bytes().all(|b| b.is_ascii_digit())
                || (part.len() > 1 && part.starts_with('0'))
            {
                return Err(explain());
            }
            part.parse().map_err(|_| explain())
        };
        Ok(Semver {
            major: number(parts[0])?,
            minor: number(parts[1])?,
            patch: number(parts[2])?,
        })
    }

    /// Parses what a user types: `3.0.1` or `v3.0.1`.
    pub fn parse_user(text: &str) -> Result<Semver, String> {
        Semver::parse(text.strip_prefix('v').unwrap_or(text))
    }

    pub fn next_patch(self) -> Semver {
        Semver {
            patch: self.patch + 1,
            ..self
        }
    }
}

/// Whether a cookbook `version` (`X.Y.Z` or `X.Y`) meets a Chef version
/// constraint (`= 1.0.14`, `>= 1.2`, `~> 1.2.3`, `< 2.0`, `!= 1.0.0`; a bare
/// version means `=`). `None` when either cannot be read: the caller says so
/// instead of guessing.
pub fn chef_constraint_allows(constraint: &str, version: &str) -> Option<bool> {
    fn numbers(text: &str) -> Option<Vec<u64>> {
        let parts: Option<Vec<u64>> = text.trim().split('.').map(|p| p.parse().ok()).collect();
        parts.filter(|p| (1..=3).contains(&p.len()))
    }
    let padded = |mut parts: Vec<u64>| {
        parts.resize(3, 0);
        parts
    };
    let constraint = constraint.trim();
    let split = constraint
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(constraint.len());
    let (op, wanted) = constraint.split_at(split);
    let wanted_parts = numbers(wanted)?;
    let (have, want) = (padded(numbers(version)?), padded(wanted_parts.clone()));
    Some(match op.trim() {
        "" | "=" => have == want,
        "!=" => have != want,
        ">=" => have >= want,
        ">" => have > want,
        "<=" => have <= want,
        "<" => have < want,
        "~>" => {
            // `~> 1.2` allows 1.x from 1.2; `~> 1.2.3` allows 1.2.x from 1.2.3.
            let mut upper = wanted_parts;
            if upper.len() > 1 {
                upper.pop();
            }
            let last = upper.len() - 1;
            upper[last] += 1;
            have >= want && have < padded(upper)
        }
        _ => return None,
    })
}

impl fmt::Display for Semver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chef_constraints() {
        for (constraint, version, allowed) in [
            ("= 1.0.14", "1.0.14", true),
            ("= 1.0.14", "1.0.15", false),
            ("1.0.14", "1.0.14", true),
            ("= 1.0", "1.0.0", true),
            (">= 0.0.0", "7.7.0", true),
            ("> 1.2", "1.2.0", false),
            ("< 2.0", "1.9.9", true),
            ("<= 1.2.3", "1.2.4", false),
            ("!= 1.0.0", "1.0.1", true),
            ("~> 1.2", "1.9.0", true),
            ("~> 1.2", "2.0.0", false),
            ("~> 1.2.3", "1.2.9", true),
            ("~> 1.2.3", "1.3.0", false),
            ("~> 1.2.3", "1.2.2", false),
        ] {
            assert_eq!(
                chef_constraint_allows(constraint, version),
                Some(allowed),
                "{constraint} {version}"
            );
        }
        assert_eq!(chef_constraint_allows("=~ x", "1.0.0"), None);
        assert_eq!(chef_constraint_allows("= 1.0.0", "abc"), None);
    }

    #[test]
    fn parses_and_orders() {
        let v = Semver::parse_user("v3.0.10").unwrap();
        assert_eq!(v.to_string(), "3.0.10");
        assert!(v > Semver::parse("3.0.9").unwrap());
        assert_eq!(v.next_patch().to_string(), "3.0.11");
    }

    #[test]
    fn refuses_what_is_not_x_y_z() {
        for bad in [
            "",
            "3.0",
            "3.0.1.2",
            "three",
            "3.0.1 ",
            " 3.0.1",
            "3.0.1;rm",
            "3.0.x",
            "03.0.1",
            "3..1",
            "3.0.1-rc1",
            "vv3.0.1",
        ] {
            assert!(Semver::parse_user(bad).is_err(), "{bad:?} accepted");
        }
    }
}
