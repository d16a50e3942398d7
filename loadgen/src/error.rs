//! The library's error type.
//!
//! Guarantees: every variant names what was wrong (the argument, the file, the
//! address) so a user can fix it without reading code; no variant carries a
//! secret (terminal secrets and private keys never reach an error message).

use std::path::PathBuf;

/// Why a loadgen operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// A command-line value or specification was refused.
    #[error("invalid {arg} {value:?}: {reason}")]
    Arg {
        arg: &'static str,
        value: String,
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A report or terminal file is not what it should be.
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    /// A key could not be used (the message never contains key bytes).
    #[error("key {what}: {reason}")]
    Key { what: &'static str, reason: String },
    /// The target could not be reached or set up.
    #[error("target {url}: {reason}")]
    Target { url: String, reason: String },
    /// A helper process (simulator, switch) failed.
    #[error("{what}: {reason}")]
    Process { what: &'static str, reason: String },
    /// Drawing a plot failed.
    #[error("plot {name}: {reason}")]
    Plot { name: &'static str, reason: String },
}

impl LoadgenError {
    /// An invalid argument value.
    pub fn arg(arg: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        LoadgenError::Arg {
            arg,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// An I/O failure on a path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LoadgenError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result with [`LoadgenError`].
pub type Result<T> = std::result::Result<T, LoadgenError>;
