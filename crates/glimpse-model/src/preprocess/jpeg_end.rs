//! Whether a JPEG's image data is all there. The decoder fills whatever is missing without a
//! word, so a photo cut short would be captioned as if it were whole. Two checks find it: no
//! end-of-image marker after the last scan (a download that stopped), and, for baseline JPEGs
//! (what cameras and phones write), a walk over the Huffman-coded data that counts the blocks
//! each scan holds against the blocks its frame needs — which also finds data cut short and
//! given a new end marker. Progressive JPEGs get the first check only.

/// Whether the image data of `bytes`, a JPEG, stops before the image does. The walk's answer
/// wins where it has one: it stops at the first end marker, while the marker check looks from
/// the file's end, where a motion photo keeps a video whose bytes may look like a scan.
pub(super) fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    baseline_data_is_short(bytes).unwrap_or_else(|| ends_inside_a_scan(bytes))
}

/// The file ends inside a scan or between scans: walking its segments from the start, no
/// end-of-image marker (FF D9) comes after the first scan. Segments are skipped by their length
/// and scan data up to its next marker, so a thumbnail inside an APP segment or a video after
/// the image (a motion photo) is never taken for the image's end or its data. A file that
/// breaks off before any scan has a broken header, which the decoder reports.
fn ends_inside_a_scan(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let (mut pos, mut scanned) = (2, false);
    loop {
        let Some((marker, after)) = marker_at(bytes, pos) else {
            return scanned;
        };
        pos = after;
        match marker {
            0xD9 => return false,
            0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(length) = bytes
            .get(pos..pos + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return scanned;
        };
        pos += length;
        if marker == 0xDA {
            scanned = true;
            // Scan data: every FF is followed by 00 (a stuffed byte) or a restart marker.
            let data = bytes.get(pos..).unwrap_or_default();
            match data
                .windows(2)
                .position(|w| w[0] == 0xFF && !matches!(w[1], 0x00 | 0xD0..=0xD7))
            {
                Some(end) => pos += end,
                None => return true,
            }
        }
    }
}

/// For a baseline JPEG: `Some(true)` when a scan's data ends before its last block or a
/// component is never scanned, `Some(false)` when every block is there. `None` when this walk
/// cannot tell (progressive, lossless or arithmetic-coded files, or data it does not
/// understand): the decoder's own checks are all there is then.
fn baseline_data_is_short(bytes: &[u8]) -> Option<bool> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut pos = 2;
    let mut frame: Option<Frame> = None;
    let mut tables = Tables::default();
    let mut restart_interval = 0;
    loop {
        let (marker, after) = marker_at(bytes, pos)?;
        pos = after;
        match marker {
            0xD9 => break,                  // end of image
            0x01 | 0xD0..=0xD8 => continue, // markers without a segment
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]));
        let segment = bytes.get(pos + 2..pos.checked_add(length)?)?;
        pos += length;
        match marker {
            0xC0 | 0xC1 => frame = Some(Frame::parse(segment)?),
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xC4 => tables.parse(segment)?,
            0xDD => restart_interval = usize::from(u16::from_be_bytes([*segment.first()?, *segment.get(1)?])),
            0xDA => {
                let scan = Scan::parse(segment, frame.as_mut()?, &tables, restart_interval)?;
                match scan.walk(bytes, pos)? {
                    ScanEnd::Short => return Some(true),
                    ScanEnd::Complete { next } => pos = next,
                }
            }
            _ => {} // APPn, COM, DQT, DNL: nothing to count
        }
    }
    Some(frame?.components.iter().any(|c| !c.scanned))
}

/// The marker at `pos` (after any fill bytes) and the position after it.
fn marker_at(bytes: &[u8], mut pos: usize) -> Option<(u8, usize)> {
    if *bytes.get(pos)? != 0xFF {
        return None;
    }
    while *bytes.get(pos + 1)? == 0xFF {
        pos += 1;
    }
    Some((bytes[pos + 1], pos + 2))
}

struct Component {
    id: u8,
    /// Sampling factors, 1–4.
    h: usize,
    v: usize,
    scanned: bool,
}

struct Frame {
    width: usize,
    height: usize,
    components: Vec<Component>,
}

