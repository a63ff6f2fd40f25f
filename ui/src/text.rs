//! Splitting user text into pieces the view renders as separate nodes:
//! links (only `http`/`https`) and search-hit highlights.
//!
//! Nothing here produces markup. The view turns each piece into a text node
//! (or a text node inside a `<mark>` or a link element), so a `<script>` in a
//! message is shown as the characters `<script>`.

/// A piece of a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    /// An `http://` or `https://` URL, exactly as written.
    Link(&'a str),
}

/// Characters that end a URL wherever they appear: whitespace, and the ones
/// that cannot appear unescaped in a URL but commonly surround one in chat
/// (`<https://x>`, `"https://x"`).
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`' | '\u{0}'..='\u{1f}' | '\u{7f}')
}

/// Whether `s` starts with `http://` or `https://`, ASCII case-insensitively.
/// Returns the scheme's length including `://`.
fn scheme_len(s: &str) -> Option<usize> {
    let lower: String = s.chars().take(8).collect::<String>().to_ascii_lowercase();
    if lower.starts_with("https://") {
        Some(8)
    } else if lower.starts_with("http://") {
        Some(7)
    } else {
        None
    }
}

/// Trailing characters that are sentence punctuation rather than part of
/// the URL ("see https://x.com/a." → the link is `https://x.com/a`). A
/// closing bracket stays when the URL opened one itself
/// (`https://en.wikipedia.org/wiki/Rust_(language)`).
fn trim_trailing(url: &str) -> &str {
    let mut end = url.len();
    while let Some(c) = url[..end].chars().next_back() {
        let keep = match c {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' | '…' => false,
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                let s = &url[..end];
                s.matches(open).count() >= s.matches(c).count()
            }
            _ => true,
        };
        if keep {
            break;
        }
        end -= c.len_utf8();
    }
    &url[..end]
}

/// Splits `text` into plain text and `http`/`https` links. A scheme must
/// start the text or follow a non-alphanumeric character, and must be
/// followed by a host; `javascript:`, `data:`, `file:` and every other
/// scheme stay plain text.
pub fn linkify(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut plain_from = 0;
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let at_boundary = text[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        if let (true, Some(scheme)) = (at_boundary, scheme_len(rest)) {
            let len = rest.find(ends_url).unwrap_or(rest.len());
            let url = trim_trailing(&rest[..len]);
            // Something after the scheme that looks like a host.
            let host_ok =
                url[scheme..].chars().next().is_some_and(|c| c.is_alphanumeric() || c == '[');
            if host_ok {
                if plain_from < i {
                    out.push(Segment::Text(&text[plain_from..i]));
                }
                out.push(Segment::Link(url));
                i += url.len();
                plain_from = i;
                continue;
            }
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    if plain_from < text.len() {
        out.push(Segment::Text(&text[plain_from..]));
    }
    out
}

/// A piece of text for a search result: `hit` pieces go in a `<mark>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    pub text: &'a str,
    pub hit: bool,
}

/// The words of a search query, as the core matches them (it splits on
/// whitespace and quotes each term).
pub fn query_terms(query: &str) -> Vec<&str> {
    query.split_whitespace().collect()
}

/// Case-insensitive comparison of one character each (Unicode lowercase).
fn same_char(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

/// Byte length of the match of `term` at the start of `s`, if any.
fn match_at(s: &str, term: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    let mut end = 0;
    for t in term.chars() {
        let (at, c) = chars.next()?;
        if !same_char(c, t) {
            return None;
        }
        end = at + c.len_utf8();
    }
    Some(end)
}

/// Splits `text` into pieces, marking every occurrence of a term that
/// starts a word (the index matches whole tokens, so "art" in "start" is not
/// what it found). Overlapping and adjacent hits merge into one piece.
pub fn highlight<'a>(text: &'a str, terms: &[&str]) -> Vec<Piece<'a>> {
    let terms: Vec<&str> = terms.iter().copied().filter(|t| !t.is_empty()).collect();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    if !terms.is_empty() {
        let mut prev: Option<char> = None;
        for (i, c) in text.char_indices() {
            if prev.is_none_or(|p| !p.is_alphanumeric()) {
                let longest = terms.iter().filter_map(|t| match_at(&text[i..], t)).max();
                if let Some(len) = longest {
                    match ranges.last_mut() {
                        Some(last) if last.1 >= i => last.1 = last.1.max(i + len),
                        _ => ranges.push((i, i + len)),
                    }
                }
            }
            prev = Some(c);
        }
    }
    let mut out = Vec::new();
    let mut at = 0;
    for (start, end) in ranges {
        if at < start {
            out.push(Piece { text: &text[at..start], hit: false });
        }
        out.push(Piece { text: &text[start..end], hit: true });
        at = end;
    }
    if at < text.len() {
        out.push(Piece { text: &text[at..], hit: false });
    }
    out
}

