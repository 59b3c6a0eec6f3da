//! The fast path of [`crate::expr`]: a compiler for the subset of jq that most mappings use.
//!
//! Grammar: `.`; paths of `.key`, `."key"`, `.[n]`, `.["key"]`; object constructions
//! `{key: E, "key": E, key}` whose values are again fast expressions; and the literals `null`,
//! `true`, `false`, integers and plain strings. [`FastExpr::eval`] returns `None` whenever jq would
//! raise an error (indexing a number, say), so the caller falls back to jaq for its message.

use serde_json::{Map, Value};

/// A compiled fast expression.
#[derive(Debug, Clone, PartialEq)]
pub enum FastExpr {
    /// A path from the input (`.` is the empty path).
    Path(Vec<Step>),
    /// An object construction.
    Object(Vec<(String, FastExpr)>),
    /// A constant.
    Literal(Value),
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Object member.
    Key(String),
    /// Array element (non-negative).
    Index(usize),
}

impl FastExpr {
    /// Compiles `source` if it is in the fast subset.
    pub fn parse(source: &str) -> Option<Self> {
        let mut p = Parser {
            s: source.as_bytes(),
            i: 0,
        };
        let e = p.expr()?;
        p.ws();
        (p.i == p.s.len()).then_some(e)
    }

    /// Evaluates; `None` when jq would raise an error.
    pub fn eval(&self, input: &Value) -> Option<Value> {
        match self {
            Self::Path(steps) => walk(input, steps).map(|v| v.cloned().unwrap_or(Value::Null)),
            Self::Literal(v) => Some(v.clone()),
            Self::Object(members) => {
                let mut out = Map::with_capacity(members.len());
                for (k, e) in members {
                    out.insert(k.clone(), e.eval(input)?);
                }
                Some(Value::Object(out))
            }
        }
    }

    /// A reference to the selected value of a path expression (`Some(None)`: jq's null;
    /// `None`: not a path, or jq would raise an error).
    pub fn get_ref<'a>(&self, input: &'a Value) -> Option<Option<&'a Value>> {
        match self {
            Self::Path(steps) => walk(input, steps),
            _ => None,
        }
    }

    /// Whether [`FastExpr::take`] can move the result out of `input` without a jq error.
    pub fn can_take(&self, input: &Value) -> bool {
        match self {
            Self::Path(steps) => walk(input, steps).is_some(),
            _ => false,
        }
    }

    /// Moves the selected part out of `input` (call only after [`FastExpr::can_take`]).
    pub fn take(&self, input: Value) -> Value {
        let Self::Path(steps) = self else {
            return self.eval(&input).unwrap_or(Value::Null);
        };
        let mut cur = input;
        for step in steps {
            cur = match (step, cur) {
                (Step::Key(k), Value::Object(mut m)) => m.remove(k).unwrap_or(Value::Null),
                (Step::Index(i), Value::Array(mut a)) if *i < a.len() => a.swap_remove(*i),
                _ => Value::Null,
            };
        }
        cur
    }
}

