//! Every line the xtask prints itself goes through here (`println!` and
//! friends are redefined at the crate root to call [`write`]), so that a
//! reader that went away (`xtask versions | head -1`, `check | true`) ends
//! the command the way it ends any Unix tool, not with a panic ("failed
//! printing to stdout: Broken pipe", exit 101).
//!
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

use std::fmt;
use std::io::{ErrorKind, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set for commands that only read: a closed pipe ends them.
static END_ON_CLOSED_PIPE: AtomicBool = AtomicBool::new(false);

/// From now on, a closed standard output or error ends the process as SIGPIPE would.
pub fn end_on_closed_pipe() {
    END_ON_CLOSED_PIPE.store(true, Ordering::SeqCst);
}

/// Prints to standard output (`to_stderr` false) or standard error.
pub fn write(to_stderr: bool, args: fmt::Arguments<'_>) {
    let written = if to_stderr {
        std::io::stderr().lock().write_fmt(args)
    } else {
        std::io::stdout().lock().write_fmt(args)
    };
    if let Err(err) = written {
        if err.kind() == ErrorKind::BrokenPipe {
            closed_pipe();
        }
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
