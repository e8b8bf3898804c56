//! What Ctrl-C, SIGTERM and SIGHUP do: every command ends at once with status 128 + the
//! signal's number, first removing the temporary files it was writing (an interrupted `export`
//! left a full-size hidden temporary file beside the bundle, hostile round 13), except a
//! training run with something to save, which is asked to save and pause instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The flag of the training run that saves and pauses on a signal, while there is one.
static GRACEFUL: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);

/// Set once a signal is ending the process.
static ENDING: AtomicBool = AtomicBool::new(false);

/// Waits for the end if a signal is ending the process: a command whose temporary file the
/// handler removed fails, and printing that failure and exiting with 1 raced the handler's
/// exit (a Ctrl-C'd `synth` ended with 1 in 3 of 12 tries, naming a temporary file).
pub fn wait_if_ending() {
    while ENDING.load(Ordering::SeqCst) {
        std::thread::park();
    }
}

/// Starts handling the signals, once (later calls do nothing).
pub fn handle_signals() -> std::io::Result<()> {
    static STARTED: Mutex<bool> = Mutex::new(false);
    let mut started = STARTED.lock().unwrap_or_else(PoisonError::into_inner);
    if !*started {
        start_handler()?;
        *started = true;
    }
    Ok(())
}

/// Until the guard is dropped, a signal sets `stop` rather than ending the process.
#[must_use = "signals end the process again once the guard is dropped"]
pub struct StopOnSignal(());

impl StopOnSignal {
    pub fn new(stop: &Arc<AtomicBool>) -> std::io::Result<StopOnSignal> {
        handle_signals()?;
        #[cfg(not(unix))]
        signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(stop))?;
        *graceful() = Some(Arc::clone(stop));
        Ok(StopOnSignal(()))
    }
}

impl Drop for StopOnSignal {
    fn drop(&mut self) {
        *graceful() = None;
    }
}

fn graceful() -> std::sync::MutexGuard<'static, Option<Arc<AtomicBool>>> {
    GRACEFUL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A thread that waits for the signals: what it does (removing files, taking locks) is not
/// allowed inside a signal handler itself.
#[cfg(unix)]
fn start_handler() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || signals.forever().for_each(on_signal))?;
    Ok(())
}

#[cfg(unix)]
fn on_signal(signal: i32) {
    if let Some(stop) = graceful().as_ref() {
        stop.store(true, Ordering::SeqCst);
        return;
    }
    ENDING.store(true, Ordering::SeqCst);
    glimpse_files::abandon_staged();
    std::process::exit(128 + signal);
}

/// Elsewhere Ctrl-C keeps its default (ending the process) until a run can save.
#[cfg(not(unix))]
fn start_handler() -> std::io::Result<()> {
    Ok(())
}
