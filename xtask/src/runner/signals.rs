//! SIGINT, SIGTERM and SIGHUP, with the signal-hook crate.
//!
//! Handlers are installed once, at the start (`install`). While nothing needs
//! to finish, a signal ends the xtask at once with exit status 128+signal, as
//! the default action would (a shell shows the same `$?`). While something
//! must not be cut short — a write being committed, a tool running, a secret
//! file on disk — a [`Deferral`] is alive: the signal is recorded instead, the
//! runner stops the tool's whole process group, secret files are removed, no
//! step starts any more, and `xtask::main` ends with 128+signal once the
//! command has cleaned up and recorded what was not done.
//!
//! A signal the xtask was started with ignored (`nohup`, a background job)
//! stays ignored.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

pub use signal_hook::consts::{SIGHUP, SIGINT, SIGKILL, SIGTERM};

/// The signals that end a command cleanly.
pub const HANDLED: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

struct Flags {
    /// Set by every arrival; `presses` consumes it to count them.
    arrived: Arc<AtomicBool>,
    /// The number of the last signal that arrived, 0 before any.
    last: Arc<AtomicUsize>,
    /// True while no deferral is alive: a signal ends the process at once.
    immediate: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();
/// How many deferrals are alive.
static DEFERRALS: Mutex<usize> = Mutex::new(0);
/// Arrivals seen by `presses` so far.
static PRESSES: AtomicUsize = AtomicUsize::new(0);

/// Installs the handlers (once; later calls do nothing).
pub fn install() {
    flags();
}

fn flags() -> &'static Flags {
    FLAGS.get_or_init(|| {
        let flags = Flags {
            arrived: Arc::new(AtomicBool::new(false)),
            last: Arc::new(AtomicUsize::new(0)),
            immediate: Arc::new(AtomicBool::new(true)),
        };
        let ignored = ignored_at_start();
        for signal in HANDLED {
            if ignored.contains(&signal) {
                continue;
            }
            let code = 128 + signal;
            // Registration fails only for a signal that cannot be caught;
            // these three can. The order is the order they run in.
            let _ = signal_hook::flag::register_usize(signal, flags.last.clone(), signal as usize);
            let _ = signal_hook::flag::register(signal, flags.arrived.clone());
            let _ = signal_hook::flag::register_conditional_shutdown(
                signal,
                code,
                flags.immediate.clone(),
            );
        }
        flags
    })
}

/// The handled signals this process was started with ignored, read from
/// `/proc/self/status` (`SigIgn`, a hex mask); none where there is no /proc.
fn ignored_at_start() -> Vec<i32> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Vec::new();
    };
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    HANDLED
        .into_iter()
        .filter(|&signal| mask & (1 << (signal - 1)) != 0)
        .collect()
}

/// How many times a handled signal arrived while deferred (arrivals closer
/// together than two calls count once).
pub fn presses() -> usize {
    let Some(flags) = FLAGS.get() else { return 0 };
    if flags.arrived.swap(false, Ordering::SeqCst) {
        PRESSES.fetch_add(1, Ordering::SeqCst);
    }
    PRESSES.load(Ordering::SeqCst)
}

/// The signal that interrupted the command, if one did.
pub fn caught() -> Option<i32> {
    let last = FLAGS.get()?.last.load(Ordering::SeqCst);
    i32::try_from(last).ok().filter(|&signal| signal != 0)
}

/// `SIGINT`, for messages.
pub fn name(signal: i32) -> String {
    match signal {
        s if s == SIGINT => "SIGINT".into(),
        s if s == SIGTERM => "SIGTERM".into(),
        s if s == SIGHUP => "SIGHUP".into(),
        s if s == SIGKILL => "SIGKILL".into(),
        other => format!("signal {other}"),
    }
}

/// While alive, a handled signal is recorded rather than ending the process.
/// Nested and concurrent deferrals are counted.
pub struct Deferral {
    _private: (),
}

impl Deferral {
    pub fn new() -> Deferral {
        let flags = flags();
        let mut alive = DEFERRALS.lock().unwrap_or_else(PoisonError::into_inner);
        *alive += 1;
        flags.immediate.store(false, Ordering::SeqCst);
        Deferral { _private: () }
    }
}

impl Drop for Deferral {
    fn drop(&mut self) {
        let mut alive = DEFERRALS.lock().unwrap_or_else(PoisonError::into_inner);
        *alive = alive.saturating_sub(1);
        if *alive == 0 {
            flags().immediate.store(true, Ordering::SeqCst);
        }
    }
}

/// Sends `signal` to the process group `group` (a tool spawned as the leader
/// of its own group: its pid). Only a positive group id: 0 or a negative
/// number would reach our own group or a single process.
pub fn send_group(group: u32, signal: i32) -> bool {
    match i32::try_from(group) {
        // SAFETY: kill(2) has no memory effects; `-group` names one group.
        Ok(group) if group > 1 => unsafe { libc::kill(-group, signal) == 0 },
        _ => false,
    }
}

/// Sends `signal` to one process.
#[cfg(test)]
pub fn send(pid: u32, signal: i32) -> bool {
    match i32::try_from(pid) {
        // SAFETY: as above, with a single process's pid.
        Ok(pid) if pid > 0 => unsafe { libc::kill(pid, signal) == 0 },
        _ => false,
    }
}

/// Whether a process with this pid exists (signal 0 checks without sending).
#[cfg(test)]
pub fn alive(pid: u32) -> bool {
    send(pid, 0)
}
