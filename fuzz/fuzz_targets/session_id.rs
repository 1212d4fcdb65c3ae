//! Session ids (`session/id.rs`) and `id_pattern` extraction
//! (`session/source.rs`): a parsed id only ever holds the allowed alphabet.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sessiongate::config::Config;
use sessiongate::session::SessionId;
use sessiongate::session::source::{Cookie, from_value};

fn configs() -> &'static [Config] {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let external = |pattern: &str| {
            format!(
                "[store]\nurl = \"redis://127.0.0.1:6379\"\n[session]\nmode = \"external\"\n\
                 cookie_name = \"connect.sid\"\nkey_template = \"sess:{{id}}\"\nid_pattern = '{pattern}'\n"
            )
        };
        [
            "[session]\n".to_owned(),
            external(r"^s:(?P<id>[^.]+)\."),
            external(r"(?P<id>.*)"),
            external(r"^(?:v1\|)?(?P<id>[A-Za-z0-9%]+)$"),
        ]
        .iter()
        .map(|s| Config::from_toml_str(s).unwrap_or_else(|e| panic!("{}", e.render("fuzz"))))
        .collect()
    })
}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b".~_+/=,-".contains(&b)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(id) = SessionId::parse(value) {
        assert_eq!(id.expose(), value);
        assert!((1..=256).contains(&value.len()));
        assert!(value.bytes().all(allowed));
    }
    let config = &configs()[usize::from(pick) % configs().len()];
    if let Cookie::Present(id) = from_value(config, value) {
        let id = id.expose();
        assert!((1..=256).contains(&id.len()), "{id:?}");
        assert!(id.bytes().all(allowed), "{id:?}");
    }
});
