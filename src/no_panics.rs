//! No panics by construction where input reaches (issue 19): in the
//! request path's code, outside tests, every `.unwrap()`, `.expect(`,
//! `panic!`, `unreachable!`, `todo!` and `unimplemented!` must carry a
//! `// Unreachable: <the invariant>` comment on its line or the three
//! before it. Prefer a typed error or a pattern that cannot fail; this test
//! makes each remaining site visible in review.
//!
//! The release profile aborts on panic: one reachable panic would end
//! every connection of the process.

use std::path::{Path, PathBuf};

/// The request path's modules: files, or directories with their `.rs`
/// beside them (`src/session.rs` and `src/session/`).
const REQUEST_PATH: &[&str] = &[
    "server",
    "gateway",
    "route",
    "peer",
    "control_headers",
    "endpoints",
    "session",
    "store",
    "upstream",
    "respond",
    "body",
    "inject",
    "live",
    "record",
    "login",
    "admin",
    "metrics",
    "clock",
    "throttle",
];

const PANICKING: &[&str] = &[
    ".unwrap()",
    ".expect(",
    "panic!(",
    "unreachable!(",
    "todo!(",
    "unimplemented!(",
];

const MARK: &str = "// Unreachable:";
/// Lines above a site its comment may sit on.
const COMMENT_REACH: usize = 3;

fn sources(name: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join(format!("{name}.rs"))];
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.retain(|f| f.is_file());
    files
}

/// The lines of `text` outside `#[cfg(test)]` items, with their numbers.
/// Relies on rustfmt's layout: an item that opens a block closes it with
/// a `}` at the indentation of its attribute.
fn non_test_lines(text: &str) -> Vec<(usize, &str)> {
    let mut kept = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            kept.push((n + 1, line));
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        let mut first = true;
        for (_, item) in lines.by_ref() {
            let attribute = item.trim_start().starts_with("#[");
            if first && !attribute && item.trim_end().ends_with(';') {
                break; // `mod tests;`, `use …;`
            }
            first &= attribute;
            let closing = item
                .strip_prefix(indent)
                .is_some_and(|rest| rest.starts_with('}'));
            if closing {
                break;
            }
        }
    }
    kept
}

/// Panicking sites of `text` without their invariant named.
fn unexplained(text: &str) -> Vec<(usize, String)> {
    let lines = non_test_lines(text);
    let mut found = Vec::new();
    for (i, &(n, line)) in lines.iter().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if !PANICKING.iter().any(|p| code.contains(p)) {
            continue;
        }
        let from = i.saturating_sub(COMMENT_REACH);
        let explained = lines[from..=i]
            .iter()
            .any(|&(m, l)| m + COMMENT_REACH >= n && l.contains(MARK));
        if !explained {
            found.push((n, line.trim().to_owned()));
        }
    }
    found
}

#[test]
fn request_path_code_names_the_invariant_of_every_panicking_site() {
    let mut offenders = Vec::new();
    let mut files = 0;
    for name in REQUEST_PATH {
        for path in sources(name) {
            if path
                .file_name()
                .is_some_and(|f| f.to_string_lossy().contains("tests"))
            {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in unexplained(&text) {
                offenders.push(format!("{}:{n}: {line}", path.display()));
            }
        }
    }
    assert!(files > 50, "only {files} request-path files found");
    assert!(
        offenders.is_empty(),
        "panicking sites in request-path code without `{MARK} <invariant>`:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_audit_sees_through_test_items_only() {
    let text = "fn a() { x.unwrap(); }\n\
                // Unreachable: y is always set here.\n\
                fn b() { y.expect(\"set\"); }\n\
                #[cfg(test)]\n\
                mod tests {\n    fn c() { z.unwrap(); }\n}\n\
                #[cfg(test)]\n\
                mod more;\n\
                fn d() { unreachable!() }\n";
    let found: Vec<usize> = unexplained(text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(found, vec![1, 10]);
}
