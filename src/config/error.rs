//! Configuration errors with their positions.

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// 1-based line and column, where known.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration ({} errors)", .0.len())]
pub struct ConfigErrors(pub Vec<ConfigError>);