/// Follows `steps`; `Some(None)` is a missing value (jq's null), `None` a type error.
fn walk<'a>(input: &'a Value, steps: &[Step]) -> Option<Option<&'a Value>> {
    let mut cur = Some(input);
    for step in steps {
        cur = match (step, cur) {
            (_, None | Some(Value::Null)) => None,
            (Step::Key(k), Some(Value::Object(m))) => m.get(k),
            (Step::Index(i), Some(Value::Array(a))) => a.get(*i),
            _ => return None,
        };
    }
    Some(cur)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<FastExpr> {
        self.ws();
        match self.peek()? {
            b'.' => self.path(),
            b'{' => self.object(),
            b'"' => self.string().map(|s| FastExpr::Literal(Value::String(s))),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => match self.ident()?.as_str() {
                "null" => Some(FastExpr::Literal(Value::Null)),
                "true" => Some(FastExpr::Literal(Value::Bool(true))),
                "false" => Some(FastExpr::Literal(Value::Bool(false))),
                _ => None,
            },
        }
    }

    fn path(&mut self) -> Option<FastExpr> {
        let mut steps = Vec::new();
        self.i += 1; // the leading '.'
        match self.peek() {
            Some(b'"') => steps.push(Step::Key(self.string()?)),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => steps.push(Step::Key(self.ident()?)),
            _ => {}
        }
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"') => steps.push(Step::Key(self.string()?)),
                        Some(b'[') => {}
                        _ => steps.push(Step::Key(self.ident()?)),
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b'"') {
                        steps.push(Step::Key(self.string()?));
                    } else {
                        let start = self.i;
                        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                            self.i += 1;
                        }
                        let n = std::str::from_utf8(&self.s[start..self.i]).ok()?.parse().ok()?;
                        steps.push(Step::Index(n));
                    }
                    if !self.eat(b']') {
                        return None;
                    }
                }
                _ => break,
            }
        }
        Some(FastExpr::Path(steps))
    }

    fn object(&mut self) -> Option<FastExpr> {
        self.i += 1; // '{'
        let mut members = Vec::new();
        if self.eat(b'}') {
            return Some(FastExpr::Object(members));
        }
        loop {
            self.ws();
            let key = if self.peek() == Some(b'"') {
                self.string()?
            } else {
                self.ident()?
            };
            if self.eat(b':') {
                let value = self.expr()?;
                members.push((key, value));
            } else {
                members.push((key.clone(), FastExpr::Path(vec![Step::Key(key)])));
            }
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Some(FastExpr::Object(members));
            }
            return None;
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        let id = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        // jq keywords cannot be bare keys or path steps in every jq dialect: leave them to jaq.
        let keyword = matches!(
            id,
            "if" | "then"
                | "elif"
                | "else"
                | "end"
                | "as"
                | "def"
                | "reduce"
                | "foreach"
                | "try"
                | "catch"
                | "label"
                | "import"
                | "include"
                | "and"
                | "or"
                | "not"
                | "__loc__"
        );
        (!id.is_empty() && !id.as_bytes()[0].is_ascii_digit() && !keyword).then(|| id.to_owned())
    }

    fn string(&mut self) -> Option<String> {
        let start = self.i;
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' => {
                    // String interpolation `\(...)` is not in the subset.
                    if self.peek() == Some(b'(') {
                        return None;
                    }
                    self.i += 1;
                }
                b'"' => return serde_json::from_slice(&self.s[start..self.i]).ok(),
                _ => {}
            }
        }
        None
    }

    fn integer(&mut self) -> Option<FastExpr> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        // Decimals and exponents are left to jaq, whose number formatting is its own.
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let n: i64 = std::str::from_utf8(&self.s[start..self.i]).ok()?.parse().ok()?;
        Some(FastExpr::Literal(Value::from(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_subset() {
        assert_eq!(FastExpr::parse("."), Some(FastExpr::Path(vec![])));
        assert_eq!(
            FastExpr::parse(".a.b[0].\"c d\""),
            Some(FastExpr::Path(vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Index(0),
                Step::Key("c d".into())
            ]))
        );
        assert!(FastExpr::parse("{id, name: .n, nested: {x: 1, y: \"s\"}}").is_some());
        for outside in [
            ".a | .b",
            ".a[]",
            "{a: .b // 1}",
            "\"x\\(.a)\"",
            ".a?",
            "1.5",
            "[.a]",
            "{(.k): 1}",
        ] {
            assert_eq!(FastExpr::parse(outside), None, "{outside}");
        }
    }

    #[test]
    fn evaluates_like_jq() {
        let e = FastExpr::parse("{id, email: .p.email, first: .list[0], gone: .x.y}").unwrap();
        let out = e
            .eval(&json!({"id": 7, "p": {"email": "e"}, "list": ["a"]}))
            .unwrap();
        assert_eq!(out, json!({"id": 7, "email": "e", "first": "a", "gone": null}));
        // jq raises "cannot index number": the fast path declines.
        assert_eq!(FastExpr::parse(".a.b").unwrap().eval(&json!({"a": 1})), None);
    }

    #[test]
    fn take_moves_out() {
        let e = FastExpr::parse(".data.items").unwrap();
        let input = json!({"data": {"items": [1, 2, 3]}});
        assert!(e.can_take(&input));
        assert_eq!(e.take(input), json!([1, 2, 3]));
    }
}
