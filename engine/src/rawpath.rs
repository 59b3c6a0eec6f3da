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

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::call::PageState;
use crate::connector::{CompiledUnified, Connector};
use crate::expr::Expr;
use crate::fastpath::{FastExpr, Step};
use crate::http::HttpResponse;
use crate::pagination::PageBody;

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

/// An object key, borrowed from the input unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of an object (in order; a repeated key keeps its last value, as serde_json does).
struct Members<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((k, v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Members<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k.0 == key).map(|(_, v)| *v)
    }
}

/// The elements of an array.
struct Elements<'a>(Vec<&'a RawValue>);

impl<'de> serde::Deserialize<'de> for Elements<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elements<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Elements<'de>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(16));
                while let Some(v) = seq.next_element::<&'de RawValue>()? {
                    out.push(v);
                }
                Ok(Elements(out))
            }
        }
        d.deserialize_seq(V)
    }
}

fn first_byte(raw: &RawValue) -> u8 {
    raw.get().as_bytes()[0]
}

fn members(raw: &RawValue) -> Option<Members<'_>> {
    serde_json::from_str(raw.get()).ok()
}

/// Follows `steps`: `Ok(None)` is jq's null (missing or null), `Err` a jq type error.
fn walk<'a>(raw: &'a RawValue, steps: &[Step]) -> Result<Option<&'a RawValue>, ()> {
    let mut cur = raw;
    for step in steps {
        let next = match (step, first_byte(cur)) {
            (_, b'n') => return Ok(None),
            (Step::Key(k), b'{') => members(cur).ok_or(())?.get(k),
            (Step::Index(i), b'[') => serde_json::from_str::<Elements>(cur.get())
                .map_err(|_| ())?
                .0
                .get(*i)
                .copied(),
            _ => return Err(()),
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(None),
        }
    }
    Ok((first_byte(cur) != b'n').then_some(cur))
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

impl<'a> Root<'a> {
    /// Parses (and so validates) the whole body.
    fn parse(body: &'a [u8]) -> Option<Self> {
        match body.iter().find(|b| !b.is_ascii_whitespace())? {
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

/// Output slots of an object mapping, grouped into a trie so each object on the way is split once.
#[derive(Default)]
struct Trie {
    here: Vec<usize>,
    keys: Vec<(String, Trie)>,
    indices: Vec<(usize, Trie)>,
}

impl Trie {
    fn insert(&mut self, steps: &[Step], slot: usize) {
        match steps.split_first() {
            None => self.here.push(slot),
            Some((Step::Key(k), rest)) => match self.keys.iter_mut().find(|(key, _)| key == k) {
                Some((_, t)) => t.insert(rest, slot),
                None => {
                    let mut t = Trie::default();
                    t.insert(rest, slot);
                    self.keys.push((k.clone(), t));
                }
            },
            Some((Step::Index(i), rest)) => match self.indices.iter_mut().find(|(idx, _)| idx == i) {
                Some((_, t)) => t.insert(rest, slot),
                None => {
                    let mut t = Trie::default();
                    t.insert(rest, slot);
                    self.indices.push((*i, t));
                }
            },
        }
    }

    /// Fills `out[slot]` for every path in the trie; `Err` on a jq type error.
    fn fill<'a>(&self, raw: Option<&'a RawValue>, out: &mut [Option<&'a RawValue>]) -> Result<(), ()> {
        let raw = raw.filter(|r| first_byte(r) != b'n');
        for &slot in &self.here {
            out[slot] = raw;
        }
        if self.keys.is_empty() && self.indices.is_empty() {
            return Ok(());
        }
        let Some(raw) = raw else {
            // Everything below null is null.
            for (_, t) in &self.keys {
                t.fill(None, out)?;
            }
            for (_, t) in &self.indices {
                t.fill(None, out)?;
            }
            return Ok(());
        };
        match first_byte(raw) {
            b'{' if self.indices.is_empty() => {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                de.deserialize_map(Fill { trie: self, out }).map_err(|_| ())
            }
            b'[' if self.keys.is_empty() => {
                let e: Elements = serde_json::from_str(raw.get()).map_err(|_| ())?;
                for (i, t) in &self.indices {
                    t.fill(e.0.get(*i).copied(), out)?;
                }
                Ok(())
            }
            _ => Err(()),
        }
    }
}

/// Fills a trie's slots from an object in one pass over its text: a key the trie does not read is
/// skipped, and one that leads only to deeper keys is descended into directly rather than first
/// taken as text and split again (a record's nested objects were read twice). A value the
/// output copies is taken as text. A repeated key counts once, its last value, as in serde_json.
struct Fill<'t, 'o, 'a> {
    trie: &'t Trie,
    out: &'o mut [Option<&'a RawValue>],
}

impl Trie {
    /// Whether only deeper keys are read here (no value copied, no array index).
    fn descends_by_keys_only(&self) -> bool {
        self.here.is_empty() && self.indices.is_empty() && !self.keys.is_empty()
    }
}

impl<'de> de::DeserializeSeed<'de> for Fill<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Fill<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }

    /// Everything below null is null.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.trie
            .fill(None, self.out)
            .map_err(|()| E::custom("type error"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let Some((_, t)) = self.trie.keys.iter().find(|(k, _)| *k == *key.0) else {
                map.next_value::<de::IgnoredAny>()?;
                continue;
            };
            // A repeated key: its earlier value no longer counts.
            t.fill(None, self.out)
                .map_err(|()| de::Error::custom("type error"))?;
            if t.descends_by_keys_only() {
                map.next_value_seed(Fill {
                    trie: t,
                    out: self.out,
                })?;
            } else {
                let value: &'de RawValue = map.next_value()?;
                t.fill(Some(value), self.out)
                    .map_err(|()| de::Error::custom("type error"))?;
            }
        }
        Ok(())
    }
}

