//! Huffman tables (DHT segments) and decoding one symbol.

use super::bits::Bits;

/// The four DC and four AC Huffman tables a JPEG may define.
#[derive(Default)]
pub(super) struct Tables {
    pub(super) dc: [Option<Huffman>; 4],
    pub(super) ac: [Option<Huffman>; 4],
}

impl Tables {
    /// A DHT segment: one or more tables, each (class·16 + slot, 16 counts, symbols).
    pub(super) fn parse(&mut self, mut segment: &[u8]) -> Option<()> {
        while let Some((&class_slot, rest)) = segment.split_first() {
            let counts: [u8; 16] = rest.get(..16)?.try_into().ok()?;
            let total = counts.iter().map(|&c| usize::from(c)).sum::<usize>();
            let symbols = rest.get(16..16 + total)?;
            let table = Huffman::new(&counts, symbols)?;
            let slot = usize::from(class_slot & 15);
            match class_slot >> 4 {
                0 => *self.dc.get_mut(slot)? = Some(table),
                1 => *self.ac.get_mut(slot)? = Some(table),
                _ => return None,
            }
            segment = &rest[16 + total..];
        }
        Some(())
    }
}

/// Bits looked up at once; longer codes are decoded one bit at a time.
const FAST_BITS: u32 = 9;

/// A canonical Huffman table (JPEG Annex C), decoded as in Annex F.2.2.3.
pub(super) struct Huffman {
    /// For each `FAST_BITS`-bit prefix: (symbol, code length), or length 0 for a longer code.
    fast: Vec<(u8, u8)>,
    /// By code length 1–16: the largest code (−1 for none), the first code, and the index of
    /// its symbol.
    max_code: [i32; 17],
    min_code: [i32; 17],
    first_symbol: [usize; 17],
    symbols: Vec<u8>,
}

impl Huffman {
    pub(super) fn new(counts: &[u8; 16], symbols: &[u8]) -> Option<Huffman> {
        let mut table = Huffman {
            fast: vec![(0, 0); 1 << FAST_BITS],
            max_code: [-1; 17],
            min_code: [0; 17],
            first_symbol: [0; 17],
            symbols: symbols.to_vec(),
        };
        let (mut code, mut index) = (0u32, 0usize);
        for length in 1..=16u32 {
            let count = u32::from(counts[length as usize - 1]);
            table.min_code[length as usize] = code as i32;
            table.first_symbol[length as usize] = index;
            for _ in 0..count {
                if code >= 1 << length {
                    return None; // more codes than this length can hold
                }
                if length <= FAST_BITS {
                    let shift = FAST_BITS - length;
                    for entry in &mut table.fast[(code << shift) as usize..((code + 1) << shift) as usize] {
                        *entry = (symbols[index], length as u8);
                    }
                }
                code += 1;
                index += 1;
            }
            if count > 0 {
                table.max_code[length as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Some(table)
    }

    pub(super) fn decode(&self, bits: &mut Bits) -> Option<u8> {
        bits.fill();
        let (symbol, length) = self.fast[bits.peek(FAST_BITS) as usize];
        if length > 0 {
            bits.consume(u32::from(length));
            return Some(symbol);
        }
        for length in FAST_BITS + 1..=16 {
            let code = bits.peek(length) as i32;
            if code <= self.max_code[length as usize] {
                bits.consume(length);
                let offset = usize::try_from(code - self.min_code[length as usize]).ok()?;
                return self
                    .symbols
                    .get(self.first_symbol[length as usize] + offset)
                    .copied();
            }
        }
        None
    }
}
