//! A page read in one pass: the records array mapped as the parser reaches it.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::plan::{Fill, Plan, write_object};
use super::text::{Key, Members};

/// A page's object root read in one pass: every member is kept as text for the pagination
/// expressions but the records key's, whose array is mapped element by element as the parser
/// reaches it ([`RecordsSeed`]), so the records are not split out of the page and then out of
/// their array before each is read. A repeated records key steps aside to the general path.
pub(super) struct PageSeed<'s, 'p, 'o, 'e> {
    pub(super) key: &'p str,
    pub(super) records: &'s mut RecordsSeed<'p, 'o, 'e>,
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
pub(super) struct RecordsSeed<'p, 'o, 'e> {
    pub(super) plan: Option<&'p Plan<'e>>,
    pub(super) remote_data: bool,
    pub(super) out: &'o mut Vec<u8>,
    pub(super) count: usize,
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
