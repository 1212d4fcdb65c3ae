use super::*;

fn origin() -> Origin {
    Origin::parse(false, "App.Example:8080").unwrap()
}

fn run(policies: &[&str]) -> (Vec<String>, Option<String>) {
    let mut headers = HeaderMap::new();
    for p in policies {
        headers.append(CONTENT_SECURITY_POLICY, HeaderValue::from_str(p).unwrap());
    }
    let nonce = allow_warning(&mut headers, Some(&origin())).unwrap();
    let out = headers
        .get_all(CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (out, nonce)
}

#[test]
fn origins_parse_with_and_without_ports() {
    let o = origin();
    assert_eq!(
        (o.host.as_str(), o.port, o.https),
        ("app.example", 8080, false)
    );
    assert_eq!(Origin::parse(true, "a.test").unwrap().port, 443);
    assert_eq!(Origin::parse(false, "[::1]:81").unwrap().host, "[::1]");
    assert_eq!(Origin::parse(false, "[::1]").unwrap().port, 80);
    assert!(Origin::parse(false, "").is_none());
}

#[test]
fn a_policy_that_allows_same_origin_scripts_is_left_alone() {
    for p in [
        "default-src 'self'",
        "script-src 'self' https://cdn.test",
        "script-src http://app.example:8080",
        "script-src app.example:*",
        "script-src *.test http://*.example:8080",
        "script-src http:",
        "script-src *",
        "script-src 'self'; default-src 'none'",
        "img-src 'none'",
        "script-src http://app.example:8080/.sessiongate/",
        "script-src-elem 'self'; script-src 'none'",
    ] {
        let (out, nonce) = run(&[p]);
        assert_eq!((out, nonce), (vec![p.to_owned()], None), "{p}");
    }
}

#[test]
fn nonce_only_gets_the_nonce_added() {
    let (out, nonce) = run(&["script-src 'nonce-abc'; object-src 'none'"]);
    let n = nonce.expect("a nonce");
    assert!(n.len() >= 22, "128 bits: {n}");
    assert_eq!(
        out,
        [format!(
            "script-src 'nonce-abc' 'nonce-{n}'; object-src 'none'"
        )]
    );
}

#[test]
fn default_src_without_script_src_gets_it() {
    let (out, nonce) = run(&["default-src https://cdn.test; img-src *"]);
    let n = nonce.unwrap();
    assert_eq!(
        out,
        [format!(
            "default-src https://cdn.test 'nonce-{n}'; img-src *"
        )]
    );
}

#[test]
fn strict_dynamic_needs_a_nonce_even_with_self() {
    let p = "script-src 'self' 'strict-dynamic' 'nonce-r4nd' 'sha256-abc'";
    let (out, nonce) = run(&[p]);
    let n = nonce.unwrap();
    assert_eq!(out, [format!("{p} 'nonce-{n}'")]);
}

#[test]
fn none_is_replaced() {
    let (out, nonce) = run(&["script-src 'none'"]);
    assert_eq!(out, [format!("script-src 'nonce-{}'", nonce.unwrap())]);
}

#[test]
fn unsafe_inline_keeps_working_with_the_url_instead_of_a_nonce() {
    let (out, nonce) = run(&["script-src 'unsafe-inline' https://cdn.test"]);
    assert_eq!(nonce, None);
    assert_eq!(
        out,
        [
            "script-src 'unsafe-inline' https://cdn.test http://app.example:8080/.sessiongate/warning.js"
        ]
    );
}

#[test]
fn paths_hosts_and_ports_that_do_not_match_block() {
    for p in [
        "script-src http://app.example:8080/static/",
        "script-src http://app.example",
        "script-src https://app.example:8080",
        "script-src other.example:8080",
        "script-src *.app.example:8080",
        "script-src https:",
    ] {
        let (_, nonce) = run(&[p]);
        assert!(nonce.is_some(), "{p} should need a nonce");
    }
}

#[test]
fn every_enforced_policy_is_looked_at_with_one_nonce() {
    let (out, nonce) = run(&[
        "default-src 'self'",
        "script-src 'none', script-src 'nonce-x'",
    ]);
    let n = nonce.unwrap();
    assert_eq!(
        out,
        [
            "default-src 'self'".to_owned(),
            format!("script-src 'nonce-{n}', script-src 'nonce-x' 'nonce-{n}'"),
        ]
    );
}

#[test]
fn report_only_is_never_touched() {
    let mut headers = HeaderMap::new();
    let ro = http::header::CONTENT_SECURITY_POLICY_REPORT_ONLY;
    headers.insert(ro.clone(), HeaderValue::from_static("script-src 'none'"));
    assert_eq!(allow_warning(&mut headers, Some(&origin())).unwrap(), None);
    assert_eq!(headers[ro], "script-src 'none'");
}

#[test]
fn fresh_nonces_differ() {
    let a = run(&["script-src 'none'"]).1;
    let b = run(&["script-src 'none'"]).1;
    assert_ne!(a, b);
}

/// Found by the `inject_csp` fuzz target: an origin whose host held a
/// control character made a rewritten policy an invalid header value, and
/// `allow_warning` returned its error after removing every policy: the page
/// went out with no Content-Security-Policy at all. Origins now hold only
/// host characters (a `,` or `;` in one would also have split the policy),
/// and a failure leaves the headers untouched.
#[test]
fn regression_fuzz_a_bad_origin_never_drops_the_policy() {
    for bad in ["a\u{1}b", "a,b", "a;b", "a'b", "a b", "é.test", "a\tb"] {
        assert_eq!(Origin::parse(false, bad), None, "{bad:?}");
    }
    let mut headers = HeaderMap::new();
    let policy = HeaderValue::from_static("script-src 'unsafe-inline'");
    headers.append(CONTENT_SECURITY_POLICY, policy.clone());
    let control = Origin {
        https: false,
        host: "a\u{1}b".to_owned(),
        port: 80,
    };
    assert!(allow_warning(&mut headers, Some(&control)).is_err());
    assert_eq!(headers.get(CONTENT_SECURITY_POLICY), Some(&policy));
}
