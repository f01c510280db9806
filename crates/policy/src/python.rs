//! The small pieces of Python behaviour that oslo.policy's semantics rest on:
//! `str()` of a value, `%`-interpolation of a check's match against the
//! target, and `ast.literal_eval` of a generic check's left-hand side.

use serde_json::Value;

/// Python's `str(value)` for a JSON value as `json.loads` would have built it.
pub(crate) fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr(value)` for a JSON value as `json.loads` would have built it.
fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                float_repr(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => str_repr(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", str_repr(k), py_repr(v))).collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's `repr(str)`.
fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let code = u32::from(c);
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{code:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(float)` (the shortest round-tripping form, switching to
/// exponent notation below 1e-4 and from 1e16 on).
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // `{:e}` yields the shortest round-tripping digits, e.g. "-1.2345e-5".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            let (int_part, frac_part) = if digits.len() > int_len {
                (digits[..int_len].to_owned(), digits[int_len..].to_owned())
            } else {
                let mut int_part = digits.clone();
                int_part.push_str(&"0".repeat(int_len - digits.len()));
                (int_part, "0".to_owned())
            };
            format!("{sign}{int_part}.{frac_part}")
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let mant = if rest.is_empty() { first.to_owned() } else { format!("{first}.{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    }
}

/// Look a `%(key)s` key up in the target: first as a flat key (which is what
/// Python's `%` operator does, and what services that flatten their targets
/// rely on), then by walking nested objects along the dots.
pub(crate) fn lookup_target<'a>(target: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = target.as_object()?;
    if let Some(v) = obj.get(key) {
        return Some(v);
    }
    for (idx, _) in key.match_indices('.') {
        if let Some(inner) = obj.get(&key[..idx]) {
            if let Some(found) = lookup_target(inner, &key[idx + 1..]) {
                return Some(found);
            }
        }
    }
    None
}

/// Python raised something other than `KeyError` while formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FormatError;

/// Python's `template % target` for the subset of `%`-formatting that policy
/// strings use: `%(key)s`, `%(key)r` and `%%`. `Ok(None)` is Python's
/// `KeyError` (which oslo.policy turns into a failed check); any other
/// format (which Python would either reject or which no policy uses) is a
/// [`FormatError`].
pub(crate) fn interpolate(template: &str, target: &Value) -> Result<Option<String>, FormatError> {
    if !template.contains('%') {
        return Ok(Some(template.to_owned()));
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('%') {
            out.push('%');
            rest = after;
            continue;
        }
        let inner = rest.strip_prefix('(').ok_or(FormatError)?;
        // Python allows balanced parentheses inside the key.
        let mut depth = 1usize;
        let mut end = None;
        for (i, c) in inner.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.ok_or(FormatError)?;
        let key = &inner[..end];
        // Python looks the key up before it reads the conversion.
        let Some(value) = lookup_target(target, key) else {
            return Ok(None);
        };
        let mut chars = inner[end + 1..].chars();
        match chars.next() {
            Some('s') => out.push_str(&py_str(value)),
            Some('r' | 'a') => out.push_str(&py_repr(value)),
            _ => return Err(FormatError),
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// What `ast.literal_eval` makes of a generic check's left-hand side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A literal; holds its `str()`.
    Literal(String),
    /// A dotted name (Python raises `ValueError`): a credentials path.
    Path,
    /// Anything else. Python raises `SyntaxError` for most of these, which
    /// aborts the whole enforcement in oslo.policy.
    Invalid,
}

const PY_KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except",
    "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
    "return", "try", "while", "with", "yield",
];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && !PY_KEYWORDS.contains(&s)
}

/// Classify a generic check's `kind` the way `ast.literal_eval` would.
pub(crate) fn classify_kind(kind: &str) -> Kind {
    if let Some(literal) = literal_str(kind) {
        return Kind::Literal(literal);
    }
    let mut segments = kind.split('.');
    let first = segments.next().unwrap_or_default();
    let first_ok = is_identifier(first) || matches!(first, "True" | "False" | "None");
    if first_ok && segments.all(|seg| is_identifier(seg) && !matches!(seg, "True" | "False" | "None")) {
        Kind::Path
    } else {
        Kind::Invalid
    }
}

/// The `str()` of the value `ast.literal_eval(kind)` yields, for the literal
/// forms that can appear on the left of a generic check: string literals
/// (optionally `u`/`r` prefixed, adjacent ones concatenated), `True`,
/// `False`, `None`, and (optionally signed) int and float numbers.
/// `None` means "not one of those": the caller then treats `kind` as a
/// dotted path into the credentials, as oslo does on `ValueError`.
fn literal_str(kind: &str) -> Option<String> {
    let s = kind.trim_start_matches([' ', '\t']);
    match s {
        "True" => return Some("True".to_owned()),
        "False" => return Some("False".to_owned()),
        "None" => return Some("None".to_owned()),
        _ => {}
    }
    if let Some(v) = string_literals(s) {
        return Some(v);
    }
    number_literal(s)
}

