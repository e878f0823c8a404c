//! Colour, decided in one place for both output streams: NO_COLOR turns it off
//! whatever `--color` says; `always` turns it on; `auto` only when stdout AND
//! stderr are terminals, since reports, warnings and errors go to both and a
//! redirected stream (`2>log`) must never get escape codes.

use anstyle::{AnsiColor, Style};

use crate::flags::ColorChoice;
use crate::output::{self, Stream};

/// Paints text when colour is on; returns it unchanged otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    enabled: bool,
}

/// What the colour decision depends on, read from the process's environment.
#[derive(Debug, Clone, Copy)]
struct Surroundings {
    /// NO_COLOR is set to a non-empty value (https://no-color.org).
    no_color: bool,
    stdout_is_terminal: bool,
    stderr_is_terminal: bool,
}

impl Surroundings {
    fn of_this_process() -> Surroundings {
        Surroundings {
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            stdout_is_terminal: output::is_terminal(Stream::Stdout),
            stderr_is_terminal: output::is_terminal(Stream::Stderr),
        }
    }
}

/// The one colour decision.
fn colour_on(choice: ColorChoice, around: Surroundings) -> bool {
    if around.no_color {
        return false;
    }
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => around.stdout_is_terminal && around.stderr_is_terminal,
    }
}

impl Paint {
    pub fn new(choice: ColorChoice) -> Paint {
        Paint {
            enabled: colour_on(choice, Surroundings::of_this_process()),
        }
    }

    #[cfg(test)]
    pub fn plain() -> Paint {
        Paint { enabled: false }
    }

    /// Colour on whatever the environment says (NO_COLOR included), for unit tests of painted text.
    #[cfg(test)]
    pub fn coloured() -> Paint {
        Paint { enabled: true }
    }

    fn with(&self, style: Style, text: &str) -> String {
        if self.enabled {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    pub fn error(&self, text: &str) -> String {
        self.with(AnsiColor::Red.on_default().bold(), text)
    }
    pub fn warning(&self, text: &str) -> String {
        self.with(AnsiColor::Yellow.on_default().bold(), text)
    }
    pub fn good(&self, text: &str) -> String {
        self.with(AnsiColor::Green.on_default().bold(), text)
    }
    pub fn note(&self, text: &str) -> String {
        self.with(AnsiColor::Cyan.on_default().bold(), text)
    }
    pub fn bold(&self, text: &str) -> String {
        self.with(Style::new().bold(), text)
    }
    pub fn removed(&self, text: &str) -> String {
        self.with(AnsiColor::Red.on_default(), text)
    }
    pub fn added(&self, text: &str) -> String {
        self.with(AnsiColor::Green.on_default(), text)
    }
    pub fn dim(&self, text: &str) -> String {
        self.with(Style::new().dimmed(), text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn around(no_color: bool, stdout: bool, stderr: bool) -> Surroundings {
        Surroundings {
            no_color,
            stdout_is_terminal: stdout,
            stderr_is_terminal: stderr,
        }
    }

    #[test]
    fn no_color_wins_over_every_choice() {
        for choice in [ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never] {
            assert!(!colour_on(choice, around(true, true, true)), "{choice:?}");
        }
    }

    #[test]
    fn auto_needs_both_streams_on_a_terminal() {
        assert!(colour_on(ColorChoice::Auto, around(false, true, true)));
        assert!(!colour_on(ColorChoice::Auto, around(false, true, false)));
        assert!(!colour_on(ColorChoice::Auto, around(false, false, true)));
        assert!(!colour_on(ColorChoice::Auto, around(false, false, false)));
    }

    #[test]
    fn always_and_never_ignore_the_terminal() {
        assert!(colour_on(ColorChoice::Always, around(false, false, false)));
        assert!(!colour_on(ColorChoice::Never, around(false, true, true)));
    }
}
