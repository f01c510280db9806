//! oslo.policy's parser (`oslo_policy/_parser.py`), reproduced token for
//! token: the same whitespace tokenizer with its parenthesis stripping, and
//! the same greedy shift-reduce, so that every string parses into the same
//! tree (and fails in the same cases) as in oslo.policy.

use std::fmt;

use crate::check::Check;

/// The deepest check tree accepted. Real rules nest a handful of levels; a
/// deeper one is refused like any other unparsable rule.
const MAX_NESTING: usize = 100;

/// Why a check string did not parse cleanly. oslo.policy logs these and
/// falls back to `!` (never) for the rule or the single check concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseIssue {
    /// The tokens did not reduce to a single check.
    Unparsable,
    /// A check with no `kind:` prefix (and not `@` or `!`); it never passes.
    NotACheck(String),
    /// The rule nests more deeply than this implementation accepts.
    TooDeep,
}

impl fmt::Display for ParseIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseIssue::Unparsable => f.write_str("could not parse rule"),
            ParseIssue::NotACheck(check) => write!(f, "failed to understand check {check:?}"),
            ParseIssue::TooDeep => write!(f, "rule nests deeper than {MAX_NESTING} levels"),
        }
    }
}

/// Parse a check string the way oslo.policy does, logging (and falling back
/// to `!` exactly where oslo.policy does) on malformed input.
pub fn parse_rule(rule: &str) -> Check {
    let (check, issues) = parse_with_issues(rule);
    for issue in &issues {
        tracing::error!(rule, %issue, "failed to understand policy rule; it will never pass");
    }
    check
}

/// Parse a check string, returning the tree oslo.policy would build and
/// every problem it would have logged along the way.
pub(crate) fn parse_with_issues(rule: &str) -> (Check, Vec<ParseIssue>) {
    // Empty rule means always accept.
    if rule.is_empty() {
        return (Check::True, Vec::new());
    }
    let mut issues = Vec::new();
    let mut state = ParseState::default();
    for token in tokenize(rule, &mut issues) {
        if !state.shift(token) {
            issues.push(ParseIssue::TooDeep);
            return (Check::False, issues);
        }
    }
    match state.result() {
        Some(check) => (check, issues),
        None => {
            issues.push(ParseIssue::Unparsable);
            (Check::False, issues)
        }
    }
}

/// A single `kind:match` check (`_parser._parse_check`).
pub(crate) fn parse_check(rule: &str, issues: &mut Vec<ParseIssue>) -> Check {
    match rule {
        "!" => return Check::False,
        "@" => return Check::True,
        _ => {}
    }
    let Some((kind, matches)) = rule.split_once(':') else {
        issues.push(ParseIssue::NotACheck(rule.to_owned()));
        return Check::False;
    };
    match kind {
        "http" | "https" => Check::External { kind: kind.to_owned(), url: matches.to_owned() },
        "rule" => Check::Rule(matches.to_owned()),
        "role" => Check::Role(matches.to_owned()),
        _ => Check::Generic { kind: kind.to_owned(), matches: matches.to_owned() },
    }
}

/// A check with the depth of its tree.
type Node = (Check, usize);

enum Token {
    Check(Node),
    AndExpr(Vec<Node>),
    OrExpr(Vec<Node>),
    And,
    Or,
    Not,
    LParen,
    RParen,
    /// A quoted string standing alone; it never reduces, so its presence
    /// makes the rule unparsable, as in oslo.policy.
    Str,
}

fn depth_of(items: &[Node]) -> usize {
    1 + items.iter().map(|(_, d)| *d).max().unwrap_or(0)
}

fn into_check(token: Token) -> Option<Node> {
    match token {
        Token::Check(c) => Some(c),
        Token::AndExpr(items) => {
            let d = depth_of(&items);
            Some((Check::And(items.into_iter().map(|(c, _)| c).collect()), d))
        }
        Token::OrExpr(items) => {
            let d = depth_of(&items);
            Some((Check::Or(items.into_iter().map(|(c, _)| c).collect()), d))
        }
        _ => None,
    }
}