/// One or more adjacent Python string literals.
fn string_literals(mut s: &str) -> Option<String> {
    let mut out = String::new();
    let mut any = false;
    while !s.is_empty() {
        let (raw, after_prefix) = match s.as_bytes()[0] {
            b'r' | b'R' => (true, &s[1..]),
            b'u' | b'U' => (false, &s[1..]),
            _ => (false, s),
        };
        let quote = after_prefix.chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let body_start = &after_prefix[1..];
        if body_start.starts_with(quote) && body_start[1..].starts_with(quote) {
            // Triple-quoted strings are not supported.
            return None;
        }
        let mut chars = body_start.char_indices();
        let mut closed_at = None;
        let mut body = String::new();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                closed_at = Some(i);
                break;
            }
            if c == '\n' {
                return None;
            }
            if c != '\\' {
                body.push(c);
                continue;
            }
            let (_, esc) = chars.next()?;
            if raw {
                body.push('\\');
                body.push(esc);
                continue;
            }
            match esc {
                '\n' => {}
                '\\' => body.push('\\'),
                '\'' => body.push('\''),
                '"' => body.push('"'),
                'a' => body.push('\u{7}'),
                'b' => body.push('\u{8}'),
                'f' => body.push('\u{c}'),
                'n' => body.push('\n'),
                'r' => body.push('\r'),
                't' => body.push('\t'),
                'v' => body.push('\u{b}'),
                'x' | 'u' | 'U' => {
                    let len = match esc {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut code = 0u32;
                    for _ in 0..len {
                        let (_, h) = chars.next()?;
                        code = code * 16 + h.to_digit(16)?;
                    }
                    body.push(char::from_u32(code)?);
                }
                '0'..='7' => {
                    let mut code = esc.to_digit(8)?;
                    for _ in 0..2 {
                        let mut peek = chars.clone();
                        match peek.next() {
                            Some((_, d)) if d.is_digit(8) => {
                                code = code * 8 + d.to_digit(8)?;
                                chars = peek;
                            }
                            _ => break,
                        }
                    }
                    body.push(char::from_u32(code)?);
                }
                // Unknown escapes (and \N{...}, which is not supported) keep
                // the backslash, as Python does for unknown ones.
                other => {
                    if other == 'N' {
                        return None;
                    }
                    body.push('\\');
                    body.push(other);
                }
            }
        }
        let closed_at = closed_at?;
        out.push_str(&body);
        any = true;
        s = body_start[closed_at + 1..].trim_start_matches([' ', '\t']);
    }
    any.then_some(out)
}

/// An optionally signed Python int or float literal.
fn number_literal(s: &str) -> Option<String> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    if let Some(digits) = int_literal(body) {
        let zero = digits.bytes().all(|b| b == b'0');
        return Some(if negative && !zero {
            format!("-{digits}")
        } else if zero {
            "0".to_owned()
        } else {
            digits
        });
    }
    let f = float_literal(body)?;
    Some(float_repr(if negative { -f } else { f }))
}

/// Decimal digits of a Python int literal (underscores allowed between
/// digits; hex, octal and binary forms converted), without sign.
fn int_literal(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            // Python allows one underscore right after the prefix.
            let rest = rest.strip_prefix('_').unwrap_or(rest);
            let digits = underscored_digits(rest, |c| c.is_digit(radix))?;
            return u128::from_str_radix(&digits, radix).ok().map(|v| v.to_string());
        }
    }
    let digits = underscored_digits(s, |c| c.is_ascii_digit())?;
    // Decimal literals may not have leading zeros unless they are all zeros.
    if digits.len() > 1 && digits.starts_with('0') && digits.bytes().any(|b| b != b'0') {
        return None;
    }
    Some(digits.trim_start_matches('0').to_owned()).map(|d| if d.is_empty() { "0".to_owned() } else { d })
}

