//! jq expressions (the mapping language), evaluated by `jaq`, with a fast path.
//!
//! Most mappings are plain paths (`.results`) or object constructions of paths
//! (`{id: .id, email: .properties.email}`). Those compile to [`FastExpr`], which walks
//! `serde_json::Value`s directly, several times faster than the general evaluator. Anything else,
//! and any input on which the fast path would raise a jq error, runs on jaq, so both paths give
//! the same answers (checked by tests over every bundled mapping).
//!
//! Functions that reach outside the input (`env`, `$ENV`, `input`, `inputs`, `now`) are removed:
//! expressions are pure functions of their input. `halt` ends the expression with an error.

use jaq_core::load::parse::Def;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::fastpath::FastExpr;
use crate::jq_budget;

type JqFilter = jaq_core::Filter<data::JustLut<Val>>;

/// Native functions withheld from manifests, because they are not pure functions of the input.
/// (`halt` stays, since jq's standard definitions use it; it ends the expression with an error.)
const DENIED: &[&str] = &["env", "input", "inputs", "now"];

/// A compiled expression.
pub struct Expr {
    source: String,
    fast: Option<FastExpr>,
    /// The jaq filter, compiled when jaq is first needed. A compiled filter carries every jq
    /// definition it loaded (hundreds of KiB with the standard library, tens without), which
    /// over every expression of a catalogue was most of the host's idle memory: an expression
    /// outside the fast subset is compiled once at load to report its errors there, and that
    /// filter dropped; one inside it is valid jq by construction and needs jaq only for an
    /// error message.
    filter: std::sync::OnceLock<Result<JqFilter, String>>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expr")
            .field("source", &self.source)
            .field("fast", &self.fast.is_some())
            .finish()
    }
}

impl Expr {
    /// Compiles `source`; the error is jaq's message.
    pub fn compile(source: &str) -> Result<Self, String> {
        let fast = FastExpr::parse(source);
        if fast.is_none() {
            compile_jq(source)?;
        }
        Ok(Self {
            source: source.to_owned(),
            fast,
            filter: std::sync::OnceLock::new(),
        })
    }

    /// The expression's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The fast path form, if the expression has one.
    pub(crate) fn fast(&self) -> Option<&FastExpr> {
        self.fast.as_ref()
    }

    /// Whether the fast path handles this expression.
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// First output of the expression on `input` (null when it yields nothing).
    pub fn eval(&self, input: &Value) -> Result<Value, String> {
        if let Some(fast) = &self.fast
            && let Some(v) = fast.eval(input)
        {
            return Ok(v);
        }
        self.eval_jq(input)
    }

    /// Like [`Expr::eval`] but consumes the input, so a path expression moves the selected part
    /// out instead of copying it (record arrays of whole pages).
    pub fn eval_owned(&self, input: Value) -> Result<Value, String> {
        if let Some(fast) = &self.fast
            && fast.can_take(&input)
        {
            return Ok(fast.take(input));
        }
        self.eval(&input)
    }

    /// Length of the array the expression selects (null counts as empty), without copying it.
    pub fn count(&self, input: &Value) -> Result<usize, String> {
        let len = |v: Option<&Value>| match v {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Array(items)) => Ok(items.len()),
            Some(other) => Err(format!(
                "`{}` selected {}, not an array",
                self.source,
                type_name(other)
            )),
        };
        if let Some(fast) = &self.fast
            && let Some(found) = fast.get_ref(input)
        {
            return len(found);
        }
        len(Some(&self.eval_jq(input)?))
    }

    /// Evaluates with the general jq evaluator only (used by tests to check the fast path).
    pub fn eval_jq(&self, input: &Value) -> Result<Value, String> {
        let val = Val::deserialize(input).map_err(|e| e.to_string())?;
        let filter = self
            .filter
            .get_or_init(|| compile_jq(&self.source))
            .as_ref()
            .map_err(Clone::clone)?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
        jq_budget::reset();
        let mut outputs = filter.id.run((ctx, val));
        match outputs.next() {
            None => Ok(Value::Null),
            Some(Ok(v)) => {
                jq_budget::check_output(&v).map_err(|e| format!("jq error in `{}`: {e}", self.source))?;
                Ok(to_json(&v))
            }
            Some(Err(exn)) => Err(match exn.get_err() {
                Ok(err) => format!("jq error in `{}`: {err}", self.source),
                Err(_) => format!("jq expression `{}` halted", self.source),
            }),
        }
    }

    /// Evaluates to a boolean with jq truthiness (null and false are false).
    pub fn eval_bool(&self, input: &Value) -> Result<bool, String> {
        Ok(!matches!(self.eval(input)?, Value::Null | Value::Bool(false)))
    }
}

/// Compiles with jaq's core definitions only when they suffice (most expressions), else with
/// the standard library too: every definition loaded is compiled into the filter, used or not.
fn compile_jq(source: &str) -> Result<JqFilter, String> {
    compile_jq_with(source, false).or_else(|_| compile_jq_with(source, true))
}

/// The name the manifest's expression is compiled under, as the prelude's last definition.
const MAIN: &str = "__patchbay_main";

