//! A first, typed reading of a safetensors header's tensor entries: what the safetensors crate
//! would hold whole before reading them (serde buffers every entry of its flattened map) is
//! read here field by field, each to the type the format gives it, and counted.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{MAX_RANK, MAX_TENSORS};
use crate::config::limits::MAX_TENSOR_NAME_BYTES;
use crate::error::excerpt;

/// Why a header's entries are refused.
pub(super) enum Refusal {
    /// Not a header of tensor entries (serde_json's message).
    Parse(String),
    /// More than [`MAX_TENSORS`] entries.
    TooManyTensors,
    /// More than [`MAX_METADATA_ENTRIES`] metadata entries.
    TooManyMetadataEntries,
    /// A name over [`MAX_TENSOR_NAME_BYTES`]: its length and an excerpt.
    LongName(usize, String),
    /// The first tensor of more than [`MAX_RANK`] dimensions, and its rank.
    Rank(String, usize),
    /// A tensor name or a metadata key listed twice (an excerpt): the crate keeps one of them,
    /// silently.
    Twice(String),
}

/// Reads `header` (its JSON text) entry by entry, without building what an entry holds.
pub(super) fn check(header: &[u8]) -> Result<(), Refusal> {
    let refusal = RefCell::new(None);
    let mut reader = serde_json::Deserializer::from_slice(header);
    let read = reader
        .deserialize_map(EntriesVisitor { refusal: &refusal })
        .and_then(|()| reader.end());
    // A refusal the visitor made ended the reading with a placeholder error.
    match (refusal.into_inner(), read) {
        (Some(refusal), _) => Err(refusal),
        (None, Err(e)) => Err(Refusal::Parse(e.to_string())),
        (None, Ok(())) => Ok(()),
    }
}

/// One tensor's entry: its three fields, each of its type, and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(rename = "dtype")]
    _dtype: DtypeName,
    shape: Rank,
    #[serde(rename = "data_offsets")]
    _data_offsets: (u64, u64),
}

/// The longest dtype name the format has (`F8_E4M3`, `F8_E5M2`, `BF16`, …), with room.
const MAX_DTYPE_BYTES: usize = 16;

/// A dtype's name, read without being kept.
struct DtypeName;

/// How many dimensions a shape has (each a whole number).
struct Rank(usize);

impl<'de> Deserialize<'de> for DtypeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(DtypeVisitor)
    }
}

impl<'de> Deserialize<'de> for Rank {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(RankVisitor)
    }
}

struct EntriesVisitor<'r> {
    refusal: &'r RefCell<Option<Refusal>>,
}

impl EntriesVisitor<'_> {
    /// Ends the reading, refusing the header for `refusal`.
    fn refuse<E: de::Error>(&self, refusal: Refusal) -> E {
        *self.refusal.borrow_mut() = Some(refusal);
        E::custom("refused")
    }
}

impl<'de> Visitor<'de> for EntriesVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of tensor names to their entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut tensors = 0usize;
        let mut names = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if name.len() <= MAX_TENSOR_NAME_BYTES && !names.insert(name.clone()) {
                return Err(self.refuse(Refusal::Twice(excerpt(&name))));
            }
            if name == "__metadata__" {
                let MetadataKeys(refusal) = map.next_value()?; // the values are checked field by field
                match refusal {
                    Some(refusal) => return Err(self.refuse(refusal)),
                    None => continue,
                }
            }
            tensors += 1;
            if tensors > MAX_TENSORS {
                return Err(self.refuse(Refusal::TooManyTensors));
            }
            if name.len() > MAX_TENSOR_NAME_BYTES {
                return Err(self.refuse(Refusal::LongName(name.len(), excerpt(&name))));
            }
            let Entry {
                shape: Rank(rank), ..
            } = map.next_value()?;
            if rank > MAX_RANK && self.refusal.borrow().is_none() {
                *self.refusal.borrow_mut() = Some(Refusal::Rank(name, rank));
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for EntriesVisitor<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// The most metadata entries a header may hold (a bundle has 3, a checkpoint 5).
pub(super) const MAX_METADATA_ENTRIES: usize = 1024;

/// A metadata map's keys, read for one listed twice, or too many, values skipped.
struct MetadataKeys(Option<Refusal>);

impl<'de> Deserialize<'de> for MetadataKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MetadataVisitor)
    }
}

struct MetadataVisitor;

impl<'de> Visitor<'de> for MetadataVisitor {
    type Value = MetadataKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of metadata")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetadataKeys, A::Error> {
        let mut keys = HashSet::new();
        let mut refusal = None;
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if refusal.is_some() {
                continue; // read to its end, as the map must be
            }
            if keys.len() == MAX_METADATA_ENTRIES {
                refusal = Some(Refusal::TooManyMetadataEntries);
            } else if !keys.insert(key.clone()) {
                refusal = Some(Refusal::Twice(excerpt(&key)));
            }
        }
        Ok(MetadataKeys(refusal))
    }
}

struct DtypeVisitor;

impl<'de> Visitor<'de> for DtypeVisitor {
    type Value = DtypeName;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a dtype's name of at most {MAX_DTYPE_BYTES} bytes")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<DtypeName, E> {
        match name.len() <= MAX_DTYPE_BYTES {
            true => Ok(DtypeName),
            false => Err(E::invalid_length(name.len(), &self)),
        }
    }
}

struct RankVisitor;

impl<'de> Visitor<'de> for RankVisitor {
    type Value = Rank;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a shape (a list of sizes)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Rank, A::Error> {
        let mut rank = 0;
        while seq.next_element::<u64>()?.is_some() {
            rank += 1;
        }
        Ok(Rank(rank))
    }
}
