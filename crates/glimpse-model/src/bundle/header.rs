//! A first, typed reading of a safetensors header's tensor entries: what the safetensors crate
//! would hold whole before reading them (serde buffers every entry of its flattened map) is
//! skipped here, value by value, and counted.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{MAX_RANK, MAX_TENSORS};

/// What the header's tensor entries hold, as far as a bundle cares before the crate reads them.
pub(super) struct Entries {
    /// The first tensor of more than [`MAX_RANK`] dimensions, and its rank.
    pub too_many_dimensions: Option<(String, usize)>,
}

/// One tensor's entry: its fields and nothing else, their values skipped but the shape's
/// dimensions counted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(rename = "dtype")]
    _dtype: IgnoredAny,
    shape: Rank,
    #[serde(rename = "data_offsets")]
    _data_offsets: IgnoredAny,
}

/// How many dimensions a shape has.
struct Rank(usize);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor)
    }
}

impl<'de> Deserialize<'de> for Rank {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(RankVisitor)
    }
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Entries;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of tensor names to their entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
        let (mut tensors, mut too_many_dimensions) = (0usize, None);
        while let Some(name) = map.next_key::<String>()? {
            if name == "__metadata__" {
                map.next_value::<IgnoredAny>()?; // read by the crate, and checked field by field
                continue;
            }
            tensors += 1;
            if tensors > MAX_TENSORS {
                return Err(de::Error::custom(format!("more than {MAX_TENSORS} tensors")));
            }
            let Entry {
                shape: Rank(rank), ..
            } = map.next_value()?;
            if rank > MAX_RANK && too_many_dimensions.is_none() {
                too_many_dimensions = Some((name, rank));
            }
        }
        Ok(Entries { too_many_dimensions })
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
        while seq.next_element::<IgnoredAny>()?.is_some() {
            rank += 1;
        }
        Ok(Rank(rank))
    }
}