/// Python's `str.isspace()`, which is what `\s` matches in oslo's tokenizer.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `_parser._parse_tokenize`.
fn tokenize(rule: &str, issues: &mut Vec<ParseIssue>) -> Vec<Token> {
    let mut tokens = Vec::new();
    for tok in rule.split(is_py_space) {
        if tok.is_empty() {
            continue;
        }
        // Leading parentheses.
        let clean = tok.trim_start_matches('(');
        for _ in 0..tok.len() - clean.len() {
            tokens.push(Token::LParen);
        }
        if clean.is_empty() {
            continue;
        }
        let tok = clean;
        // Trailing parentheses.
        let clean = tok.trim_end_matches(')');
        let trail = tok.len() - clean.len();
        let lowered = clean.to_lowercase();
        match lowered.as_str() {
            "and" => tokens.push(Token::And),
            "or" => tokens.push(Token::Or),
            "not" => tokens.push(Token::Not),
            _ if !clean.is_empty() => {
                let first = tok.chars().next();
                let last = tok.chars().next_back();
                let quoted = tok.chars().nth(1).is_some() && first == last && matches!(first, Some('"' | '\''));
                if quoted {
                    tokens.push(Token::Str);
                } else {
                    let check = parse_check(clean, issues);
                    tokens.push(Token::Check((check, 1)));
                }
            }
            _ => {}
        }
        for _ in 0..trail {
            tokens.push(Token::RParen);
        }
    }
    tokens
}

/// `_parser.ParseState`: a greedy shift-reduce over the token stream.
#[derive(Default)]
struct ParseState {
    stack: Vec<Token>,
}

impl ParseState {
    /// Push a token and reduce; `false` if the tree got too deep.
    fn shift(&mut self, token: Token) -> bool {
        self.stack.push(token);
        self.reduce()
    }

    fn reduce(&mut self) -> bool {
        while let Some(reduced) = self.reduce_once() {
            if !reduced {
                return false;
            }
        }
        true
    }

    /// Apply one reduction: `None` if none applies, `Some(false)` if the
    /// result would nest too deeply.
    fn reduce_once(&mut self) -> Option<bool> {
        let n = self.stack.len();
        if n >= 3 {
            if let Some(ok) = self.reduce_three() {
                return Some(ok);
            }
        }
        if n >= 2 && matches!((&self.stack[n - 2], &self.stack[n - 1]), (Token::Not, Token::Check(_))) {
            let Some(Token::Check((check, d))) = self.stack.pop() else { unreachable!("matched above") };
            self.stack.pop();
            let depth = d + 1;
            self.stack.push(Token::Check((Check::Not(Box::new(check)), depth)));
            return Some(depth <= MAX_NESTING);
        }
        None
    }

    fn reduce_three(&mut self) -> Option<bool> {
        let n = self.stack.len();
        let pattern = (&self.stack[n - 3], &self.stack[n - 2], &self.stack[n - 1]);
        let applies = matches!(
            pattern,
            (Token::LParen, Token::Check(_) | Token::AndExpr(_) | Token::OrExpr(_), Token::RParen)
                | (Token::Check(_) | Token::AndExpr(_) | Token::OrExpr(_), Token::And, Token::Check(_))
                | (Token::Check(_) | Token::AndExpr(_) | Token::OrExpr(_), Token::Or, Token::Check(_))
        );
        if !applies {
            return None;
        }
        let c = self.stack.pop()?;
        let b = self.stack.pop()?;
        let a = self.stack.pop()?;
        let result = match (a, b, c) {
            // Parenthesised expressions become a plain check.
            (Token::LParen, inner, Token::RParen) => Token::Check(into_check(inner)?),
            (Token::Check(a), Token::And, Token::Check(c)) => Token::AndExpr(vec![a, c]),
            (Token::AndExpr(mut items), Token::And, Token::Check(c)) => {
                items.push(c);
                Token::AndExpr(items)
            }
            // `A or B and C`: `and` binds tighter, so it takes B from the or.
            (Token::OrExpr(mut items), Token::And, Token::Check(c)) => {
                let (last, last_depth) = items.pop()?;
                let and = match last {
                    Check::And(mut inner) => {
                        inner.push(c.0);
                        (Check::And(inner), last_depth.max(c.1 + 1))
                    }
                    other => {
                        let pair = vec![(other, last_depth), c];
                        let d = depth_of(&pair);
                        (Check::And(pair.into_iter().map(|(c, _)| c).collect()), d)
                    }
                };
                items.push(and);
                Token::OrExpr(items)
            }
            (a @ (Token::Check(_) | Token::AndExpr(_)), Token::Or, Token::Check(c)) => {
                Token::OrExpr(vec![into_check(a)?, c])
            }
            (Token::OrExpr(mut items), Token::Or, Token::Check(c)) => {
                items.push(c);
                Token::OrExpr(items)
            }
            _ => unreachable!("pattern checked above"),
        };
        let depth = match &result {
            Token::Check((_, d)) => *d,
            Token::AndExpr(items) | Token::OrExpr(items) => depth_of(items),
            _ => 0,
        };
        self.stack.push(result);
        Some(depth <= MAX_NESTING)
    }

