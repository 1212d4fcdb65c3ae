//! Configuration errors with their positions.
//!
//! A config file is checked as a whole: every problem becomes one
//! [`ConfigError`], and [`ConfigErrors`] carries all of them so an operator
//! fixes the file in one pass instead of one error per run.

use std::fmt::Write as _;
use std::path::PathBuf;

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

impl ConfigErrors {
    /// One line per error, `PATH:LINE:COL: message` (or `PATH: message` when
    /// the position is unknown), the format editors and CI annotate.
    pub fn render(&self, path: &str) -> String {
        let mut out = String::new();
        for error in &self.0 {
            match error.position {
                Some((line, col)) => {
                    let _ = writeln!(out, "{path}:{line}:{col}: {}", error.message);
                }
                None => {
                    let _ = writeln!(out, "{path}: {}", error.message);
                }
            }
        }
        out
    }

    /// The messages alone, in order; handy in tests and logs.
    pub fn messages(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.message.as_str()).collect()
    }
}

/// Why [`Config::load`](super::Config::load) failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read at all.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("invalid config file {}: {errors}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        errors: ConfigErrors,
    },
}

impl LoadError {
    /// The text `sessiongate check` prints: the IO error on one line, or one
    /// line per configuration error.
    pub fn render(&self) -> String {
        match self {
            LoadError::Io { .. } => format!("{self}\n"),
            LoadError::Invalid { path, errors } => errors.render(&path.display().to_string()),
        }
    }
}

/// Turns byte offsets into 1-based `(line, column)`; columns count
/// characters, as editors do.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        LineIndex { text }
    }

    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

/// The closest of `candidates` to a mistyped `word`, if it is close enough
/// to be a plausible typo.
pub(crate) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, with adjacent transpositions counted as one edit
/// (`idel` → `idle`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_chars() {
        let idx = LineIndex::new("ab\nçd = 1\n");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(3), (2, 1));
        // "ç" is two bytes but one column.
        assert_eq!(idx.position(5), (2, 2));
        assert_eq!(idx.position(1000), (3, 1));
    }

    #[test]
    fn suggestions_catch_typos_only() {
        let keys = ["idle_timeout", "touch_interval", "sliding"];
        assert_eq!(suggest("idel_timeout", &keys), Some("idle_timeout"));
        assert_eq!(suggest("slidng", &keys), Some("sliding"));
        assert_eq!(suggest("colour", &keys), None);
    }

    #[test]
    fn render_one_line_per_error() {
        let errors = ConfigErrors(vec![
            ConfigError {
                position: Some((3, 16)),
                message: "a".into(),
            },
            ConfigError {
                position: None,
                message: "b".into(),
            },
        ]);
        assert_eq!(errors.render("x.toml"), "x.toml:3:16: a\nx.toml: b\n");
    }
}
