//! `Config::load` on real files: what `sessiongate check` prints.

use std::path::{Path, PathBuf};

use sessiongate::config::{Config, LoadError};

/// Writes `text` as `gate.toml` in a fresh directory and loads it; the
/// directory (alive as long as the guard) and the file's path come back
/// with the result.
fn load(text: &str) -> (tempfile::TempDir, PathBuf, Result<Config, LoadError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gate.toml");
    std::fs::write(&path, text).expect("write config");
    let loaded = Config::load(&path);
    (dir, path, loaded)
}

#[test]
fn invalid_file_renders_path_line_col_for_every_error() {
    let (_dir, path, loaded) = load(
        "[session]\nidel_timeout = \"30m\"\nidle_timeout = \"0s\"\ncookie_same_site = \"loose\"\n\n[admin]\nlisten = \"localhost\"\n",
    );
    let err = loaded.unwrap_err();
    let LoadError::Invalid { errors, .. } = &err else {
        panic!("expected an invalid-config error, got {err}");
    };
    assert_eq!(errors.0.len(), 4);
    let p = path.display().to_string();
    let expected = format!(
        "{p}:2:1: unknown key \"idel_timeout\" in [session]; did you mean \"idle_timeout\"?\n\
         {p}:3:16: session.idle_timeout: must be greater than zero (e.g. \"30m\")\n\
         {p}:4:20: session.cookie_same_site: expected one of \"strict\", \"lax\", \"none\", got \"loose\"\n\
         {p}:7:10: admin.listen: expected IP:PORT (an IP address, not a host name), e.g. \"127.0.0.1:9090\" or \"[::]:8080\", got \"localhost\"\n"
    );
    assert_eq!(errors.render(&p), expected);
    assert_eq!(err.render(), expected);
}

#[test]
fn missing_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let err = Config::load(&path).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }));
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn relative_tls_paths_resolve_against_the_config_directory() {
    let (dir, _, loaded) =
        load("[server]\ntls = { cert = \"certs/full.pem\", key = \"/etc/key.pem\" }\n");
    let config = loaded.unwrap();
    let tls = config.server.tls.unwrap();
    assert_eq!(tls.cert, dir.path().join("certs/full.pem"));
    assert_eq!(tls.key, Path::new("/etc/key.pem"));
}

#[test]
fn relative_ca_files_resolve_against_the_config_directory() {
    let (dir, _, loaded) = load(
        "[store]\nurl = \"rediss://r:6380\"\nca_file = \"ca/redis.pem\"\n\
         [upstream]\nurl = \"https://app:8443\"\nca_file = \"/etc/app-ca.pem\"\n",
    );
    let config = loaded.unwrap();
    assert_eq!(config.store.ca_file, Some(dir.path().join("ca/redis.pem")));
    assert_eq!(
        config.upstream.ca_file.as_deref(),
        Some(Path::new("/etc/app-ca.pem"))
    );
}

#[test]
fn example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sessiongate.example.toml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config.routes.len(), 1);
}

/// Every TOML block in the README is a config a reader may paste: each one
/// must pass `check` as it stands.
#[test]
fn every_toml_example_in_the_readme_is_valid() {
    let readme = include_str!("../../README.md");
    let mut blocks = 0;
    let mut rest = readme;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + "```toml\n".len()..];
        let end = body.find("```").expect("an unclosed ```toml block");
        let block = &body[..end];
        blocks += 1;
        if let Err(errors) = Config::from_toml_str(block) {
            panic!(
                "README TOML block {blocks} is invalid:\n{}\n{block}",
                errors.render("README.md")
            );
        }
        rest = &body[end + 3..];
    }
    assert!(blocks >= 5, "only {blocks} TOML blocks found in the README");
}
