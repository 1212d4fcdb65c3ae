//! The parsed TOML document with its positions, and stage one of loading:
//! unknown keys and serde's type errors, section by section.
//!
//! The file is parsed once into toml's spanned [`DeTable`]. Every key is
//! checked against the fields of the `raw` structs (so *all* unknown keys are
//! reported, with positions), then each section — and each `[[route]]` on
//! its own — is deserialized separately, so a type error in one section
//! still lets the others be checked.

use std::collections::BTreeSet;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::{ConfigError, LineIndex, suggest};
use super::raw::{
    RawAdmin, RawConfig, RawLog, RawLogin, RawRoute, RawServer, RawSession, RawStore, RawTls,
    RawUpstream, field_names,
};

/// One step of a key path such as `route[2].name`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg<'p> {
    Key(&'p str),
    Index(usize),
}

/// Splits `route[2].name` into `route`, `2`, `name`.
fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Seg::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

/// The parsed file: the spanned table and the text its spans point into.
pub(crate) struct Document<'i> {
    root: Spanned<DeTable<'i>>,
    lines: LineIndex<'i>,
}

/// What stage one produced: the raw values (defaults where a section could
/// not be read) and which sections or routes failed, so stage two does not
/// pile follow-up errors on a value it never saw.
pub(crate) struct Parsed {
    pub raw: RawConfig,
    /// `"session"`, `"route[2]"`, …
    pub failed: BTreeSet<String>,
}

impl<'i> Document<'i> {
    /// Parses the TOML syntax; a syntax error ends loading, as nothing after
    /// it can be trusted, but every syntax error toml recovers from is given.
    pub(crate) fn parse(text: &'i str) -> Result<Self, Vec<ConfigError>> {
        let (root, errors) = DeTable::parse_recoverable(text);
        let lines = LineIndex::new(text);
        if errors.is_empty() {
            return Ok(Document { root, lines });
        }
        Err(errors
            .iter()
            .map(|e| ConfigError {
                position: e.span().map(|s| lines.position(s.start)),
                message: format!("TOML syntax error: {}", e.message()),
            })
            .collect())
    }

    /// The key and value spans at `path`, if the file has it.
    fn lookup(&self, path: &str) -> Option<(Option<Range<usize>>, Range<usize>)> {
        let mut key_span = None;
        let mut span = self.root.span();
        let mut current: Option<&DeValue<'i>> = None;
        for seg in segments(path) {
            let table = match current {
                None => Some(self.root.get_ref()),
                Some(DeValue::Table(t)) => Some(t),
                Some(_) => None,
            };
            let (k, v) = match (seg, table, current) {
                (Seg::Key(k), Some(t), _) => t.get_key_value(k).map(|(k, v)| (k.span(), v))?,
                (Seg::Index(i), _, Some(DeValue::Array(a))) => a.get(i).map(|v| (v.span(), v))?,
                _ => return None,
            };
            key_span = Some(k);
            span = v.span();
            current = Some(v.get_ref());
        }
        Some((key_span, span))
    }

    /// Whether the file itself sets `path` (rather than leaving the default).
    pub(crate) fn has(&self, path: &str) -> bool {
        self.lookup(path).is_some()
    }

    /// Where the value at `path` starts; for a key the file does not have,
    /// where its closest enclosing table or array element starts.
    pub(crate) fn position(&self, path: &str) -> Option<(usize, usize)> {
        let segs = segments(path);
        for len in (1..=segs.len()).rev() {
            let prefix = join(&segs[..len]);
            if let Some((key, value)) = self.lookup(&prefix) {
                let span = if len == segs.len() {
                    value
                } else {
                    key.unwrap_or(value)
                };
                return Some(self.lines.position(span.start));
            }
        }
        None
    }

    /// Where the key at `path` is written (for unknown-key errors).
    fn key_position(&self, span: Range<usize>) -> (usize, usize) {
        self.lines.position(span.start)
    }

