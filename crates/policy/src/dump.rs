//! `oslopolicy-sample-generator` output for a set of defaults.

use std::fmt::Write;

use crate::RuleDefault;

/// Render `defaults` exactly as `oslopolicy-sample-generator` renders a
/// namespace's rules (without the `DEPRECATED` notes, which `RuleDefault`
/// does not carry): for each rule its description as a wrapped comment, one
/// `# METHOD  PATH` line per operation, the intended scopes, then the rule
/// itself commented out, and a blank line.
pub fn dump_defaults_yaml(defaults: &[RuleDefault]) -> String {
    let mut out = String::new();
    for default in defaults {
        if !default.description.is_empty() {
            out.push_str(&format_help_text(default.description));
            out.push('\n');
        }
        for (method, path) in default.operations {
            if !method.is_empty() && !path.is_empty() {
                let _ = writeln!(out, "# {method}  {path}");
            }
        }
        if !default.scope_types.is_empty() {
            let scopes: Vec<&str> = default.scope_types.iter().map(|s| s.as_str()).collect();
            let _ = writeln!(out, "# Intended scope(s): {}", scopes.join(", "));
        }
        let _ = writeln!(out, "#\"{}\": \"{}\"", default.name, default.check_str);
        out.push('\n');
    }
    out
}

/// `generator._format_help_text`: paragraphs wrapped at 70 columns behind
/// `# `, indented lines kept verbatim, blank lines kept as `#`.
fn format_help_text(description: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    for line in py_splitlines(description.trim_matches(is_py_space)) {
        if line.trim_matches(is_py_space).is_empty() {
            lines.extend(wrap_paragraph(&paragraph));
            lines.push("#".to_owned());
            paragraph.clear();
        } else if !line.starts_with(is_py_space) {
            paragraph.push(line.trim_end_matches(is_py_space));
        } else {
            if !paragraph.is_empty() {
                lines.extend(wrap_paragraph(&paragraph));
                lines.push("#".to_owned());
                paragraph.clear();
            }
            lines.push(format!("# {}", line.trim_end_matches(is_py_space)));
        }
    }
    if !paragraph.is_empty() {
        lines.extend(wrap_paragraph(&paragraph));
    }
    lines.join("\n")
}

fn wrap_paragraph(lines: &[&str]) -> Vec<String> {
    wrap(&lines.join(" "), 70, "# ", "# ")
}

