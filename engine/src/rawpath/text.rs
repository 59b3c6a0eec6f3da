//! Borrowed JSON text: an object's members and an array's elements as `RawValue`s of the input,
//! and a fast path's steps followed through them, splitting only the values on the way.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::fastpath::Step;

/// An object key, borrowed from the input unless it had escapes.
pub(super) struct Key<'a>(pub(super) Cow<'a, str>);

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
pub(super) struct Members<'a>(pub(super) Vec<(Key<'a>, &'a RawValue)>);

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
    pub(super) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k.0 == key).map(|(_, v)| *v)
    }
}

/// The elements of an array.
pub(super) struct Elements<'a>(pub(super) Vec<&'a RawValue>);

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

pub(super) fn first_byte(raw: &RawValue) -> u8 {
    raw.get().as_bytes()[0]
}

pub(super) fn members(raw: &RawValue) -> Option<Members<'_>> {
    serde_json::from_str(raw.get()).ok()
}

/// Follows `steps`: `Ok(None)` is jq's null (missing or null), `Err` a jq type error.
pub(super) fn walk<'a>(raw: &'a RawValue, steps: &[Step]) -> Result<Option<&'a RawValue>, ()> {
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
