//! The step and output budgets of the general jq evaluator, so a manifest expression that loops
//! ends with an error (the call's `mapping_error`) instead of holding a worker.
//!
//! jaq has no fuel of its own, and every jq loop is a recursive definition (`repeat`, `while`,
//! `until`, `recurse`, a manifest's own `def`) or `range`. So before compiling, every
//! definition's body, the standard library's included, is prefixed with a native step filter
//! that passes its input on and counts; `range/3`, native in jaq, is replaced by its jq
//! definition so its elements count too. An evaluation that takes more than [`MAX_STEPS`] steps
//! fails. The output's size is checked as it becomes JSON ([`MAX_OUTPUT_NODES`]).

use std::cell::Cell;

use jaq_core::box_iter::box_once;
use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::path::{Part, Path};
use jaq_core::{Error, Exn, Native, data};
use jaq_json::Val;

/// Steps one evaluation may take: calls of jq definitions, and `range` elements. The bundled
/// mappings take at most a few hundred per record; a million is a few hundred milliseconds.
pub const MAX_STEPS: u64 = 1_000_000;

/// JSON values (each array element, object member and scalar counts one) one output may hold.
pub const MAX_OUTPUT_NODES: usize = 1_000_000;

/// The native step filter's name (not a name a manifest can define: `$`-free but reserved).
pub(crate) const STEP: &str = "__patchbay_step";

/// `range/3` in jq, so its elements count steps (jaq's native one does not): first in the
/// prelude, where `range/1,2` find it, so it uses no definition (`{}[] as $x | .` is `empty`).
pub(crate) const RANGE: &str = "def range($from; $upto; $by): \
    def rec: if ($by > 0 and . < $upto) or ($by < 0 and . > $upto) or ($by == 0 and . != $upto) \
    then ., (. + $by | rec) else ({}[] as $x | .) end; $from | rec;";

/// Stack an evaluation may use below where it started: deep recursion (`def f: 1 + f; f`)
/// would overflow the thread's stack, which aborts the process, before the steps run out.
pub const MAX_STACK_BYTES: usize = 512 << 10;

thread_local! {
    static STEPS_LEFT: Cell<u64> = const { Cell::new(MAX_STEPS) };
    static STACK_BASE: Cell<usize> = const { Cell::new(0) };
}

/// The address of a local: where the stack is now (it grows down on every target we build).
#[inline(never)]
fn stack_here() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Starts an evaluation's budget.
pub(crate) fn reset() {
    STEPS_LEFT.set(MAX_STEPS);
    STACK_BASE.set(stack_here());
}

/// Takes a step; the error when the budget is spent.
fn step() -> Result<(), Error<Val>> {
    let left = STEPS_LEFT.get();
    if left == 0 {
        return Err(Error::str(format!(
            "the expression exceeded its budget of {MAX_STEPS} steps (it loops, or does too much per record)"
        )));
    }
    STEPS_LEFT.set(left - 1);
    if STACK_BASE.get().saturating_sub(stack_here()) > MAX_STACK_BYTES {
        return Err(Error::str("the expression recurses too deep"));
    }
    Ok(())
}

/// The step filter: its input unchanged, in values, paths and updates alike (a definition may
/// be used as a path, as in `first |= 1`).
pub(crate) fn step_filter() -> jaq_core::native::Fun<data::JustLut<Val>> {
    let native = Native::new(|cv| match step() {
        Err(e) => box_once(Err(Exn::from(e))),
        Ok(()) => box_once(Ok(cv.1)),
    })
    .with_paths(|cvp| match step() {
        Err(e) => box_once(Err(Exn::from(e))),
        Ok(()) => box_once(Ok(cvp.1)),
    })
    .with_update(|cv, f| match step() {
        Err(e) => box_once(Err(Exn::from(e))),
        Ok(()) => f(cv.1),
    });
    (STEP, jaq_core::native::v(0), native)
}

