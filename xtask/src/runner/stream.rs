//! A tool whose standard output is a stream to consume as it comes (a
//! decompressor), not an answer to keep: `Runner::stream` hands it over chunk
//! by chunk, so memory stays bounded whatever the tool writes.

use std::collections::hash_map::Entry;
use std::io::{ErrorKind, Read as _, Write as _};
use std::ops::ControlFlow;
use std::sync::mpsc;
use std::thread;

use anyhow::{Context as _, Result};

use super::signals::Deferral;
use super::{refuse_leaks, Runner, Step, DRAIN};

/// How much standard output is handed over at a time.
const CHUNK: usize = 256 * 1024;
/// How much of standard error is kept for the message.
const STDERR_KEPT: usize = 16 * 1024;

/// How a streamed tool ended.
#[derive(Debug, Clone)]
pub struct Streamed {
    /// Exit status 0, not stopped by the consumer, not interrupted.
    pub ok: bool,
    /// The exit code; `None` when the tool was ended by a signal.
    pub code: Option<i32>,
    /// The start of its standard error, secret values redacted.
    pub stderr: String,
    /// The consumer asked to stop, and the tool was killed.
    pub stopped: bool,
    /// Ctrl-C was pressed while it ran.
    pub interrupted: bool,
}

impl Runner {
    /// Runs a tool silently and hands its standard output to `consume` in
    /// chunks as it comes; `consume` returns `Break` to stop the tool (it is
    /// killed). Nothing of standard output is kept; standard error is (its
    /// start). No log. Ctrl-C stops it like a step.
    pub fn stream(
        &self,
        step: &Step,
        mut consume: impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<Streamed> {
        refuse_leaks(step)?;
        let not_started = Streamed {
            ok: false,
            code: None,
            stderr: String::new(),
            stopped: false,
            interrupted: true,
        };
        if self.presses() > 0 {
            return Ok(not_started);
        }
        let _deferral = Deferral::new();
        let mut child = self.spawn(step)?;
        if let (Some(bytes), Some(mut pipe)) = (step.input(), child.stdin.take()) {
            let bytes = bytes.to_vec();
            thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let (sender, stderr) = mpsc::channel();
        if let Some(mut pipe) = child.stderr.take() {
            thread::spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let room = STDERR_KEPT.saturating_sub(kept.len());
                            kept.extend_from_slice(&buf[..n.min(room)]);
                        }
                        Err(err) if err.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = sender.send(kept);
            });
        }
        let mut stopped = false;
        let mut interrupted = false;
        if let Some(mut out) = child.stdout.take() {
            let mut buf = vec![0u8; CHUNK];
            loop {
                if self.presses() > 0 {
                    interrupted = true;
                    break;
                }
                match out.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if consume(&buf[..n]).is_break() {
                            stopped = true;
                            break;
                        }
                    }
                    Err(err) if err.kind() == ErrorKind::Interrupted => {}
                    Err(err) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(err)
                            .with_context(|| format!("cannot read from `{}`", step.program()));
                    }
                }
            }
        }
        if stopped || interrupted {
            // Not reaped yet, so the pid is still the child's; an error means
            // it ended meanwhile.
            let _ = child.kill();
        }
        let status = child
            .wait()
            .with_context(|| format!("lost track of `{}`", step.program()))?;
        let stderr = stderr.recv_timeout(DRAIN).unwrap_or_default();
        let stderr = step.redactor().redact(&String::from_utf8_lossy(&stderr));
        interrupted |= self.presses() > 0;
        Ok(Streamed {
            ok: status.success() && !stopped && !interrupted,
            code: status.code(),
            stderr: stderr.trim().to_string(),
            stopped,
            interrupted,
        })
    }
}

/// A tool that answers requests one at a time on its standard input and
/// output (`git cat-file --batch`): started once, asked many times. Closing
/// its standard input ends it: [`Session::end`] then waits for it; a session
/// merely dropped (the runner's, as the xtask exits) does not wait, since the
/// tool's own exit would add ~1 ms to every command that read git's objects.
pub struct Session {
    child: std::process::Child,
    input: Option<std::process::ChildStdin>,
    output: std::io::BufReader<std::process::ChildStdout>,
}