fn compile_jq_with(source: &str, std: bool) -> Result<JqFilter, String> {
    let arena = Arena::default();
    // Parsed here, not by the loader, so that its definitions count steps (jq_budget); a text
    // that does not parse goes to the loader for its message.
    let (defs, code): (Vec<Def<&str>>, &str) = match jaq_core::load::parse(source, |p| p.term()) {
        Some(term) => {
            let range = jaq_core::load::parse(jq_budget::RANGE, |p| p.defs()).expect("RANGE parses");
            let prelude = range
                .into_iter()
                .chain(jaq_core::defs())
                .chain(
                    std.then(|| jaq_std::defs().chain(jaq_json::defs()))
                        .into_iter()
                        .flatten(),
                )
                .map(jq_budget::counted_def);
            let main = Def {
                name: MAIN,
                args: Vec::new(),
                body: jq_budget::counted(jq_budget::stepped(term)),
            };
            // Collected as `'static`, then shortened (covariance) to the source's lifetime.
            let prelude: Vec<Def<&'static str>> = prelude.collect();
            let mut defs: Vec<Def<&str>> = prelude;
            defs.push(main);
            (defs, MAIN)
        }
        None => (jaq_core::defs().collect(), source),
    };
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, args, _)| !(DENIED.contains(name) || *name == "range" && args.len() == 3))
        .chain([jq_budget::step_filter()]);
    let loader = Loader::new(defs);
    let modules = loader.load(&arena, File { code, path: () }).map_err(|errs| {
        format!(
            "cannot parse jq `{source}`: {:?}",
            errs.into_iter().map(|(_, e)| e).collect::<Vec<_>>()
        )
    })?;
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let undefined: Vec<String> = errs
                .into_iter()
                .flat_map(|(_, es)| es.into_iter().map(|(name, _)| name.to_string()))
                .collect();
            format!("cannot compile jq `{source}`: undefined {}", undefined.join(", "))
        })
}

/// The JSON type of a value, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Converts a jaq value to JSON (byte strings become lossy UTF-8, non-string keys their JSON text).
fn to_json(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => {
            let text = n.to_string();
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        }
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(items) => Value::Array(items.iter().map(to_json).collect()),
        Val::Obj(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map.iter() {
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                    other => other.to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(source: &str) -> Result<Value, String> {
        Expr::compile(source).unwrap().eval_jq(&json!({"a": [1, 2, 3]}))
    }

    #[test]
    fn loops_end_with_an_error_within_the_budget() {
        for looping in [
            "def f: f; f",
            "[repeat(1)]",
            "last(range(1e12))",
            "[limit(2000000; repeat(1))] | length",
            "until(false; .)",
            "0 | [recurse(. + 1)] | length",
        ] {
            let e = run(looping).unwrap_err();
            assert!(
                e.contains("exceeded its budget of 1000000 steps"),
                "{looping}: {e}"
            );
        }
        // Deep, not long: the stack, not the thread, gives out first without the guard.
        let e = run("def f: 1 + f; f").unwrap_err();
        assert!(e.contains("recurses too deep"), "{e}");
        // The next evaluation has its whole budget again.
        assert_eq!(run("[limit(3; repeat(1))]").unwrap(), json!([1, 1, 1]));
    }

    #[test]
    fn counted_definitions_keep_their_meaning() {
        assert_eq!(run("[range(4)]").unwrap(), json!([0, 1, 2, 3]));
        assert_eq!(run("[range(0; 10; 4)]").unwrap(), json!([0, 4, 8]));
        assert_eq!(run("[range(3; 0; -1)]").unwrap(), json!([3, 2, 1]));
        assert!(run("[range(0; 1; 0)] | length").unwrap_err().contains("budget"));
        // Definitions used as paths (updates go through the step filter's update).
        assert_eq!(run(".a | first |= 10").unwrap(), json!([10, 2, 3]));
        assert_eq!(run("path(.a | last)").unwrap(), json!(["a", -1]));
        assert_eq!(run("def inc: . + 1; .a | map(inc)").unwrap(), json!([2, 3, 4]));
        assert_eq!(run(".a | del(.[0])").unwrap(), json!([2, 3]));
    }

    #[test]
    fn evaluates_general_jq() {
        let e = Expr::compile("[.items[] | select(.n > 1) | .n * 2]").unwrap();
        assert!(!e.is_fast());
        assert_eq!(
            e.eval(&json!({"items": [{"n": 1}, {"n": 2}]})).unwrap(),
            json!([4])
        );
    }

    #[test]
    fn fast_path_is_used_for_paths_and_objects() {
        let e = Expr::compile("{id: .id, email: .properties.email, kind: \"contact\"}").unwrap();
        assert!(e.is_fast());
        let input = json!({"id": "1", "properties": {"email": "a@b.c"}});
        assert_eq!(e.eval(&input).unwrap(), e.eval_jq(&input).unwrap());
    }

    #[test]
    fn impure_functions_are_refused() {
        for src in ["env", "$ENV", "input", "now"] {
            assert!(Expr::compile(src).is_err(), "{src} must not compile");
        }
        // `halt` must end the expression, never the host process.
        let err = Expr::compile("halt").unwrap().eval(&json!(1)).unwrap_err();
        assert!(err.contains("halted"), "{err}");
    }

    #[test]
    fn errors_are_reported_not_panicked() {
        let e = Expr::compile(".a.b").unwrap();
        let err = e.eval(&json!({"a": 5})).unwrap_err();
        assert!(err.contains(".a.b"), "{err}");
        assert!(Expr::compile("{a: }").is_err());
    }

    #[test]
    fn eval_owned_moves_records_out() {
        let e = Expr::compile(".results").unwrap();
        assert_eq!(e.eval_owned(json!({"results": [1, 2]})).unwrap(), json!([1, 2]));
        assert_eq!(e.eval_owned(json!({})).unwrap(), Value::Null);
    }
}
