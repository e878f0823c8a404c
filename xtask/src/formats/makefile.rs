//! Make variables: `VERSION = 3.0.1`.

use super::{regex, scan, Found};

/// Every simple assignment of the make variable `name` (`=`, `:=`, `?=`).
pub fn variable(text: &str, name: &str) -> Vec<Found> {
    let pattern = format!(
        r"^[ \t]*{}[ \t]*[:?]?=[ \t]*(?P<v>[^ \t#]+)[ \t]*(?:#.*)?$",
        regex::escape(name)
    );
    scan(text, &regex(&pattern).requiring(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_variable_and_not_its_look_alikes() {
        let text = "PACKAGE = mobiledgex\nVERSION = 3.0.1\nPACKAGE_VERSION = 9\n# VERSION = 1.0.0\n\techo $(VERSION)\n";
        let found = variable(text, "VERSION");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].value.as_str()), (2, "3.0.1"));
    }

    #[test]
    fn accepts_tabs_and_colon_equals() {
        let found = variable("VERSION\t:=\t4.0.0\r\n", "VERSION");
        assert_eq!(found[0].value, "4.0.0");
    }
}
