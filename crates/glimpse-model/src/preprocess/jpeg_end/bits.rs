//! The bit reader under the block decoders.

use super::marker_at;

/// Huffman-coded data, most significant bit first, with stuffed zero bytes removed. Reading
/// stops at the first marker; bits asked for past it are fill, and counted.
pub(super) struct Bits<'a> {
    bytes: &'a [u8],
    pos: usize,
    buffer: u64,
    buffered: u32,
    /// Where the marker that ended the data starts, once reached.
    marker: Option<usize>,
    /// Fill bits still in `buffer` (they sit below the data bits).
    fill: u32,
    overrun: bool,
}

impl<'a> Bits<'a> {
    pub(super) fn new(bytes: &'a [u8], pos: usize) -> Bits<'a> {
        Bits {
            bytes,
            pos,
            buffer: 0,
            buffered: 0,
            marker: None,
            fill: 0,
            overrun: false,
        }
    }

    /// Tops the buffer up to at least 32 bits: a code (≤ 16) and its extra bits (≤ 16).
    pub(super) fn fill(&mut self) {
        if self.buffered >= 32 {
            return;
        }
        // Four bytes at once where none is FF (no stuffing, no marker): nearly always.
        if self.marker.is_none()
            && let Some(word) = self
                .bytes
                .get(self.pos..self.pos + 4)
                .filter(|w| !w.contains(&0xFF))
        {
            let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            self.buffer |= u64::from(word) << (32 - self.buffered);
            self.buffered += 32;
            self.pos += 4;
            return;
        }
        while self.buffered <= 56 {
            let byte = match self.marker {
                Some(_) => {
                    self.fill += 8;
                    0
                }
                None => self.next_byte(),
            };
            self.buffer |= u64::from(byte) << (56 - self.buffered);
            self.buffered += 8;
        }
    }

    /// The next data byte, or fill once a marker (or the file's end) is reached.
    fn next_byte(&mut self) -> u8 {
        match (self.bytes.get(self.pos), self.bytes.get(self.pos + 1)) {
            (Some(0xFF), Some(0x00)) => {
                self.pos += 2;
                0xFF
            }
            (Some(0xFF), _) | (None, _) => {
                self.marker = Some(self.pos);
                self.fill += 8;
                0
            }
            (Some(&byte), _) => {
                self.pos += 1;
                byte
            }
        }
    }

    pub(super) fn peek(&self, n: u32) -> u64 {
        self.buffer >> (64 - n)
    }

    pub(super) fn consume(&mut self, n: u32) {
        self.buffer <<= n;
        self.buffered -= n;
        if self.buffered < self.fill {
            self.overrun = true;
        }
    }

    /// The next `n` bits (at most 16) as a number: a code's extra bits, an end-of-band run's
    /// length, a refinement's correction bit.
    pub(super) fn get(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.buffered < n {
            self.fill();
        }
        let value = self.peek(n) as u32;
        self.consume(n);
        value
    }

    /// Whether any bit read so far was fill: the data ended early.
    pub(super) fn overrun(&self) -> bool {
        self.overrun
    }

    /// Drops the rest of the interval's last byte and steps over its restart marker:
    /// `Some(false)` when the marker there is not a restart (the data ended early), `None`
    /// when more than that byte was left (the codes were misread).
    pub(super) fn restart(&mut self) -> Option<bool> {
        let Some(at) = self.end()? else {
            return Some(false);
        };
        // (Fill bytes, FF FF …, may come before the marker.)
        match marker_at(self.bytes, at) {
            Some((0xD0..=0xD7, after)) => {
                *self = Bits::new(self.bytes, after);
                Some(true)
            }
            _ => Some(false),
        }
    }

    /// Where the marker after the data starts (`Some(None)` for none: the file ends), for the
    /// parser to go on from. `None` when more data than the last byte's padding is left
    /// before it: every code was read, so the walk misread some, and cannot judge.
    pub(super) fn end(&mut self) -> Option<Option<usize>> {
        let mut unread = self.buffered.saturating_sub(self.fill);
        while self.marker.is_none() && self.pos < self.bytes.len() {
            self.next_byte();
            if self.marker.is_none() {
                unread += 8;
            }
            if unread > 7 {
                return None;
            }
        }
        (unread <= 7).then_some(self.marker)
    }
}
