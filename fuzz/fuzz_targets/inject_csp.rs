//! The warning injector's Content-Security-Policy rewrite (`inject/csp.rs`):
//! only the directive that governs scripts changes, by one source.
#![no_main]

use http::header::CONTENT_SECURITY_POLICY;
use libfuzzer_sys::fuzz_target;
use sessiongate::inject::csp::{Origin, allow_warning};
use sessiongate_fuzz::{lines, values_of};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut all = lines(rest);
    let host = all.next().unwrap_or_default();
    let origin = std::str::from_utf8(host)
        .ok()
        .and_then(|h| Origin::parse(flags & 1 == 1, h));
    let offset = host.len().min(rest.len().saturating_sub(0));
    let policies = values_of(
        rest.get(offset + 1..).unwrap_or_default(),
        &CONTENT_SECURITY_POLICY,
    );
    let mut headers = policies.clone();
    let Ok(nonce) = allow_warning(&mut headers, origin.as_ref()) else {
        assert_eq!(headers, policies, "untouched on error");
        return;
    };
    let before: Vec<&str> = policies
        .get_all(CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| v.to_str().expect("read before"))
        .collect();
    let after: Vec<&str> = headers
        .get_all(CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| v.to_str().expect("text"))
        .collect();
    assert_eq!(before.len(), after.len(), "one header for each");
    let mut changed = false;
    for (old, new) in before.iter().zip(&after) {
        let old: Vec<&str> = old.split(',').collect();
        let new: Vec<&str> = new.split(',').collect();
        assert_eq!(
            old.len(),
            new.len(),
            "policies kept apart: {old:?} -> {new:?}"
        );
        for (old, new) in old.iter().zip(&new) {
            if old == new {
                continue;
            }
            changed = true;
            let old: Vec<&str> = old.split(';').collect();
            let new: Vec<&str> = new.split(';').collect();
            assert_eq!(old.len(), new.len(), "directives kept: {old:?} -> {new:?}");
            let differ = old.iter().zip(&new).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 1, "one directive changes: {old:?} -> {new:?}");
            let (a, b) = old.iter().zip(&new).find(|(a, b)| a != b).expect("one");
            let a: Vec<&str> = a.split_ascii_whitespace().collect();
            let b: Vec<&str> = b.split_ascii_whitespace().collect();
            let added = b.last().expect("a source");
            match &nonce {
                Some(n) if *added == format!("'nonce-{n}'") => {}
                _ => assert!(
                    added.ends_with("/.sessiongate/warning.js"),
                    "added {added:?}"
                ),
            }
            let kept: Vec<&&str> = a
                .iter()
                .filter(|t| !t.eq_ignore_ascii_case("'none'"))
                .collect();
            assert_eq!(kept.len() + 1, b.len(), "{a:?} -> {b:?}");
        }
    }
    assert!(nonce.is_none() || changed, "a nonce only with a change");
});
