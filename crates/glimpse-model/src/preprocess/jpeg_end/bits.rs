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
    /// Data was left over after the last code before a marker (more than its byte's padding).
    leftover: bool,
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
            leftover: false,
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
        debug_assert!(n <= 16, "fill keeps 32 bits at least: a code and its extra bits");
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

    /// Drops the rest of the interval's data and steps over its restart marker; false when no
    /// restart marker is there (the data ended early).
    pub(super) fn restart(&mut self) -> bool {
        let DataEnd::Marker(at) = self.end() else {
            return false;
        };
        // (Fill bytes, FF FF …, may come before the marker.)
        match marker_at(self.bytes, at) {
            Some((0xD0..=0xD7, after)) => {
                let leftover = self.leftover;
                *self = Bits::new(self.bytes, after);
                self.leftover = leftover;
                true
            }
            _ => false,
        }
    }

    /// What follows the data, for the parser to go on from. Data after the last code beyond
    /// its byte's padding is skipped, as libjpeg skips it (some encoders pad scans with whole
    /// blocks), and noted in `leftover`.
    pub(super) fn end(&mut self) -> DataEnd {
        let mut unread = self.buffered.saturating_sub(self.fill);
        while self.marker.is_none() && self.pos < self.bytes.len() {
            self.next_byte();
            if self.marker.is_none() {
                unread = unread.saturating_add(8);
            }
        }
        self.leftover |= unread > 7;
        // (`next_byte` stops at the file's end as at a marker.)
        match self.marker {
            Some(at) if at < self.bytes.len() => DataEnd::Marker(at),
            _ => DataEnd::FileEnd,
        }
    }

    /// Whether data was left over after the codes before a marker, anywhere so far.
    pub(super) fn leftover(&self) -> bool {
        self.leftover
    }
}

/// What follows a scan's (or a restart interval's) data.
pub(super) enum DataEnd {
    /// A marker, starting at this position.
    Marker(usize),
    /// Nothing: the file ends.
    FileEnd,
}
