//! The TOML file's shape (serde).