/// Python's `str.isspace()`.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.splitlines()`.
fn py_splitlines(s: &str) -> Vec<&str> {
    let is_break = |c: char| {
        matches!(
            c,
            '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_break(c) {
            out.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some((j, '\n')) = iter.peek().copied() {
                    iter.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// The whitespace `textwrap` knows about.
fn is_tw_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Regex `\w`.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `textwrap`'s `letter`: `[^\d\W]`.
fn is_letter(c: char) -> bool {
    is_word(c) && !c.is_numeric()
}

/// `textwrap`'s `word_punct`: `[\w!"'&.,?]`.
fn is_word_punct(c: char) -> bool {
    is_word(c) || matches!(c, '!' | '"' | '\'' | '&' | '.' | ',' | '?')
}

/// A run of two or more dashes starting at `i` and followed by a `\w`.
fn em_dash_at(text: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    while j < text.len() && text[j] == '-' {
        j += 1;
    }
    (j - i >= 2 && j < text.len() && is_word(text[j])).then_some(j)
}

/// `TextWrapper._split` with `break_on_hyphens=True`.
fn split_chunks(text: &[char]) -> Vec<Vec<char>> {
    let n = text.len();
    let letter_at = |k: usize| k < n && is_letter(text[k]);
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < n {
        let end = if is_tw_space(text[i]) {
            let mut j = i;
            while j < n && is_tw_space(text[j]) {
                j += 1;
            }
            j
        } else if let Some(j) = (i > 0 && is_word_punct(text[i - 1])).then(|| em_dash_at(text, i)).flatten() {
            j
        } else {
            let mut j = i + 1;
            loop {
                if j >= n || is_tw_space(text[j]) {
                    break j;
                }
                if text[j] == '-' {
                    let behind = (j >= 2 && letter_at(j - 2) && letter_at(j - 1))
                        || (j >= 3 && letter_at(j - 3) && text[j - 2] == '-' && letter_at(j - 1));
                    let ahead =
                        letter_at(j + 1) && (letter_at(j + 2) || (j + 2 < n && text[j + 2] == '-' && letter_at(j + 3)));
                    if behind && ahead {
                        break j + 1;
                    }
                }
                if is_word_punct(text[j - 1]) && em_dash_at(text, j).is_some() {
                    break j;
                }
                j += 1;
            }
        };
        chunks.push(text[i..end].to_vec());
        i = end;
    }
    chunks
}

fn is_blank(chunk: &[char]) -> bool {
    chunk.iter().all(|c| is_py_space(*c))
}

/// `textwrap.wrap(text, width, initial_indent=..., subsequent_indent=...)`
/// with the default options.
fn wrap(text: &str, width: usize, initial_indent: &str, subsequent_indent: &str) -> Vec<String> {
    let munged: Vec<char> = expand_tabs(text).chars().map(|c| if is_tw_space(c) { ' ' } else { c }).collect();
    let mut chunks = split_chunks(&munged);
    chunks.reverse();
    let mut lines = Vec::new();
    while !chunks.is_empty() {
        let indent = if lines.is_empty() { initial_indent } else { subsequent_indent };
        let line_width = width.saturating_sub(indent.chars().count());
        if !lines.is_empty() && chunks.last().is_some_and(|c| is_blank(c)) {
            chunks.pop();
        }
        let mut cur_line: Vec<Vec<char>> = Vec::new();
        let mut cur_len = 0;
        while let Some(chunk) = chunks.last() {
            if cur_len + chunk.len() <= line_width {
                cur_len += chunk.len();
                cur_line.push(chunks.pop().unwrap_or_default());
            } else {
                break;
            }
        }
        if chunks.last().is_some_and(|c| c.len() > line_width) {
            handle_long_word(&mut chunks, &mut cur_line, cur_len, line_width);
        }
        if cur_line.last().is_some_and(|c| is_blank(c)) {
            cur_line.pop();
        }
        if !cur_line.is_empty() {
            let body: String = cur_line.iter().flatten().collect();
            lines.push(format!("{indent}{body}"));
        }
    }
    lines
}

/// `TextWrapper._handle_long_word` with `break_long_words=True`.
fn handle_long_word(chunks: &mut [Vec<char>], cur_line: &mut Vec<Vec<char>>, cur_len: usize, width: usize) {
    let space_left = if width < 1 { 1 } else { width - cur_len };
    let Some(chunk) = chunks.last_mut() else {
        return;
    };
    let mut end = space_left.min(chunk.len());
    if chunk.len() > space_left {
        if let Some(hyphen) = chunk[..space_left].iter().rposition(|c| *c == '-') {
            if hyphen > 0 && chunk[..hyphen].iter().any(|c| *c != '-') {
                end = hyphen + 1;
            }
        }
    }
    let rest = chunk.split_off(end);
    cur_line.push(std::mem::replace(chunk, rest));
}

/// `str.expandtabs()` (tab stops every 8 columns).
fn expand_tabs(text: &str) -> String {
    if !text.contains('\t') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut col = 0;
    for c in text.chars() {
        match c {
            '\t' => {
                let spaces = 8 - col % 8;
                out.push_str(&" ".repeat(spaces));
                col += spaces;
            }
            '\n' | '\r' => {
                out.push(c);
                col = 0;
            }
            c => {
                out.push(c);
                col += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScopeType;

    #[test]
    fn wraps_like_textwrap() {
        let text = "Show details for a user. This is a fairly long sentence that \
                    needs wrapping because it exceeds seventy characters, and it has \
                    system-scoped and domain-scoped hyphenated words.";
        let lines = wrap(text, 70, "# ", "# ");
        assert_eq!(
            lines,
            vec![
                "# Show details for a user. This is a fairly long sentence that needs",
                "# wrapping because it exceeds seventy characters, and it has system-",
                "# scoped and domain-scoped hyphenated words.",
            ]
        );
        let long = "x".repeat(150);
        let lines = wrap(&long, 70, "# ", "# ");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].len(), 70);
    }

    #[test]
    fn help_text_keeps_literal_blocks() {
        let text = "First paragraph.\n\n    literal line\n\nSecond.";
        assert_eq!(format_help_text(text), "# First paragraph.\n#\n#     literal line\n#\n# Second.");
    }

    #[test]
    fn dump_format() {
        let defaults = [
            RuleDefault {
                name: "identity:get_user",
                check_str: "role:reader and system_scope:all",
                description: "Show user details.",
                scope_types: &[ScopeType::System, ScopeType::Domain, ScopeType::Project],
                operations: &[("GET", "/v3/users/{user_id}"), ("HEAD", "/v3/users/{user_id}")],
                deprecated_rule: None,
            },
            RuleDefault {
                name: "owner",
                check_str: "user_id:%(user_id)s",
                description: "",
                scope_types: &[],
                operations: &[],
                deprecated_rule: None,
            },
        ];
        assert_eq!(
            dump_defaults_yaml(&defaults),
            "# Show user details.\n\
             # GET  /v3/users/{user_id}\n\
             # HEAD  /v3/users/{user_id}\n\
             # Intended scope(s): system, domain, project\n\
             #\"identity:get_user\": \"role:reader and system_scope:all\"\n\
             \n\
             #\"owner\": \"user_id:%(user_id)s\"\n\
             \n"
        );
    }
}