    /// Stage one: unknown keys, then each section through serde.
    pub(crate) fn read(&self, errors: &mut Vec<ConfigError>) -> Parsed {
        let root = self.root.get_ref();
        self.check_keys(root, field_names::<RawConfig>(), None, errors);
        let mut raw = RawConfig::default();
        let mut failed = BTreeSet::new();

        macro_rules! read_section {
            ($name:literal, $field:ident, $ty:ty) => {
                if let Some(value) = root.get($name).cloned() {
                    if let DeValue::Table(t) = value.get_ref() {
                        self.check_keys(t, field_names::<$ty>(), Some($name), errors);
                    }
                    match self.deserialize::<$ty>(value, $name, errors) {
                        Some(v) => raw.$field = v,
                        None => {
                            failed.insert($name.to_owned());
                        }
                    }
                }
            };
        }
        read_section!("server", server, RawServer);
        read_section!("admin", admin, RawAdmin);
        read_section!("log", log, RawLog);
        read_section!("store", store, RawStore);
        read_section!("session", session, RawSession);
        read_section!("login", login, RawLogin);
        read_section!("upstream", upstream, RawUpstream);

        if let Some(DeValue::Table(server)) = root.get("server").map(|v| v.get_ref())
            && let Some(DeValue::Table(tls)) = server.get("tls").map(|v| v.get_ref())
        {
            self.check_keys(tls, field_names::<RawTls>(), Some("server.tls"), errors);
        }

        match root.get_key_value("route") {
            None => {}
            Some((key, value)) => match value.get_ref() {
                DeValue::Array(routes) => {
                    for (i, route) in routes.iter().enumerate() {
                        let name = format!("route[{i}]");
                        if let DeValue::Table(t) = route.get_ref() {
                            self.check_keys(t, field_names::<RawRoute>(), Some(&name), errors);
                        }
                        match self.deserialize::<RawRoute>(route.clone(), &name, errors) {
                            Some(r) => raw.route.push(r),
                            None => {
                                raw.route.push(RawRoute::default());
                                failed.insert(name);
                            }
                        }
                    }
                }
                _ => {
                    errors.push(ConfigError {
                        position: Some(self.lines.position(key.span().start)),
                        message: "route: expected an array of tables; write [[route]] \
                                  (double brackets) for each route"
                            .into(),
                    });
                    failed.insert("route".into());
                }
            },
        }
        Parsed { raw, failed }
    }

    /// Reports every key of `table` that is not one of `fields`.
    fn check_keys(
        &self,
        table: &DeTable<'i>,
        fields: &[&str],
        within: Option<&str>,
        errors: &mut Vec<ConfigError>,
    ) {
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            if fields.contains(&name) {
                continue;
            }
            let hint = suggest(name, fields);
            let message = match (within, value.get_ref()) {
                (None, DeValue::Table(_)) => {
                    let hint = hint.map(|h| format!("; did you mean [{h}]?"));
                    format!(
                        "unknown section [{name}]{}",
                        hint.unwrap_or_else(|| format!("; known sections: {}", fields.join(", ")))
                    )
                }
                (None, _) => format!(
                    "unknown key \"{name}\" at the top level{}",
                    did_you_mean(hint)
                ),
                // `route[2]`, `server.tls`: not a [header] of their own.
                (Some(section), _) if section.contains(['.', '[']) => {
                    format!("unknown key \"{name}\" in {section}{}", did_you_mean(hint))
                }
                (Some(section), _) => format!(
                    "unknown key \"{name}\" in [{section}]{}",
                    did_you_mean(hint)
                ),
            };
            errors.push(ConfigError {
                position: Some(self.key_position(key.span())),
                message,
            });
        }
    }

    /// Deserializes one section; a type error names the key it is about.
    fn deserialize<T: DeserializeOwned>(
        &self,
        value: Spanned<DeValue<'i>>,
        name: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        // serde would name the raw struct; say what the file should hold.
        if !value.get_ref().is_table() {
            errors.push(ConfigError {
                position: Some(self.lines.position(value.span().start)),
                message: format!(
                    "{name}: expected a table, got {}",
                    value.get_ref().type_str()
                ),
            });
            return None;
        }
        let key_at = |offset: usize| key_at(&value, offset, name);
        let fallback = value.span();
        match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(v) => Some(v),
            Err(e) => {
                let span = e.span().unwrap_or(fallback);
                let key = key_at(span.start);
                errors.push(ConfigError {
                    position: Some(self.lines.position(span.start)),
                    message: format!("{key}: {}", e.message()),
                });
                None
            }
        }
    }
}

fn did_you_mean(hint: Option<&str>) -> String {
    hint.map(|h| format!("; did you mean \"{h}\"?"))
        .unwrap_or_default()
}

fn join(segs: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The dotted path of the innermost key whose value covers `offset`.
fn key_at(value: &Spanned<DeValue<'_>>, offset: usize, path: &str) -> String {
    match value.get_ref() {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                if v.span().contains(&offset) || k.span().contains(&offset) {
                    return key_at(v, offset, &format!("{path}.{}", k.get_ref()));
                }
            }
        }
        DeValue::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                if v.span().contains(&offset) {
                    return key_at(v, offset, &format!("{path}[{i}]"));
                }
            }
        }
        _ => {}
    }
    path.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_keys_and_indexes() {
        assert_eq!(
            segments("route[2].name"),
            [Seg::Key("route"), Seg::Index(2), Seg::Key("name")]
        );
        assert_eq!(
            join(&segments("server.trusted_proxies[1]")),
            "server.trusted_proxies[1]"
        );
    }
}
