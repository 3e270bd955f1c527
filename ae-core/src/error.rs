//! Two kinds of error the runner turns into exit code 2: a config value that is not allowed,
//! and any other mistake of the user's (missing data, a bad flag).

use std::fmt;

/// A config key whose value is not allowed. The runner adds the file and line.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Dotted key, e.g. `model.kl_weight`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The user's mistake outside the config (missing or corrupt data file, a bad device).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Checks a condition on a config value, for the `validate` methods.
pub fn ensure(ok: bool, key: &str, message: impl FnOnce() -> String) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(key, message()))
    }
}

/// Checks a count that must be at least 1.
pub fn at_least_one(n: usize, key: &str) -> Result<(), ConfigError> {
    ensure(n >= 1, key, || {
        "0 is not allowed: must be at least 1".into()
    })
}
