//! The raw list path: a page of records mapped straight from the vendor's bytes to the output
//! bytes, without building a `serde_json::Value` tree.
//!
//! Parsing a whole page into `Value`s and serializing it again costs more than the mapping itself.
//! When every expression involved is in the fast subset ([`FastExpr`]) this path walks the page as
//! borrowed JSON text ([`RawValue`]): only the objects on the way to a selected value are split
//! into members, values are copied verbatim, and `remote_data` is the vendor's record text as is.
//! Whenever the answer is not the happy shape (an error status, a rule that reads the body, a type
//! error, a duplicate of `remote_data`), it returns `None` and the caller takes the `Value` path,
//! so both give the same JSON (checked by tests over every bundled connector).

use serde::de::{self, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::call::PageState;
use crate::connector::{CompiledUnified, Connector};
use crate::expr::Expr;
use crate::fastpath::{FastExpr, Step};
use crate::http::HttpResponse;
use crate::pagination::PageBody;

mod page;
mod plan;
#[cfg(test)]
mod tests;
mod text;

use self::page::{PageSeed, RecordsSeed};
use self::plan::Plan;
use self::text::{Members, first_byte, walk};

/// One page of a list, already serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct RawPage {
    /// The records as a JSON array text (mapped when a unified mapping was given).
    pub records_json: Vec<u8>,
    /// How many records.
    pub count: usize,
    /// The next page, if any.
    pub next: Option<PageState>,
}

/// A page body, parsed once: an object root is split into members a single time, since both the
/// records and the pagination expressions start there.
enum Root<'a> {
    /// The members, but for `hole`: the records key, whose value was mapped as it was read
    /// ([`PageSeed`]); an expression reading under it steps aside to the general path.
    Object {
        members: Members<'a>,
        hole: Option<&'a str>,
    },
    Other(&'a RawValue),
}

/// The first byte of a JSON text past its leading whitespace.
fn first_token(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

impl<'a> Root<'a> {
    /// Parses (and so validates) the whole body.
    fn parse(body: &'a [u8]) -> Option<Self> {
        match first_token(body)? {
            b'{' => serde_json::from_slice(body)
                .ok()
                .map(|members| Root::Object { members, hole: None }),
            _ => serde_json::from_slice(body).ok().map(Root::Other),
        }
    }

    fn walk(&self, steps: &[Step]) -> Result<Option<&'a RawValue>, ()> {
        match (self, steps.split_first()) {
            (Root::Object { hole: Some(h), .. }, Some((Step::Key(k), _))) if h == k => Err(()),
            (Root::Object { members, .. }, Some((Step::Key(k), rest))) => {
                members.get(k).map_or(Ok(None), |v| walk(v, rest))
            }
            // `.` or `.[n]` on an object root: rare enough to leave to the general path.
            (Root::Object { .. }, _) => Err(()),
            (Root::Other(raw), _) => walk(raw, steps),
        }
    }

    /// A fast path expression's value as a (small) `Value`; `None` when it is not a path.
    fn path_value(&self, expr: &Expr) -> Option<Result<Value, ()>> {
        let FastExpr::Path(steps) = expr.fast()? else {
            return None;
        };
        Some(self.walk(steps).and_then(|found| match found {
            None => Ok(Value::Null),
            Some(v) => serde_json::from_str(v.get()).map_err(|_| ()),
        }))
    }
}

