//! What lists and events show of a source to anyone: no credentials, no query strings.

/// A URL without its userinfo, query and fragment: `http://u:p@pi/a.mkv?k=1` →
/// `http://pi/a.mkv`. Anything that is not an http(s) URL is returned as it is.
pub fn redact_url(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let Some(scheme_end) = ["http://", "https://"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| p.len())
    else {
        return raw.to_string();
    };
    let rest = &raw[scheme_end..];
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{}{host}{path}", &raw[..scheme_end])
}

/// Every http(s) URL inside a text, redacted as [`redact_url`] does.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.to_ascii_lowercase().find("http") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '<' | '>' | ')'))
            .unwrap_or(tail.len());
        let (word, after) = tail.split_at(end);
        if word.contains("://") {
            out.push_str(&redact_url(word));
        } else {
            out.push_str(word);
        }
        rest = after;
        if end == 0 {
            break;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_queries_are_redacted() {
        assert_eq!(
            redact_url("http://user:pw@pi:5000/m/a.mkv?api_key=k#x"),
            "http://pi:5000/m/a.mkv"
        );
        assert_eq!(redact_url("HTTPS://a@b@pi/x"), "HTTPS://pi/x");
        assert_eq!(redact_url("/srv/media/a.mkv"), "/srv/media/a.mkv");
        assert_eq!(
            redact_text(
                "source read failed: http://u:p@pi/a.mkv?t=1 gave 403 (see 'https://x@h/y?z')"
            ),
            "source read failed: http://pi/a.mkv gave 403 (see 'https://h/y')"
        );
        assert_eq!(redact_text("httpd said no"), "httpd said no");
    }
}
