//! The bearer token of the admin session API (SPEC §9): from
//! `$SESSIONGATE_ADMIN_TOKEN` when set, else from `admin.token_file`.
//!
//! The token never reaches a log (`Debug` redacts), and a presented token is
//! compared in constant time, so its bytes cannot be guessed one by one from
//! response times.

use std::fmt;
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

use crate::config::AdminConfig;

/// The environment variable that, when set and not empty, is the token.
pub const TOKEN_ENV: &str = "SESSIONGATE_ADMIN_TOKEN";

/// The session API's bearer token.
#[derive(Clone)]
pub struct AdminToken(Vec<u8>);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// A token from its text; surrounding whitespace is not part of it.
    pub fn new(text: &str) -> Option<AdminToken> {
        let token = text.trim();
        (!token.is_empty()).then(|| AdminToken(token.as_bytes().to_vec()))
    }

    /// Whether `presented` is the token, in time independent of where
    /// they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.ct_eq(presented).into()
    }
}

/// Why the token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("admin.token_file {}: cannot read it", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("admin.token_file {}: is empty; write the token into it (e.g. `openssl rand -hex 32 > FILE`)", path.display())]
    Empty { path: PathBuf },
}

/// The token the running gateway uses, and what `check` should warn about.
#[derive(Debug, Default)]
pub struct Loaded {
    /// `None`: the session API is off.
    pub token: Option<AdminToken>,
    pub warnings: Vec<String>,
}

/// The token for `admin`: `$SESSIONGATE_ADMIN_TOKEN` when set and not
/// empty (`env`), else the file's content. A file that is missing or empty
/// is an error; one readable by other users a warning.
pub fn load(admin: &AdminConfig, env: Option<&str>) -> Result<Loaded, TokenError> {
    if let Some(token) = env.and_then(AdminToken::new) {
        return Ok(Loaded {
            token: Some(token),
            warnings: Vec::new(),
        });
    }
    let Some(path) = &admin.token_file else {
        return Ok(Loaded::default());
    };
    let (token, warnings) = read_file(path)?;
    Ok(Loaded {
        token: Some(token),
        warnings,
    })
}

/// Reads a token file: the checks `check` reports whether or not the
/// environment variable overrides it.
pub fn read_file(path: &Path) -> Result<(AdminToken, Vec<String>), TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
        path: path.to_owned(),
        source,
    })?;
    let token = AdminToken::new(&text).ok_or_else(|| TokenError::Empty {
        path: path.to_owned(),
    })?;
    let mut warnings = Vec::new();
    if readable_by_others(path) {
        warnings.push(format!(
            "admin.token_file {}: is readable by other users; restrict it with `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok((token, warnings))
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(token_file: Option<PathBuf>) -> AdminConfig {
        AdminConfig {
            listen: "127.0.0.1:9090".parse().unwrap(),
            token_file,
            max_connections: 64,
        }
    }

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("token");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn the_environment_wins_and_whitespace_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "  from-file\n", 0o600);
        let loaded = load(&admin(Some(path.clone())), Some(" from-env ")).unwrap();
        assert!(loaded.token.unwrap().matches(b"from-env"));
        let loaded = load(&admin(Some(path)), Some("")).unwrap();
        let token = loaded.token.unwrap();
        assert!(token.matches(b"from-file"));
        assert!(!token.matches(b"from-fil"));
        assert!(!token.matches(b"from-file "));
        assert!(loaded.warnings.is_empty());
        assert!(load(&admin(None), None).unwrap().token.is_none());
        assert_eq!(format!("{token:?}"), "AdminToken(<redacted>)");
    }

    #[test]
    fn missing_or_empty_files_are_errors_and_open_ones_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let error = load(&admin(Some(missing)), None).unwrap_err();
        assert!(error.to_string().contains("cannot read it"), "{error}");
        let empty = write(dir.path(), " \n", 0o600);
        let error = load(&admin(Some(empty)), None).unwrap_err();
        assert!(error.to_string().contains("is empty"), "{error}");
        let open = write(dir.path(), "t", 0o644);
        let loaded = load(&admin(Some(open)), None).unwrap();
        assert!(loaded.warnings[0].contains("readable by other users"));
    }
}
