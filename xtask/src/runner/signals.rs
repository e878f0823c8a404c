//! Ctrl-C, without a crate: while a tool runs (or a secret file exists) SIGINT
//! is caught and counted instead of ending the xtask, so that the runner can
//! stop the tool, wait for it and report the step as not done. Outside those
//! moments Ctrl-C does what it always did.
//!
//! The child runs in our process group, so a Ctrl-C typed at the terminal
//! reaches it (and its own children) directly; the runner also signals it,
//! which covers a SIGINT sent to the xtask alone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Signal numbers, the same on Linux and macOS.
pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

/// `signal(2)` dispositions, as the C library spells them.
const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;
const SIG_ERR: usize = usize::MAX;

/// How many times SIGINT arrived while the handler was installed.
static PRESSES: AtomicUsize = AtomicUsize::new(0);
/// How many guards are alive; the handler is installed while this is not 0.
static GUARDS: Mutex<usize> = Mutex::new(0);
/// The disposition to put back when the last guard goes.
static PREVIOUS: AtomicUsize = AtomicUsize::new(SIG_DFL);

extern "C" {
    /// `sighandler_t signal(int, sighandler_t)`; a handler is passed as its
    /// address. Both glibc and macOS give it BSD semantics: the handler stays
    /// installed and interrupted system calls restart.
    fn signal(signum: i32, handler: usize) -> usize;
    /// `int kill(pid_t, int)`; `pid_t` is 32 bits on Linux and macOS.
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Runs inside the signal: only an atomic add, which is async-signal-safe.
extern "C" fn on_sigint(_signum: i32) {
    PRESSES.fetch_add(1, Ordering::SeqCst);
}

/// How many times Ctrl-C was pressed while a guard was alive.
pub fn presses() -> usize {
    PRESSES.load(Ordering::SeqCst)
}

/// Catches SIGINT while alive (counted, so nested and concurrent guards work).
pub struct SigintGuard {
    _private: (),
}

impl SigintGuard {
    pub fn install() -> SigintGuard {
        let mut guards = GUARDS.lock().unwrap_or_else(PoisonError::into_inner);
        if *guards == 0 {
            let handler = on_sigint as extern "C" fn(i32) as usize;
            // SAFETY: `signal` is the C library's own, called with a valid
            // signal number and the address of an `extern "C" fn(i32)` that
            // only touches an atomic.
            let previous = unsafe { signal(SIGINT, handler) };
            if previous == SIG_IGN {
                // Started with Ctrl-C ignored (a background job): keep it so.
                // SAFETY: as above, with a constant disposition.
                unsafe { signal(SIGINT, SIG_IGN) };
            }
            if previous != SIG_ERR {
                PREVIOUS.store(previous, Ordering::SeqCst);
            }
        }
        *guards += 1;
        SigintGuard { _private: () }
    }
}

impl Drop for SigintGuard {
    fn drop(&mut self) {
        let mut guards = GUARDS.lock().unwrap_or_else(PoisonError::into_inner);
        *guards = guards.saturating_sub(1);
        if *guards == 0 {
            // SAFETY: puts back the disposition that `signal` returned before.
            unsafe { signal(SIGINT, PREVIOUS.load(Ordering::SeqCst)) };
        }
    }
}

/// Sends `sig` to one process. Only ever a single positive pid: 0 or a
/// negative number would reach a whole process group, ours included.
pub fn send(pid: u32, sig: i32) -> bool {
    match i32::try_from(pid) {
        // SAFETY: `kill` has no memory effects; the pid is one process's.
        Ok(pid) if pid > 0 => unsafe { kill(pid, sig) == 0 },
        _ => false,
    }
}

/// Whether a process with this pid exists (signal 0 checks without sending).
#[cfg(test)]
pub fn alive(pid: u32) -> bool {
    send(pid, 0)
}
