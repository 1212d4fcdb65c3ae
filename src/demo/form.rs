//! Reading `application/x-www-form-urlencoded` text: login form bodies and
//! query strings. Three fields are all the demo needs, so no form crate.

use percent_encoding::percent_decode_str;

/// The first value of `name` in `encoded` (`a=1&b=2`), decoded: `+` is a
/// space, `%XX` a byte, invalid UTF-8 replaced. `None` when absent.
pub(super) fn field(encoded: &str, name: &str) -> Option<String> {
    encoded
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key) == name).then(|| decode(value))
        })
        .next()
}

fn decode(component: &str) -> String {
    let spaced = component.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn finds_and_decodes_a_field() {
        let body = "username=demo&password=a+b%2Bc%26d&next=%2Freports%2F2026%3Fq%3D1";
        assert_eq!(field(body, "username").as_deref(), Some("demo"));
        assert_eq!(field(body, "password").as_deref(), Some("a b+c&d"));
        assert_eq!(field(body, "next").as_deref(), Some("/reports/2026?q=1"));
    }

    #[test]
    fn absent_empty_and_valueless_fields() {
        assert_eq!(field("a=1", "b"), None);
        assert_eq!(field("", "b"), None);
        assert_eq!(field("b=", "b").as_deref(), Some(""));
        assert_eq!(field("b", "b").as_deref(), Some(""));
    }

    #[test]
    fn first_occurrence_wins() {
        assert_eq!(field("next=/a&next=/b", "next").as_deref(), Some("/a"));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        assert_eq!(field("u=%FF", "u").as_deref(), Some("\u{FFFD}"));
    }
}
