//! jq expressions: compiling any text, and evaluating what compiles within the engine's step and
//! output budgets (an expression that loops ends with an error, never a hang).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use patchbay_engine::Expr;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 2);
    if let Ok(expr) = Expr::compile(&p[0]) {
        let input = serde_json::from_str(&p[1])
            .unwrap_or_else(|_| serde_json::json!({"results": [{"id": 1, "properties": {"email": p[1]}}], "paging": null}));
        let _ = expr.eval(&input);
        let _ = expr.eval_jq(&input);
    }
});