/// A compiled object mapping for the raw path.
struct Plan<'e> {
    expr: &'e FastExpr,
    trie: Trie,
    slots: usize,
}

impl<'e> Plan<'e> {
    fn new(expr: &'e FastExpr) -> Option<Self> {
        let FastExpr::Object(members) = expr else {
            return None;
        };
        if members.iter().any(|(k, _)| k == "remote_data") {
            return None;
        }
        let mut trie = Trie::default();
        let mut slots = 0;
        fn add(e: &FastExpr, trie: &mut Trie, slots: &mut usize) {
            match e {
                FastExpr::Path(steps) => {
                    trie.insert(steps, *slots);
                    *slots += 1;
                }
                FastExpr::Object(members) => members.iter().for_each(|(_, v)| add(v, trie, slots)),
                FastExpr::Literal(_) => {}
            }
        }
        add(expr, &mut trie, &mut slots);
        Some(Self { expr, trie, slots })
    }

    /// Writes the mapped record (and `remote_data`) to `out`; `values` is scratch space.
    fn write<'a>(
        &self,
        record: &'a RawValue,
        remote_data: bool,
        values: &mut Vec<Option<&'a RawValue>>,
        out: &mut Vec<u8>,
    ) -> Result<(), ()> {
        values.clear();
        values.resize(self.slots, None);
        self.trie.fill(Some(record), values)?;
        write_object(self.expr, values, &mut 0, out, remote_data.then_some(record));
        Ok(())
    }
}

/// A page's object root read in one pass: every member is kept as text for the pagination
/// expressions but the records key's, whose array is mapped element by element as the parser
/// reaches it ([`RecordsSeed`]), so the records are not split out of the page and then out of
/// their array before each is read. A repeated records key steps aside to the general path.
struct PageSeed<'s, 'p, 'o, 'e> {
    key: &'p str,
    records: &'s mut RecordsSeed<'p, 'o, 'e>,
}

impl<'de> Visitor<'de> for PageSeed<'_, '_, '_, '_> {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let Self { key, records } = self;
        let mut members = Vec::with_capacity(8);
        let mut seen = false;
        while let Some(k) = map.next_key::<Key<'de>>()? {
            if k.0 != key {
                members.push((k, map.next_value::<&'de RawValue>()?));
            } else if std::mem::replace(&mut seen, true) {
                return Err(de::Error::custom("repeated records key"));
            } else {
                map.next_value_seed(&mut *records)?;
            }
        }
        if !seen {
            // Missing records read as null: an empty page.
            records.out.extend_from_slice(b"[]");
        }
        Ok(Members(members))
    }
}

/// Writes a records array (null: an empty one) to `out` as its elements are parsed: each mapped
/// by the plan, or copied as it is without one. A mapping without `remote_data` that reads only
/// keys fills its slots straight from the parser; otherwise each record is taken as text first.
struct RecordsSeed<'p, 'o, 'e> {
    plan: Option<&'p Plan<'e>>,
    remote_data: bool,
    out: &'o mut Vec<u8>,
    count: usize,
}

impl<'de> de::DeserializeSeed<'de> for &mut RecordsSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut RecordsSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"[]");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let type_error = |()| de::Error::custom("type error");
        let streams = self
            .plan
            .filter(|p| !self.remote_data && p.trie.descends_by_keys_only());
        let mut values: Vec<Option<&'de RawValue>> = Vec::new();
        self.out.push(b'[');
        loop {
            let first = self.count == 0;
            let more = match (streams, self.plan) {
                (Some(plan), _) => {
                    values.clear();
                    values.resize(plan.slots, None);
                    let more = seq
                        .next_element_seed(Fill {
                            trie: &plan.trie,
                            out: &mut values,
                        })?
                        .is_some();
                    if more {
                        if !first {
                            self.out.push(b',');
                        }
                        write_object(plan.expr, &values, &mut 0, self.out, None);
                    }
                    more
                }
                (None, plan) => match seq.next_element::<&'de RawValue>()? {
                    None => false,
                    Some(record) => {
                        if !first {
                            self.out.push(b',');
                        }
                        match plan {
                            Some(plan) => plan
                                .write(record, self.remote_data, &mut values, self.out)
                                .map_err(type_error)?,
                            None => self.out.extend_from_slice(record.get().as_bytes()),
                        }
                        true
                    }
                },
            };
            if !more {
                break;
            }
            self.count += 1;
        }
        self.out.push(b']');
        Ok(())
    }
}

fn write_object(
    e: &FastExpr,
    values: &[Option<&RawValue>],
    next: &mut usize,
    out: &mut Vec<u8>,
    extra: Option<&RawValue>,
) {
    match e {
        FastExpr::Path(_) => {
            match values[*next] {
                Some(v) => out.extend_from_slice(v.get().as_bytes()),
                None => out.extend_from_slice(b"null"),
            }
            *next += 1;
        }
        FastExpr::Literal(v) => serde_json::to_writer(&mut *out, v).expect("writing to a Vec"),
        FastExpr::Object(members) => {
            out.push(b'{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("writing to a Vec");
                out.push(b':');
                write_object(v, values, next, out, None);
            }
            if let Some(record) = extra {
                if !members.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"remote_data\":");
                out.extend_from_slice(record.get().as_bytes());
            }
            out.push(b'}');
        }
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
        let object_root = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
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