/// A definition whose body, and every definition nested in it, counts a step per call.
pub(crate) fn counted_def(d: Def<&str>) -> Def<&str> {
    Def {
        name: d.name,
        args: d.args,
        body: counted(stepped(d.body)),
    }
}

/// `__patchbay_step | body`.
pub(crate) fn counted(body: Term<&str>) -> Term<&str> {
    Term::BinOp(
        Box::new(Term::Call(STEP, Vec::new())),
        BinaryOp::Pipe(None),
        Box::new(body),
    )
}

/// The term with every nested definition counted.
pub(crate) fn stepped<'s>(t: Term<&'s str>) -> Term<&'s str> {
    let b = |t: Box<Term<&'s str>>| Box::new(stepped(*t));
    match t {
        Term::Def(defs, rest) => Term::Def(defs.into_iter().map(counted_def).collect(), b(rest)),
        Term::Str(format, parts) => Term::Str(
            format,
            parts
                .into_iter()
                .map(|p| match p {
                    StrPart::Term(t) => StrPart::Term(stepped(t)),
                    other => other,
                })
                .collect(),
        ),
        Term::Arr(t) => Term::Arr(t.map(b)),
        Term::Obj(kvs) => Term::Obj(
            kvs.into_iter()
                .map(|(k, v)| (stepped(k), v.map(stepped)))
                .collect(),
        ),
        Term::Neg(t) => Term::Neg(b(t)),
        Term::BinOp(l, op, r) => {
            let op = match op {
                BinaryOp::Pipe(Some(p)) => BinaryOp::Pipe(Some(pattern(p))),
                other => other,
            };
            Term::BinOp(b(l), op, b(r))
        }
        Term::Label(name, t) => Term::Label(name, b(t)),
        Term::Fold(name, xs, p, args) => {
            Term::Fold(name, b(xs), pattern(p), args.into_iter().map(stepped).collect())
        }
        Term::TryCatch(t, c) => Term::TryCatch(b(t), c.map(b)),
        Term::IfThenElse(branches, otherwise) => Term::IfThenElse(
            branches
                .into_iter()
                .map(|(c, t)| (stepped(c), stepped(t)))
                .collect(),
            otherwise.map(b),
        ),
        Term::Call(name, args) => Term::Call(name, args.into_iter().map(stepped).collect()),
        Term::Path(t, Path(parts)) => Term::Path(
            b(t),
            Path(
                parts
                    .into_iter()
                    .map(|(part, opt)| {
                        let part = match part {
                            Part::Index(i) => Part::Index(stepped(i)),
                            Part::Range(from, to) => Part::Range(from.map(stepped), to.map(stepped)),
                        };
                        (part, opt)
                    })
                    .collect(),
            ),
        ),
        leaf @ (Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_)) => leaf,
    }
}

fn pattern(p: Pattern<&str>) -> Pattern<&str> {
    match p {
        Pattern::Var(v) => Pattern::Var(v),
        Pattern::Arr(ps) => Pattern::Arr(ps.into_iter().map(pattern).collect()),
        Pattern::Obj(kvs) => Pattern::Obj(kvs.into_iter().map(|(k, v)| (stepped(k), pattern(v))).collect()),
    }
}

/// Counts an output's JSON values, up to the budget; `Err` past it.
pub(crate) fn check_output(v: &Val) -> Result<(), String> {
    fn walk(v: &Val, left: &mut usize) -> bool {
        if *left == 0 {
            return false;
        }
        *left -= 1;
        match v {
            Val::Arr(items) => items.iter().all(|i| walk(i, left)),
            Val::Obj(map) => map.iter().all(|(_, v)| walk(v, left)),
            _ => true,
        }
    }
    let mut left = MAX_OUTPUT_NODES;
    match walk(v, &mut left) {
        true => Ok(()),
        false => Err(format!(
            "the expression's output exceeds {MAX_OUTPUT_NODES} JSON values"
        )),
    }
}