impl Session {
    /// Sends `request` (the tool sees it at once).
    pub fn send(&mut self, request: &[u8]) -> Result<()> {
        let input = self
            .input
            .as_mut()
            .context("the tool's standard input is closed")?;
        input.write_all(request)?;
        input.flush()?;
        Ok(())
    }

    /// Where the answers are read.
    pub fn output(&mut self) -> &mut std::io::BufReader<std::process::ChildStdout> {
        &mut self.output
    }
}

impl Session {
    /// Closes the tool's input and waits for it to exit.
    pub fn end(mut self) {
        drop(self.input.take());
        let _ = self.child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.input.take());
        // Reaped now if it is gone already; else it ends by itself at the
        // end of its input, and is reaped by whoever outlives the xtask (a
        // runner dropped long before its process ends, as in unit tests,
        // leaves a zombie until then; the xtask's one runner ends with it).
        let _ = self.child.try_wait();
    }
}

impl Runner {
    /// Starts a query tool that answers requests on its standard input
    /// (`git cat-file --batch`) in `dir`. Its standard error is discarded.
    pub fn session(&self, step: &Step) -> Result<Session> {
        refuse_leaks(step)?;
        // Some input, so that the runner gives the tool a pipe to read.
        let step = step.clone().stdin(Vec::new());
        let mut child = self.spawn(&step)?;
        let (Some(input), Some(output), Some(mut errors)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("cannot talk to `{}`: no pipes", step.program());
        };
        thread::spawn(move || std::io::copy(&mut errors, &mut std::io::sink()));
        Ok(Session {
            child,
            input: Some(input),
            output: std::io::BufReader::new(output),
        })
    }

    /// `ask`s the session of `step`, started on its first use and kept for
    /// the runner's life: every reader of the same repository's objects (the
    /// index, HEAD, a base revision) shares one `git cat-file --batch`.
    /// git reads the index once, at its first `:path`: code that changes the
    /// index or HEAD (`git add`, `git commit`) calls [`Runner::end_sessions`].
    pub fn with_session<T>(&self, step: &Step, ask: impl FnOnce(&mut Session) -> T) -> Result<T> {
        let key = format!("{:?} {}", step.working_dir(), step.command_line());
        let mut sessions = self.sessions.borrow_mut();
        let session = match sessions.entry(key) {
            Entry::Occupied(running) => running.into_mut(),
            Entry::Vacant(slot) => slot.insert(self.session(step)?),
        };
        Ok(ask(session))
    }

    /// Ends every session (each is waited for): the next read starts a new
    /// one, which sees the index and HEAD as they are now.
    pub fn end_sessions(&self) {
        for (_, session) in self.sessions.borrow_mut().drain() {
            session.end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner() -> Runner {
        Runner::for_root(&std::env::temp_dir()).unwrap()
    }

    #[test]
    fn hands_over_all_of_standard_output_and_keeps_standard_error() {
        // 3 MB in many chunks, then a message on standard error and exit 3.
        let step = Step::new("", "sh").args([
            "-c",
            "head -c 3000000 /dev/zero | tr '\\0' x; echo oops >&2; exit 3",
        ]);
        let mut seen = 0;
        let out = runner()
            .stream(&step, |bytes| {
                assert!(bytes.iter().all(|&b| b == b'x'));
                seen += bytes.len();
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(seen, 3_000_000);
        assert_eq!((out.ok, out.code, out.stopped), (false, Some(3), false));
        assert_eq!(out.stderr, "oops");
        let out = runner()
            .stream(&Step::new("", "true"), |_| ControlFlow::Continue(()))
            .unwrap();
        assert!(out.ok);
    }

    #[test]
    fn stops_a_tool_that_writes_forever_when_asked() {
        let step = Step::new("", "cat").arg("/dev/zero");
        let mut seen = 0;
        let out = runner()
            .stream(&step, |bytes| {
                seen += bytes.len();
                if seen > 10_000_000 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert!(out.stopped && !out.ok && !out.interrupted);
        assert!(seen > 10_000_000 && seen <= 10_000_000 + CHUNK);
    }

    #[test]
    fn a_missing_tool_is_an_error_with_its_fix() {
        let err = runner()
            .stream(&Step::new("", "no-such-tool-xtask"), |_| {
                ControlFlow::Continue(())
            })
            .unwrap_err();
        assert!(format!("{err:#}").contains("not installed or not on PATH"));
    }
}
