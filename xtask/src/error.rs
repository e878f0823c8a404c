//! The two ways a command ends badly, mapped to the exit status of the contract.

use std::fmt;

/// Bad usage or bad input: exit status 2. Raised before anything is written or run.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// The command already reported why it failed (findings, a failed step): exit status 1.
#[derive(Debug)]
pub struct AlreadyReported;

impl fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed (see above)")
    }
}

impl std::error::Error for AlreadyReported {}

/// `bad!("…")`: an `anyhow::Error` that exits with status 2.
#[macro_export]
macro_rules! bad {
    ($($arg:tt)*) => {
        anyhow::Error::new($crate::error::BadInput(format!($($arg)*)))
    };
}

/// The exit status for an error, per the contract: 2 for bad input, else 1.
pub fn exit_status(err: &anyhow::Error) -> i32 {
    if err.chain().any(|cause| cause.is::<BadInput>()) {
        2
    } else {
        1
    }
}

/// Whether the error was already printed in full by the command.
pub fn already_reported(err: &anyhow::Error) -> bool {
    err.is::<AlreadyReported>()
}