    fn result(mut self) -> Option<Check> {
        if self.stack.len() != 1 {
            return None;
        }
        into_check(self.stack.pop()?).map(|(c, _)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        parse_rule(s).to_string()
    }

    #[test]
    fn structure_matches_oslo_str() {
        assert_eq!(p(""), "@");
        assert_eq!(p("@"), "@");
        assert_eq!(p("!"), "!");
        assert_eq!(p("role:admin"), "role:admin");
        assert_eq!(p("a:1 and b:2 and c:3"), "(a:1 and b:2 and c:3)");
        assert_eq!(p("a:1 or b:2 or c:3"), "(a:1 or b:2 or c:3)");
        assert_eq!(p("a:1 or b:2 and c:3"), "(a:1 or (b:2 and c:3))");
        assert_eq!(p("a:1 and b:2 or c:3"), "((a:1 and b:2) or c:3)");
        assert_eq!(p("a:1 and b:2 or c:3 and d:4"), "((a:1 and b:2) or (c:3 and d:4))");
        assert_eq!(p("a:1 or b:2 and c:3 and d:4"), "(a:1 or (b:2 and c:3 and d:4))");
        assert_eq!(p("not a:1 and b:2"), "(not a:1 and b:2)");
        assert_eq!(p("a:1 and not b:2"), "(a:1 and not b:2)");
        assert_eq!(p("not (a:1 or b:2)"), "not (a:1 or b:2)");
        assert_eq!(p("not not a:1"), "not not a:1");
        assert_eq!(p("(a:1 and b:2) and c:3"), "((a:1 and b:2) and c:3)");
        assert_eq!(p("a:1 or (b:2 and c:3) and d:4"), "(a:1 or (b:2 and c:3 and d:4))");
        assert_eq!(p("((role:admin))"), "role:admin");
        assert_eq!(p("A:1 AND B:2 Or NOT c:3"), "((A:1 and B:2) or not c:3)");
    }

    #[test]
    fn kinds() {
        assert_eq!(parse_rule("rule:x"), Check::Rule("x".into()));
        assert_eq!(parse_rule("role:x:y"), Check::Role("x:y".into()));
        assert!(matches!(parse_rule("http://x"), Check::External { .. }));
        assert!(matches!(parse_rule("https:x"), Check::External { .. }));
        assert_eq!(parse_rule("project_id:%(project_id)s)"), Check::False, "an unbalanced paren does not reduce");
        assert_eq!(
            parse_rule("(project_id:%(project_id)s)"),
            Check::Generic { kind: "project_id".into(), matches: "%(project_id)s".into() }
        );
    }

    #[test]
    fn malformed_rules_never_pass() {
        for bad in [
            " ",
            "role:a and",
            "and role:a",
            "role:a role:b",
            "not",
            "(role:a",
            "role:a)",
            "()",
            "'quoted'",
            "role:a or 'x'",
            "role:a or or role:b",
        ] {
            let (check, issues) = parse_with_issues(bad);
            assert_eq!(check, Check::False, "{bad:?}");
            assert!(issues.contains(&ParseIssue::Unparsable), "{bad:?}");
        }
        let (check, issues) = parse_with_issues("nocolon or role:a");
        assert_eq!(check.to_string(), "(! or role:a)");
        assert_eq!(issues, vec![ParseIssue::NotACheck("nocolon".into())]);
    }

    #[test]
    fn absurd_nesting_is_refused() {
        let deep = format!("{}role:a{}", "not (".repeat(500), ")".repeat(500));
        let (check, issues) = parse_with_issues(&deep);
        assert_eq!(check, Check::False);
        assert_eq!(issues, vec![ParseIssue::TooDeep]);
        let ok = format!("{}role:a{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(parse_rule(&ok), Check::Role("a".into()));
    }
}
