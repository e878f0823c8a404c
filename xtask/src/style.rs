//! Colour, decided in one place: off unless asked for or on a terminal without NO_COLOR.

use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};

use crate::flags::ColorChoice;

/// Paints text when colour is on; returns it unchanged otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    pub fn new(choice: ColorChoice) -> Paint {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Paint { enabled }
    }

    #[cfg(test)]
    pub fn plain() -> Paint {
        Paint { enabled: false }
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
