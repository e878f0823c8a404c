//! The only code that touches standard output and standard error. Commands
//! print through [`Context`](crate::context::Context) (`say`, `answer`,
//! `detail`, `warn`, `error`, `explain`), which decides what -q and -v show;
//! the runner echoes its tools here; `main` prints the last error here.
//! `clippy.toml` and the crate's `deny(clippy::print_stdout, ...)` keep it so.
//!
//! It knows what a reader that went away (`xtask versions | head -1`,
//! `check | true`) means, and ends the command the way it ends any Unix
//! tool, not with a panic ("failed printing to stdout: Broken pipe", exit 101).
//! What happens then depends on the command:
//! - a command that only reads (`versions`, `check`, `mentions`, `deps show`,
//!   `deps outdated`, `doctor`, `release --status`) ends at once, killed by
//!   SIGPIPE as `cat` or `grep` would be (status 141 in a shell; a pipeline
//!   looks at its last command's status);
//! - a command that writes files or runs tools goes on without printing
//!   (its steps' logs keep the tools' output) and exits with its own status:
//!   stopping it half-way through a release would do more harm than a lost line.
//!
//! Tools the xtask starts are not affected: Rust puts SIGPIPE back to its
//! default in every child it spawns.
//!
//! Any other write error (a full disk behind `>`) is ignored for the same
//! reason: printing must never end a command half-way.
#![allow(clippy::disallowed_methods)] // the one place that holds the standard streams

use std::io::{ErrorKind, IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set for commands that only read: a closed pipe ends them.
static END_ON_CLOSED_PIPE: AtomicBool = AtomicBool::new(false);

/// From now on, a closed standard output or error ends the process as SIGPIPE would.
pub fn end_on_closed_pipe() {
    END_ON_CLOSED_PIPE.store(true, Ordering::SeqCst);
}

/// Which of the two standard streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Writes `text` as it is, and flushes (a prompt or a progress line must
/// show before the wait that follows it).
pub fn write(stream: Stream, text: &str) {
    let written = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(text.as_bytes()).and_then(|()| err.flush())
        }
    };
    if let Err(err) = written {
        if err.kind() == ErrorKind::BrokenPipe {
            closed_pipe();
        }
    }
}

/// `text` as whole lines: a newline is added unless it already ends with
/// one; an empty text has no line to print.
pub fn write_lines(stream: Stream, text: &str) {
    if text.is_empty() || text.ends_with('\n') {
        write(stream, text);
    } else {
        write(stream, &format!("{text}\n"));
    }
}

pub fn is_terminal(stream: Stream) -> bool {
    match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
    }
}

/// Standard output is a pipe nobody reads any more.
fn closed_pipe() {
    if !END_ON_CLOSED_PIPE.load(Ordering::SeqCst) {
        return;
    }
    die_of_sigpipe();
}

/// Ends the process as an unhandled SIGPIPE does. Rust ignores SIGPIPE from
/// the start (which is why the write failed instead), so put the default back first.
fn die_of_sigpipe() -> ! {
    let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGPIPE);
    // Not reached: the default action of SIGPIPE ends the process.
    std::process::exit(128 + signal_hook::consts::SIGPIPE)
}