impl Frame {
    /// A start-of-frame segment: precision, height, width, then (id, H·16 + V, table) per component.
    fn parse(segment: &[u8]) -> Option<Frame> {
        let height = usize::from(u16::from_be_bytes([*segment.get(1)?, *segment.get(2)?]));
        let width = usize::from(u16::from_be_bytes([*segment.get(3)?, *segment.get(4)?]));
        let count = usize::from(*segment.get(5)?);
        let components = (0..count)
            .map(|i| {
                let spec = segment.get(6 + 3 * i..9 + 3 * i)?;
                let (h, v) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 15));
                ((1..=4).contains(&h) && (1..=4).contains(&v)).then_some(Component {
                    id: spec[0],
                    h,
                    v,
                    scanned: false,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        // A height of 0 comes later in a DNL segment: too rare to follow. Repeated component
        // ids (some encoders write them) would make a scan's components ambiguous.
        let unique = (1..count).all(|i| components[..i].iter().all(|c| c.id != components[i].id));
        (width > 0 && height > 0 && count > 0 && unique).then_some(Frame {
            width,
            height,
            components,
        })
    }

    fn max_sampling(&self) -> (usize, usize) {
        let h = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        (h, v)
    }
}

/// The four DC and four AC Huffman tables a JPEG may define.
#[derive(Default)]
struct Tables {
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
}

impl Tables {
    /// A DHT segment: one or more tables, each (class·16 + slot, 16 counts, symbols).
    fn parse(&mut self, mut segment: &[u8]) -> Option<()> {
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
struct Huffman {
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
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Option<Huffman> {
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

    fn decode(&self, bits: &mut Bits) -> Option<u8> {
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

/// A scan's components (frame index, DC table, AC table) and how many MCUs it holds.
struct Scan<'t> {
    components: Vec<(usize, &'t Huffman, &'t Huffman)>,
    /// Blocks per MCU for each of `components`.
    blocks: Vec<usize>,
    mcus: usize,
    restart_interval: usize,
}

impl<'t> Scan<'t> {
    /// A start-of-scan segment: count, (component id, DC·16 + AC table) each, then the spectral
    /// range and approximation, which must be baseline's (0–63, 0).
    fn parse(
        segment: &[u8],
        frame: &mut Frame,
        tables: &'t Tables,
        restart_interval: usize,
    ) -> Option<Scan<'t>> {
        let count = usize::from(*segment.first()?);
        if !(1..=4).contains(&count) {
            return None; // a scan holds one to four components (B.2.3)
        }
        let tail = segment.get(1 + 2 * count..4 + 2 * count)?;
        if tail != [0, 63, 0] {
            return None;
        }
        let mut components = Vec::with_capacity(count);
        for spec in segment.get(1..1 + 2 * count)?.chunks_exact(2) {
            let index = frame.components.iter().position(|c| c.id == spec[0])?;
            if components.iter().any(|&(i, _, _)| i == index) {
                return None; // one component twice in a scan
            }
            frame.components[index].scanned = true;
            let dc = tables.dc.get(usize::from(spec[1] >> 4))?.as_ref()?;
            let ac = tables.ac.get(usize::from(spec[1] & 15))?.as_ref()?;
            components.push((index, dc, ac));
        }
        let (h_max, v_max) = frame.max_sampling();
        let (blocks, mcus) = if let [(index, _, _)] = components[..] {
            // One component: its own blocks, one per MCU (Annex A.2.2).
            let c = &frame.components[index];
            let columns = (frame.width * c.h).div_ceil(h_max).div_ceil(8);
            let rows = (frame.height * c.v).div_ceil(v_max).div_ceil(8);
            (vec![1], columns * rows)
        } else {
            let blocks = components
                .iter()
                .map(|&(i, _, _)| frame.components[i].h * frame.components[i].v);
            let mcus = frame.width.div_ceil(8 * h_max) * frame.height.div_ceil(8 * v_max);
            (blocks.collect(), mcus)
        };
        Some(Scan {
            components,
            blocks,
            mcus,
            restart_interval,
        })
    }

    /// Decodes every block's codes (not its pixels) from `start`, stopping as soon as the data
    /// runs out.
    fn walk(&self, bytes: &[u8], start: usize) -> Option<ScanEnd> {
        let mut bits = Bits::new(bytes, start);
        for mcu in 0..self.mcus {
            if self.restart_interval > 0 && mcu > 0 && mcu % self.restart_interval == 0 && !bits.restart() {
                return Some(ScanEnd::Short);
            }
            for (&(_, dc, ac), &blocks) in self.components.iter().zip(&self.blocks) {
                for _ in 0..blocks {
                    let decoded = skip_block(&mut bits, dc, ac);
                    if bits.overrun() {
                        return Some(ScanEnd::Short);
                    }
                    decoded?;
                }
            }
        }
        Some(ScanEnd::Complete {
            next: bits.next_marker()?,
        })
    }
}

enum ScanEnd {
    Short,
    Complete { next: usize },
}

/// Reads past one block: a DC difference and up to 63 AC coefficients.
fn skip_block(bits: &mut Bits, dc: &Huffman, ac: &Huffman) -> Option<()> {
    let size = dc.decode(bits)?;
    if size > 16 {
        return None;
    }
    bits.skip(u32::from(size));
    let mut k = 1;
    while k < 64 {
        let run_size = ac.decode(bits)?;
        let (run, size) = (run_size >> 4, run_size & 15);
        if size == 0 {
            if run != 15 {
                break; // end of block
            }
            k += 16;
        } else {
            bits.skip(u32::from(size));
            k += usize::from(run) + 1;
        }
    }
    Some(())
}

/// Huffman-coded data, most significant bit first, with stuffed zero bytes removed. Reading
/// stops at the first marker; bits asked for past it are fill, and counted.
struct Bits<'a> {
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
    fn new(bytes: &'a [u8], pos: usize) -> Bits<'a> {
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
    fn fill(&mut self) {
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

    fn peek(&self, n: u32) -> u64 {
        self.buffer >> (64 - n)
    }

    fn consume(&mut self, n: u32) {
        self.buffer <<= n;
        self.buffered -= n;
        if self.buffered < self.fill {
            self.overrun = true;
        }
    }

    /// Skips a code's extra bits: at most 16, which the fill before the code left in the buffer.
    fn skip(&mut self, n: u32) {
        self.consume(n);
    }

    /// Whether any bit read so far was fill: the data ended early.
    fn overrun(&self) -> bool {
        self.overrun
    }

    /// Drops the rest of the interval's last byte and steps over its restart marker; false
    /// when the marker there is not a restart (the data ended early).
    fn restart(&mut self) -> bool {
        let Some(at) = self.marker.or_else(|| self.find_marker()) else {
            return false;
        };
        // (Fill bytes, FF FF …, may come before the marker.)
        match marker_at(self.bytes, at) {
            Some((0xD0..=0xD7, after)) => {
                *self = Bits::new(self.bytes, after);
                true
            }
            _ => false,
        }
    }

    /// The marker after the data's end (fill bytes skipped), for the parser to go on from.
    fn next_marker(&mut self) -> Option<usize> {
        self.marker.or_else(|| self.find_marker())
    }

    /// Reads on (padding left after the last code) to the next marker.
    fn find_marker(&mut self) -> Option<usize> {
        while self.marker.is_none() && self.pos < self.bytes.len() {
            self.next_byte();
        }
        self.marker
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageFormat, RgbImage};
    use std::io::Cursor;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7 + y) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
        });
        let mut bytes = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        bytes
    }

    #[test]
    fn a_jpeg_is_truncated_when_no_end_marker_follows_its_scans() {
        let whole = jpeg(64, 48);
        assert!(!ends_inside_a_scan(&whole));
        assert!(ends_inside_a_scan(&whole[..whole.len() - 2]));
        assert!(ends_inside_a_scan(&whole[..whole.len() / 2]));
        // A thumbnail in an APP1 segment (as EXIF keeps one) has its own end marker: skipped.
        let thumbnail = jpeg(8, 8);
        let app1 = [
            &[0xFF, 0xE1][..],
            &u16::try_from(thumbnail.len() + 2).unwrap().to_be_bytes(),
            &thumbnail,
        ]
        .concat();
        let with_thumbnail = [&whole[..2], &app1, &whole[2..]].concat();
        assert!(!ends_inside_a_scan(&with_thumbnail));
        assert!(ends_inside_a_scan(&with_thumbnail[..with_thumbnail.len() - 2]));
        // No scan at all is a broken header, reported by the decoder, not truncation.
        assert!(!ends_inside_a_scan(&[0xFF, 0xD8, 0x00]));
        assert!(!ends_inside_a_scan(&whole[..20]));
    }

    #[test]
    fn data_cut_short_is_found_even_with_a_new_end_marker() {
        for (width, height) in [(64, 48), (333, 127), (8, 8), (1, 1)] {
            let whole = jpeg(width, height);
            assert_eq!(baseline_data_is_short(&whole), Some(false), "{width}×{height}");
            assert!(!jpeg_is_truncated(&whole));
            let scan = whole.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
            // Every cut inside the scan data, each given an end marker again.
            let data_start = scan + 2 + usize::from(u16::from_be_bytes([whole[scan + 2], whole[scan + 3]]));
            let mut missed = Vec::new();
            for cut in data_start..whole.len() - 2 {
                let mut cut_eoi = whole[..cut].to_vec();
                cut_eoi.extend_from_slice(&[0xFF, 0xD9]);
                if baseline_data_is_short(&cut_eoi) != Some(true) {
                    missed.push(cut);
                }
            }
            // Only the last byte may be padding (the encoder pads the final byte with 1 bits).
            assert!(
                missed.len() <= 1,
                "{width}×{height}: cuts not found: {missed:?} of {}..{}",
                data_start,
                whole.len() - 2
            );
        }
    }

    #[test]
    fn every_single_bit_flip_gives_an_answer() {
        // Headers, tables and data alike: no panic, no endless walk, whatever a byte says.
        let whole = jpeg(40, 24);
        for i in 0..whole.len() {
            for bit in 0..8 {
                let mut flipped = whole.clone();
                flipped[i] ^= 1 << bit;
                let _ = jpeg_is_truncated(&flipped);
            }
        }
    }

    #[test]
    fn restart_intervals_are_followed_with_or_without_fill_bytes() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/images/restart.jpg"
        );
        let whole = std::fs::read(path).unwrap();
        let restarts: Vec<usize> = (0..whole.len() - 1)
            .filter(|&i| whole[i] == 0xFF && (0xD0..=0xD7).contains(&whole[i + 1]))
            .collect();
        assert_eq!(
            restarts.len(),
            3,
            "the fixture has a restart every 3 of its 12 MCUs"
        );
        assert_eq!(baseline_data_is_short(&whole), Some(false));
        // Fill bytes (FF FF …) may come before any marker, restarts included.
        let mut filled = whole.clone();
        for &at in restarts.iter().rev() {
            filled.splice(at..at, [0xFF, 0xFF]);
        }
        assert_eq!(baseline_data_is_short(&filled), Some(false));
        assert!(image::load_from_memory(&filled).is_ok());
        // Cut right after a restart marker, or just before one, and given an end marker.
        for cut in [restarts[1] + 2, restarts[2] - 1] {
            let cut_eoi = [&whole[..cut], &[0xFF, 0xD9][..]].concat();
            assert_eq!(baseline_data_is_short(&cut_eoi), Some(true), "cut at {cut}");
        }
    }

    #[test]
    fn data_after_the_end_marker_is_not_read() {
        // A motion photo keeps a video after the image; its bytes may contain FF DA.
        let mut motion = jpeg(64, 48);
        motion.extend_from_slice(&[0x00, 0x00, 0x00, 0x18, b'f', b't', b'y', b'p', 0xFF, 0xDA, 0x12]);
        assert!(!ends_inside_a_scan(&motion));
        assert_eq!(baseline_data_is_short(&motion), Some(false));
        assert!(!jpeg_is_truncated(&motion));
    }

    #[test]
    fn repeated_component_ids_are_not_judged() {
        let mut whole = jpeg(16, 16);
        let frame = whole.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        // The second and third components take the first one's id (1).
        whole[frame + 2 + 2 + 6 + 3] = whole[frame + 2 + 2 + 6];
        whole[frame + 2 + 2 + 6 + 6] = whole[frame + 2 + 2 + 6];
        assert_eq!(baseline_data_is_short(&whole), None);
    }
}
