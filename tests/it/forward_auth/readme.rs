//! The README's forward-auth configurations are the deploy kit's files,
//! byte for byte: the nginx and Caddy files are the ones the end-to-end
//! tests run, so a README that drifted from them would show untested
//! configuration.

use std::path::Path;

/// The fenced block right after the line `<!-- PATH -->` in the README.
fn readme_block(path: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let marker = format!("<!-- {path} -->");
    let mut lines = readme
        .lines()
        .skip_while(|line| line.trim() != marker)
        .skip(1);
    let fence = lines
        .next()
        .unwrap_or_else(|| panic!("README.md has no `{marker}` followed by a code block"));
    assert!(fence.starts_with("```"), "after {marker}: {fence:?}");
    let mut block = String::new();
    for line in lines.take_while(|line| !line.starts_with("```")) {
        block.push_str(line);
        block.push('\n');
    }
    block
}

#[test]
fn the_readme_shows_the_tested_files() {
    for file in [
        "deploy/forward-auth/nginx.conf",
        "deploy/forward-auth/Caddyfile",
        "deploy/forward-auth/traefik.yaml",
        "deploy/forward-auth/ingress-nginx.yaml",
    ] {
        let on_disk = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            readme_block(file) == on_disk,
            "README.md's block for {file} differs from the file: copy the file into the README"
        );
    }
}