/// At most `max_chars` characters of `text` on one line, around the first
/// hit of `terms`, with "…" where text was cut. Search results show this.
pub fn snippet(text: &str, terms: &[&str], max_chars: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let total = line.chars().count();
    if total <= max_chars {
        return line;
    }
    let first_hit = highlight(&line, terms)
        .iter()
        .take_while(|p| !p.hit)
        .map(|p| p.text.chars().count())
        .sum::<usize>();
    // Some context before the hit, the rest after it.
    let start = if first_hit >= total { 0 } else { first_hit.saturating_sub(max_chars / 4) };
    let start = start.min(total - max_chars);
    let body: String = line.chars().skip(start).take(max_chars).collect();
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(body.trim());
    if start + max_chars < total {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::{Link, Text};

    #[test]
    fn plain_text_is_one_segment() {
        assert_eq!(linkify("hello there"), vec![Text("hello there")]);
        assert_eq!(linkify(""), vec![]);
    }

    #[test]
    fn links_are_found_and_punctuation_trimmed() {
        assert_eq!(
            linkify("See https://example.com/a?b=1&c=2. Thanks"),
            vec![Text("See "), Link("https://example.com/a?b=1&c=2"), Text(". Thanks")]
        );
        assert_eq!(linkify("http://x.io"), vec![Link("http://x.io")]);
        assert_eq!(
            linkify("(https://en.wikipedia.org/wiki/Rust_(language))"),
            vec![Text("("), Link("https://en.wikipedia.org/wiki/Rust_(language)"), Text(")")]
        );
        assert_eq!(
            linkify("<https://a.b/c>\"https://d.e\""),
            vec![Text("<"), Link("https://a.b/c"), Text(">\""), Link("https://d.e"), Text("\"")]
        );
        assert_eq!(linkify("HTTPS://A.B"), vec![Link("HTTPS://A.B")]);
    }

    #[test]
    fn only_http_and_https_become_links() {
        for s in [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "ftp://x.y",
            "vbscript:msgbox",
            "https://",
            "https:// space",
            "xhttps://x.y",
            "https:///path",
        ] {
            assert!(linkify(s).iter().all(|seg| matches!(seg, Text(_))), "{s}");
        }
    }

    #[test]
    fn markup_inside_urls_ends_them() {
        assert_eq!(
            linkify("https://x.y/<script>alert(1)</script>"),
            vec![Link("https://x.y/"), Text("<script>alert(1)</script>")]
        );
        // Quotes cannot break out of an attribute because the view never
        // builds markup, but the URL still ends there.
        assert_eq!(
            linkify("https://x.y\"onmouseover=\"x"),
            vec![Link("https://x.y"), Text("\"onmouseover=\"x")]
        );
    }

    #[test]
    fn non_ascii_text_around_links_is_kept_whole() {
        let s = "مرحبا https://example.com/ü 👋🏽 שלום";
        let segs = linkify(s);
        assert_eq!(segs, vec![Text("مرحبا "), Link("https://example.com/ü"), Text(" 👋🏽 שלום")]);
        let joined: String = segs
            .iter()
            .map(|s| match s {
                Text(t) | Link(t) => *t,
            })
            .collect();
        assert_eq!(joined, s);
    }

    fn marked<'a>(pieces: &[Piece<'a>]) -> Vec<&'a str> {
        pieces.iter().filter(|p| p.hit).map(|p| p.text).collect()
    }

    #[test]
    fn highlight_marks_word_starts_case_insensitively() {
        let p = highlight("Refund for the ORDER; order #12, reorder later", &["order"]);
        assert_eq!(marked(&p), vec!["ORDER", "order"], "not inside 'reorder'");
        let joined: String = p.iter().map(|p| p.text).collect();
        assert_eq!(joined, "Refund for the ORDER; order #12, reorder later");
    }

    #[test]
    fn highlight_handles_several_terms_overlaps_and_unicode() {
        let p = highlight("Ünïcode ünïcode café CAFÉ", &["ünï", "café"]);
        assert_eq!(marked(&p), vec!["Ünï", "ünï", "café", "CAFÉ"]);
        let p = highlight("abcdef", &["abc", "abcde"]);
        assert_eq!(marked(&p), vec!["abcde"], "the longest term wins");
        assert_eq!(highlight("x", &[]), vec![Piece { text: "x", hit: false }]);
        assert_eq!(highlight("", &["a"]), vec![]);
        let p = highlight("<script>alert(1)</script>", &["script"]);
        assert_eq!(marked(&p), vec!["script", "script"]);
    }

    #[test]
    fn snippets_center_on_the_first_hit() {
        let long = format!("{} needle {}", "a ".repeat(100), "b ".repeat(100));
        let s = snippet(&long, &["needle"], 40);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("needle"), "{s}");
        assert!(s.chars().count() <= 42);
        assert_eq!(snippet("short\ntext", &["x"], 40), "short text");
        let no_hit = snippet(&"word ".repeat(50), &["zzz"], 20);
        assert!(no_hit.starts_with("word") && no_hit.ends_with('…'));
    }
}