/// Digits separated by single underscores; returns them without underscores.
fn underscored_digits(s: &str, is_digit: impl Fn(char) -> bool) -> Option<String> {
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '_' {
            continue;
        }
        if !is_digit(c) {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

/// A Python float literal (`1.`, `.5`, `1e5`, `1_0.5e-3`), without sign.
fn float_literal(s: &str) -> Option<f64> {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    if frac_part.is_none() && exponent.is_none() {
        return None;
    }
    let digits = |p: &str| underscored_digits(p, |c| c.is_ascii_digit());
    let int_digits = if int_part.is_empty() { String::new() } else { digits(int_part)? };
    let frac_digits = match frac_part {
        Some("") | None => String::new(),
        Some(f) => digits(f)?,
    };
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut normalized = format!("{int_digits}.{frac_digits}");
    if normalized.starts_with('.') {
        normalized.insert(0, '0');
    }
    if normalized.ends_with('.') {
        normalized.push('0');
    }
    if let Some(exp) = exponent {
        let (esign, edigits) = match exp.as_bytes().first()? {
            b'-' => ("-", &exp[1..]),
            b'+' => ("", &exp[1..]),
            _ => ("", exp),
        };
        normalized.push('e');
        normalized.push_str(esign);
        normalized.push_str(&digits(edigits)?);
    }
    normalized.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_of_values_matches_python() {
        assert_eq!(py_str(&json!("abc")), "abc");
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(false)), "False");
        assert_eq!(py_str(&json!(42)), "42");
        assert_eq!(py_str(&json!(-7)), "-7");
        assert_eq!(py_str(&json!(1.0)), "1.0");
        assert_eq!(py_str(&json!(["a", 1, null])), "['a', 1, None]");
        assert_eq!(py_str(&json!({"k": "it's"})), "{'k': \"it's\"}");
    }

    #[test]
    fn float_repr_matches_python() {
        for (f, s) in [
            (1.5, "1.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (123.456, "123.456"),
            (1e100, "1e+100"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(float_repr(f), s, "{f}");
        }
    }

    #[test]
    fn interpolation() {
        let t = json!({"a": "x", "n": 3, "target.user.id": "u1", "nested": {"b": {"c": true}}});
        let ok = |s: &str| Ok(Some(s.to_owned()));
        assert_eq!(interpolate("%(a)s", &t), ok("x"));
        assert_eq!(interpolate("pre-%(a)s-%(n)s", &t), ok("pre-x-3"));
        assert_eq!(interpolate("%(a)r", &t), ok("'x'"));
        assert_eq!(interpolate("100%%", &t), ok("100%"));
        assert_eq!(interpolate("literal", &t), ok("literal"));
        assert_eq!(interpolate("%(target.user.id)s", &t), ok("u1"));
        assert_eq!(interpolate("%(nested.b.c)s", &t), ok("True"));
        assert_eq!(interpolate("%(missing)s", &t), Ok(None));
        assert_eq!(interpolate("%(missing)d", &t), Ok(None));
        assert_eq!(interpolate("%(a)d", &t), Err(FormatError));
        assert_eq!(interpolate("%s", &t), Err(FormatError));
        assert_eq!(interpolate("%(a", &t), Err(FormatError));
        assert_eq!(interpolate("50%", &t), Err(FormatError));
    }

    #[test]
    fn literals() {
        assert_eq!(literal_str("'Member'").as_deref(), Some("Member"));
        assert_eq!(literal_str("\"x\"'y'").as_deref(), Some("xy"));
        assert_eq!(literal_str("r'a\\n'").as_deref(), Some("a\\n"));
        assert_eq!(literal_str("'a\\n'").as_deref(), Some("a\n"));
        assert_eq!(literal_str("True").as_deref(), Some("True"));
        assert_eq!(literal_str("None").as_deref(), Some("None"));
        assert_eq!(literal_str("1").as_deref(), Some("1"));
        assert_eq!(literal_str("-0").as_deref(), Some("0"));
        assert_eq!(literal_str("1_000").as_deref(), Some("1000"));
        assert_eq!(literal_str("0x1F").as_deref(), Some("31"));
        assert_eq!(literal_str("1.50").as_deref(), Some("1.5"));
        assert_eq!(literal_str("1e3").as_deref(), Some("1000.0"));
        assert_eq!(literal_str(".5").as_deref(), Some("0.5"));
        assert_eq!(literal_str("01"), None);
        assert_eq!(literal_str("role"), None);
        assert_eq!(literal_str("user.enabled"), None);
        assert_eq!(literal_str("'unterminated"), None);
        assert_eq!(literal_str("inf"), None);
        assert_eq!(literal_str("%(x)s"), None);
    }

    #[test]
    fn kinds() {
        assert_eq!(classify_kind("'a'"), Kind::Literal("a".into()));
        assert_eq!(classify_kind("user_id"), Kind::Path);
        assert_eq!(classify_kind("token.project.domain.id"), Kind::Path);
        assert_eq!(classify_kind("True.x"), Kind::Path);
        assert_eq!(classify_kind("a.True"), Kind::Invalid);
        assert_eq!(classify_kind("roles.0"), Kind::Invalid);
        assert_eq!(classify_kind("%(x)s"), Kind::Invalid);
        assert_eq!(classify_kind(""), Kind::Invalid);
        assert_eq!(classify_kind("not"), Kind::Invalid);
    }
}
