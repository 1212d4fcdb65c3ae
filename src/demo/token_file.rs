//! The demo's admin token: random at every start, handed to the gateway as
//! `admin.token_file` (SPEC §9) and kept by the demo app, which calls the
//! admin API server-side. The browser never sees it.
//!
//! The file lives in a private temporary directory (`0700`, the file
//! `0600`, so `check`'s "readable by others" warning never applies) that is
//! removed when the demo ends.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Random bytes in a token: 256 bits, written as 64 hex digits.
const TOKEN_BYTES: usize = 32;

/// Why the token file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("no randomness for the demo's admin token")]
    Random(#[source] getrandom::Error),
    #[error("cannot write the demo's admin token under {}", dir.display())]
    Write {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A fresh random token, as hex.
pub(super) fn generate() -> Result<String, TokenFileError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(TokenFileError::Random)?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

/// The token on disk; the directory goes when this is dropped.
#[derive(Debug)]
pub(super) struct TokenFile {
    dir: PathBuf,
    file: PathBuf,
}

impl TokenFile {
    /// Writes `token` to a new private directory under the system's
    /// temporary directory (or `$TMPDIR`).
    pub(super) fn write(token: &str) -> Result<TokenFile, TokenFileError> {
        let base = std::env::temp_dir();
        let suffix = generate()?;
        let dir = base.join(format!("sessiongate-demo-{}", &suffix[..16]));
        let failed = |source| TokenFileError::Write {
            dir: base.clone(),
            source,
        };
        private_dir(&dir).map_err(failed)?;
        let token_file = TokenFile {
            file: dir.join("admin-token"),
            dir,
        };
        write_private(&token_file.file, token).map_err(failed)?;
        Ok(token_file)
    }

    pub(super) fn path(&self) -> &Path {
        &self.file
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            tracing::debug!(%error, dir = %self.dir.display(), "demo: cannot remove the token directory");
        }
    }
}

#[cfg(unix)]
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    DirBuilder::new().mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().create(dir)
}

/// Created, never reused: `create_new` refuses a file someone put there.
fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_hex() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 2 * TOKEN_BYTES);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(hex(&[0x00, 0x9f, 0xff]), "009fff");
    }

    #[test]
    fn the_file_is_private_holds_the_token_and_goes_on_drop() {
        let file = TokenFile::write("abc123").unwrap();
        let path = file.path().to_owned();
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), "abc123");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        drop(file);
        assert!(!path.exists());
        assert!(!path.parent().unwrap().exists());
    }
}
