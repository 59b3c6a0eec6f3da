//! A unified mapping compiled for the raw path: the paths it reads grouped into a trie, filled
//! from a record's text in one pass, and the mapped record written out.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::text::{Elements, Key, first_byte};
use crate::fastpath::{FastExpr, Step};

/// Output slots of an object mapping, grouped into a trie so each object on the way is split once.
#[derive(Default)]
pub(super) struct Trie {
    here: Vec<usize>,
    keys: Vec<(String, Trie)>,
    indices: Vec<(usize, Trie)>,
}

impl Trie {
    pub(super) fn insert(&mut self, steps: &[Step], slot: usize) {
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
    pub(super) fn fill<'a>(
        &self,
        raw: Option<&'a RawValue>,
        out: &mut [Option<&'a RawValue>],
    ) -> Result<(), ()> {
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
pub(super) struct Fill<'t, 'o, 'a> {
    pub(super) trie: &'t Trie,
    pub(super) out: &'o mut [Option<&'a RawValue>],
}

impl Trie {
    /// Whether only deeper keys are read here (no value copied, no array index).
    pub(super) fn descends_by_keys_only(&self) -> bool {
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
pub(super) struct Plan<'e> {
    pub(super) expr: &'e FastExpr,
    pub(super) trie: Trie,
    pub(super) slots: usize,
}

impl<'e> Plan<'e> {
    pub(super) fn new(expr: &'e FastExpr) -> Option<Self> {
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
    pub(super) fn write<'a>(
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

pub(super) fn write_object(
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
