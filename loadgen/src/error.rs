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
        /// The option or field refused, as the user wrote it (`--rate`,
        /// `--stages`, `mix`).
        arg: &'static str,
        /// The value given, verbatim.
        value: String,
        /// Why it was refused, and what would be accepted.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`cannot read`, `cannot write`, `cannot
        /// create`), the start of the message.
        action: &'static str,
        /// The file or directory it was done on.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A report or terminal file is not what it should be.
    #[error("{path}: {reason}")]
    Format {
        /// The file read or written.
        path: PathBuf,
        /// What is wrong with it (the parser's message, a missing entry, the
        /// wrong schema).
        reason: String,
    },
    /// A key could not be used (the message never contains key bytes).
    #[error("key {what}: {reason}")]
    Key {
        /// Which key, as the option that gave it (`--app-private-key`,
        /// `--alipay-public-key`).
        what: &'static str,
        /// The parser's message, without any key material.
        reason: String,
    },
    /// The target could not be reached or set up.
    #[error("target {url}: {reason}")]
    Target {
        /// The URL that was asked (the switch's admin API, a simulator's
        /// control endpoint).
        url: String,
        /// What failed (connection, an answer that is not the expected one).
        reason: String,
    },
    /// A helper process (simulator, switch) failed.
    #[error("{what}: {reason}")]
    Process {
        /// The process or step (`simulator`, `switch`, `switch config`,
        /// `port`, `onboarding`).
        what: &'static str,
        /// What went wrong, with the child's output where there is any.
        reason: String,
    },
    /// Drawing a plot failed.
    #[error("plot {name}: {reason}")]
    Plot {
        /// The plot's name (`latency_over_time`, `tps`, `distribution`,
        /// `outcomes`).
        name: &'static str,
        /// The plotting library's message.
        reason: String,
    },
}

impl LoadgenError {
    /// A [`LoadgenError::Arg`]: `arg` is the option's name, `value` what was
    /// given, `reason` why it was refused.
    pub fn arg(arg: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        LoadgenError::Arg {
            arg,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// A [`LoadgenError::Io`]: `action` (`cannot read`, ...) failed on
    /// `path` with `source`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LoadgenError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// The library's result: `T` or a [`LoadgenError`].
pub type Result<T> = std::result::Result<T, LoadgenError>;
