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

impl fmt::Display for Semver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
