use super::*;

const TAG: &[u8] = b"<script src=\"/.sessiongate/warning.js\" defer></script>";

/// Runs `body` through an injector in the chunks that `cuts` (sorted
/// positions) make, checking the withheld bytes stay bounded.
fn streamed(body: &[u8], cuts: &[usize], window: usize, pad: bool) -> (Vec<u8>, Option<Outcome>) {
    let mut inj = Injector::new(Bytes::from_static(TAG), window, pad);
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
        let chunk = Bytes::copy_from_slice(&body[start..cut]);
        let chunk_len = chunk.len();
        inj.push(chunk, &mut out);
        assert!(
            inj.pending.len() <= window.max(TAG_LEN) + chunk_len,
            "withheld {} bytes with a window of {window}",
            inj.pending.len()
        );
        start = cut;
    }
    inj.finish(&mut out);
    (out.concat(), inj.outcome())
}

fn check(body: &[u8], cuts: &[usize], window: usize, pad: bool) {
    let (want, outcome) = reference(body, TAG, window, pad);
    let (got, got_outcome) = streamed(body, cuts, window, pad);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want),
        "body {:?} cut at {cuts:?}, window {window}",
        String::from_utf8_lossy(body)
    );
    assert_eq!(got_outcome, Some(outcome));
}

fn inject(body: &str) -> String {
    let (out, _) = streamed(body.as_bytes(), &[], WINDOW, false);
    String::from_utf8(out).unwrap()
}

const T: &str = "<script src=\"/.sessiongate/warning.js\" defer></script>";

#[test]
fn before_the_first_head_end_in_any_case() {
    assert_eq!(
        inject("<html><head><title>x</title></HeAd><body>a</head></body></html>"),
        format!("<html><head><title>x</title>{T}</HeAd><body>a</head></body></html>")
    );
}

#[test]
fn before_the_last_body_end_without_a_head_end() {
    assert_eq!(
        inject("<p>a</body> b </BODY>\n</html>\n"),
        format!("<p>a</body> b {T}</BODY>\n</html>\n")
    );
}

#[test]
fn at_the_end_without_either() {
    assert_eq!(inject("<p>fragment"), format!("<p>fragment{T}"));
    assert_eq!(inject(""), T);
    // A tag cut off at the very end is no tag.
    assert_eq!(inject("<p>x</bod"), format!("<p>x</bod{T}"));
}

#[test]
fn a_page_with_the_tag_is_left_alone() {
    let page = format!("<head>{T}</head><body></body>");
    assert_eq!(inject(&page), page);
    let page = format!("<body>{T}</body>");
    assert_eq!(inject(&page), page);
    // After the first </head> it does not count: the tag goes in the head.
    let page = format!("<head></head><body>{T}</body>");
    assert_eq!(inject(&page), format!("<head>{T}</head><body>{T}</body>"));
}

#[test]
fn padding_keeps_an_announced_length() {
    let page = format!("<head>{T}</head>");
    let (out, outcome) = streamed(page.as_bytes(), &[3], WINDOW, true);
    assert_eq!(outcome, Some(Outcome::AlreadyPresent));
    assert_eq!(out.len(), page.len() + TAG.len());
    assert!(out.ends_with(&vec![b' '; TAG.len()]));
}

#[test]
fn a_body_end_too_far_from_the_end_is_given_up() {
    let body = format!("<p>a</body>{}", "x".repeat(100));
    let (out, _) = streamed(body.as_bytes(), &[20, 50], 64, false);
    assert_eq!(String::from_utf8(out).unwrap(), format!("{body}{T}"));
    let (out, _) = streamed(body.as_bytes(), &[20, 50], 200, false);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("<p>a{T}</body>{}", "x".repeat(100))
    );
}

#[test]
fn bytes_go_out_as_they_come_when_no_tag_can_begin() {
    let mut inj = Injector::new(Bytes::from_static(TAG), WINDOW, false);
    let mut out = Vec::new();
    inj.push(Bytes::from_static(b"<html><body><p>hello"), &mut out);
    assert_eq!(out.concat(), b"<html><body><p>hello");
    out.clear();
    inj.push(Bytes::from_static(b" world</bo"), &mut out);
    assert_eq!(out.concat(), b" world", "only what may begin a tag waits");
}

/// Every split of each body into two and three chunks.
#[test]
fn every_split_gives_the_whole_body_answer() {
    let bodies = [
        "<html><head><title>t</title></head><body><p>x</p></body></html>".to_owned(),
        "<p>a</body>b</BODY>c".to_owned(),
        "</he</head></body>".to_owned(),
        format!("<head>x{T}y</head>"),
        format!("a{T}</body>"),
        format!("</body>{T}"),
        "<<//</</b</bo</bod</body</body>>".to_owned(),
        "no tags at all, just text and < and </ and </h".to_owned(),
        "</BODY></body>trailer</head>".to_owned(),
        "/.sessiongate/warning.j</head>s".to_owned(),
    ];
    for body in &bodies {
        let b = body.as_bytes();
        for window in [8, 16, WINDOW] {
            for pad in [false, true] {
                check(b, &[], window, pad);
                for i in 0..=b.len() {
                    check(b, &[i], window, pad);
                    for j in i..=b.len() {
                        check(b, &[i, j], window, pad);
                    }
                }
            }
        }
    }
}

/// A small deterministic generator: the property over many random bodies
/// and chunkings without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn any_chunking_gives_the_whole_body_answer() {
    let pieces: &[&[u8]] = &[
        b"</head>",
        b"</HEAD>",
        b"</body>",
        b"</BoDy>",
        b"</",
        b"<",
        b"</h",
        b"</bo",
        b"x",
        b"hello ",
        b"\n",
        MARKER,
        b"/.sessiongate/",
        b"warning.js",
        b"</html>",
        b"<body>",
    ];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let mut body = Vec::new();
        for _ in 0..rng.below(24) {
            body.extend_from_slice(pieces[rng.below(pieces.len())]);
        }
        let mut cuts: Vec<usize> = (0..rng.below(6))
            .map(|_| rng.below(body.len() + 1))
            .collect();
        cuts.sort_unstable();
        let window = [4, 7, 12, 30, WINDOW][rng.below(5)];
        check(&body, &cuts, window, rng.below(2) == 1);
    }
}

#[test]
fn a_long_page_is_never_withheld_whole() {
    // A page with a </body> every kilobyte: what waits stays within the window.
    let mut inj = Injector::new(Bytes::from_static(TAG), 4096, false);
    let mut out = Vec::new();
    let chunk = Bytes::from([b"x".repeat(1017), b"</body>".to_vec()].concat());
    let mut sent = 0;
    for _ in 0..2000 {
        inj.push(chunk.clone(), &mut out);
        assert!(inj.pending.len() <= 4096 + chunk.len());
        sent += chunk.len();
    }
    inj.finish(&mut out);
    let total: usize = out.iter().map(Bytes::len).sum();
    assert_eq!(total, sent + TAG.len());
    assert_eq!(inj.outcome(), Some(Outcome::Injected));
}
