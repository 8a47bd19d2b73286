//! Clean stops on Ctrl-C: a handler sets a shared flag, and long stages test it between
//! iterations or trials, save what they have and return [`Interrupted`].
//!
//! NOTE: the f-I fit and the activation tabulation are single calls into `convert`, which
//! takes no stop flag, so a stop requested during them takes effect when they return.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_CODE: i32 = 130;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler. The first Ctrl-C requests a stop of the running stage at its
/// next iteration or trial, and a second one exits at once with [`EXIT_CODE`].
///
/// # Errors
/// When a handler is already installed or the signal cannot be hooked.
pub fn install_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            eprintln!("second Ctrl-C: exiting without saving");
            std::process::exit(EXIT_CODE);
        }
        eprintln!(
            "Ctrl-C: stopping after the current iteration or trial (press again to exit at once)"
        );
    })
    .context("failed to install the Ctrl-C handler")
}

/// Returns whether a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Requests a stop, as Ctrl-C does.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Returns an [`Interrupted`] error for `stage` when a stop was requested.
pub fn check(stage: &str) -> Result<()> {
    if requested() {
        return Err(Interrupted {
            stage: stage.to_string(),
            saved: None,
        }
        .into());
    }
    Ok(())
}

/// A stage stopped on request.
#[derive(Debug)]
pub struct Interrupted {
    /// Stage and position at which the run stopped.
    pub stage: String,
    /// Checkpoint written before stopping, if the stage writes one.
    pub saved: Option<PathBuf>,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted during {}", self.stage)?;
        if let Some(path) = &self.saved {
            write!(f, "; the checkpoint is in {}", path.display())?;
        }
        let reuse = crate::training::REUSE_TRAINED.load(std::sync::atomic::Ordering::Relaxed);
        if reuse && self.saved.is_some() {
            // --resume excludes --reuse-trained, and it continues finished stages at once.
            write!(
                f,
                "; rerun the same command with --resume in place of --reuse-trained to continue \
                 from the saved checkpoints"
            )
        } else if reuse {
            write!(
                f,
                "; rerun the same command to reuse the trained networks and redo the later stages"
            )
        } else {
            write!(
                f,
                "; rerun the same command with --resume to continue from the saved checkpoints"
            )
        }
    }
}

impl std::error::Error for Interrupted {}
