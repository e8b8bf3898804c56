//! The pickle machine's limits, and the work budget that enforces the total.
//!
//! Each limit is far above what `torch.save` writes for the largest models this project reads
//! (the notebook's ResNet-101 checkpoint: 11,534 opcodes, 2,935 memo entries; a ResNet-152 state
//! dict, about 1,000 tensors: about 15,000 opcodes; sgrvinod's whole pickled modules: 14,154
//! opcodes, nested about 20 deep), and low enough that the worst pickle (one allocating a new
//! container with every opcode) is refused in under two seconds and about 750 MB (measured in
//! a release build: 8.4 million `EMPTY_LIST`s, 1.3 s, 740 MB peak).

use super::error::PickleErrorKind;
use super::machine::Step;

/// Units of work one pickle may spend: one per opcode, plus one per value a bulk operation
/// moves or copies (`APPENDS`, `SETITEMS`, `TUPLE`, the arguments of a call). 2^23, about 550
/// times the largest real pickle above; each unit creates at most one value (under 100 bytes
/// with its container).
pub const MAX_WORK: u64 = 1 << 23;

/// Memo entries (distinct indices). 2^20, about 350 times the largest real pickle's.
pub const MAX_MEMO: usize = 1 << 20;

/// Items in one list, tuple, dict or object. 2^21: a state dict holds ~1,000 tensors, a
/// vocabulary saved beside one ~10,000 words.
pub const MAX_CONTAINER: usize = 1 << 21;

/// Dimensions of a tensor. PyTorch's models use at most 5.
pub const MAX_RANK: usize = 16;

/// Bytes of text one pickle may copy out of itself (kept strings and `bytes`, protocol-0
/// lines): 64 MiB, about a thousand times the names and keys of a ResNet-152 state dict. Without
/// it a 1 GiB string held the pickle twice over. (A legacy `.pth` holds five pickles, each with
/// its own budget.)
pub const MAX_TEXT: usize = 1 << 26;

/// The longest string or `bytes` object kept with its contents (64 KiB). Glimpse reads no long
/// one (names are at most 1 KiB; a NumPy array's data is one long `bytes`, written as a latin-1
/// string at protocol 2), so a longer one, or one past [`MAX_TEXT`], is kept only as a
/// description of its length, never copied.
pub const MAX_KEPT_BYTES: usize = 1 << 16;

/// What is left of [`MAX_WORK`] for one pickle.
#[derive(Debug)]
pub(super) struct Work {
    left: u64,
    text_left: usize,
}

impl Default for Work {
    fn default() -> Work {
        Work {
            left: MAX_WORK,
            text_left: MAX_TEXT,
        }
    }
}

impl Work {
    /// Spends `units`, or refuses once the budget is gone.
    pub(super) fn charge(&mut self, units: usize) -> Step<()> {
        let units = u64::try_from(units).unwrap_or(u64::MAX);
        self.left = self
            .left
            .checked_sub(units)
            .ok_or(PickleErrorKind::WorkLimit { limit: MAX_WORK })?;
        Ok(())
    }

    /// Spends `bytes` of [`MAX_TEXT`] on text copied out of the pickle, or refuses.
    pub(super) fn charge_text(&mut self, bytes: usize) -> Step<()> {
        if self.try_charge_text(bytes) {
            Ok(())
        } else {
            Err(PickleErrorKind::TextLimit { limit: MAX_TEXT })
        }
    }

    /// Spends `bytes` of [`MAX_TEXT`] if that much is left.
    pub(super) fn try_charge_text(&mut self, bytes: usize) -> bool {
        match self.text_left.checked_sub(bytes) {
            Some(left) => {
                self.text_left = left;
                true
            }
            None => false,
        }
    }

    pub(super) fn text_left(&self) -> usize {
        self.text_left
    }
}

/// Refuses a container that would hold more than [`MAX_CONTAINER`] items.
pub(super) fn check_container(kind: &'static str, len: usize) -> Step<()> {
    if len > MAX_CONTAINER {
        return Err(PickleErrorKind::ContainerLimit {
            kind,
            len,
            limit: MAX_CONTAINER,
        });
    }
    Ok(())
}