impl Connector {
    /// Interprets a successful list answer on the raw path, mapping each record with the unified
    /// method (and adding `remote_data` when asked), or copying records as they are for proxy
    /// lists. `None`: take the general path ([`Connector::interpret`]).
    pub fn interpret_list_raw(
        &self,
        resource: &str,
        method: &str,
        page: Option<&PageState>,
        response: &HttpResponse,
        unified: Option<(&CompiledUnified, bool)>,
    ) -> Option<RawPage> {
        let (status, headers, body) = (response.status, &response.headers, response.body.as_slice());
        let m = self.method(resource, method)?;
        if !(200..300).contains(&status) || self.body_rules_apply(status) {
            return None;
        }
        let (plan, remote_data) = match unified {
            Some((u, remote_data)) => (Some(Plan::new(u.response.as_ref()?.fast()?)?), remote_data),
            None => (None, false),
        };
        let FastExpr::Path(records_path) = m.records.as_ref()?.fast()? else {
            return None;
        };
        let mut out = Vec::with_capacity(body.len() + body.len() / 2 + 64);
        let mut records = RecordsSeed {
            plan: plan.as_ref(),
            remote_data,
            out: &mut out,
            count: 0,
        };
        let object_root = first_token(body) == Some(b'{');
        let root = match records_path.as_slice() {
            // The common shape, `{"results": […], "paging": …}`: one pass over the page.
            [Step::Key(key)] if object_root => {
                let mut de = serde_json::Deserializer::from_slice(body);
                let members = de
                    .deserialize_map(PageSeed {
                        key,
                        records: &mut records,
                    })
                    .and_then(|m| de.end().map(|()| m))
                    .ok()?;
                Root::Object {
                    members,
                    hole: Some(key),
                }
            }
            _ => {
                let root = Root::parse(body)?;
                match root.walk(records_path).ok()? {
                    None => records.out.extend_from_slice(b"[]"),
                    Some(r) if first_byte(r) == b'[' => {
                        let mut de = serde_json::Deserializer::from_str(r.get());
                        de::Deserializer::deserialize_seq(&mut de, &mut records).ok()?;
                    }
                    Some(_) => return None,
                }
                root
            }
        };
        let count = records.count;
        let next = crate::pagination::next(&m.pagination, &RawBody(&root), headers, status, page, count)
            .ok()?
            .map(|n| crate::pagination::resolve_against(n, response.url.as_deref()));
        Some(RawPage {
            records_json: out,
            count,
            next,
        })
    }

    /// A single record (a method without `records`) straight from the vendor's bytes, as the
    /// vendor wrote it: the whole body, or what the method's `record` path selects. `None` when
    /// the general path must read it (an error status, a rule that reads the body, an expression
    /// outside the fast subset, a missing or null record, a body that is not JSON).
    pub fn interpret_single_raw<'b>(
        &self,
        resource: &str,
        method: &str,
        response: &'b HttpResponse,
    ) -> Option<&'b str> {
        let m = self.method(resource, method)?;
        if m.records.is_some()
            || !(200..300).contains(&response.status)
            || self.body_rules_apply(response.status)
        {
            return None;
        }
        let record = match &m.record {
            None => {
                serde_json::from_slice::<de::IgnoredAny>(&response.body).ok()?;
                std::str::from_utf8(&response.body).ok()?.trim()
            }
            Some(e) => {
                let FastExpr::Path(steps) = e.fast()? else {
                    return None;
                };
                Root::parse(&response.body)?.walk(steps).ok()??.get()
            }
        };
        // `null` reads as jq's null on the general path; leave it there.
        (record != "null").then_some(record)
    }

    /// Whether an error rule or throttle expression could read this answer's body.
    pub(crate) fn body_rules_apply(&self, status: u16) -> bool {
        self.error_rules
            .iter()
            .any(|r| r.rule.status.is_empty() || r.rule.status.contains(&status))
            || self.rate_limit.as_ref().is_some_and(|rl| rl.throttled.is_some())
    }
}

/// A page body read on the raw path: fast path expressions only.
struct RawBody<'r, 'a>(&'r Root<'a>);

impl PageBody for RawBody<'_, '_> {
    fn eval(&self, e: &Expr) -> Result<Value, String> {
        self.0
            .path_value(e)
            .and_then(Result::ok)
            .ok_or_else(|| "not on the raw path".to_owned())
    }

    fn whole(&self) -> Result<&Value, String> {
        Err("not on the raw path".to_owned())
    }
}
