//! A scan (SOS segment and the coded data after it): which blocks it holds, and whether its
//! data holds all of them.

use std::ops::RangeInclusive;

use super::bits::{Bits, DataEnd};
use super::block::{self, AcBand};
use super::frame::Frame;
use super::huffman::{Huffman, Tables};

/// How a scan codes its blocks, with the tables that takes.
#[derive(Clone, Copy)]
enum Coding<'t> {
    /// Baseline or extended sequential: each block whole.
    Sequential {
        dc: &'t Huffman,
        ac: &'t Huffman,
    },
    /// Progressive: the DC coefficients' high bits, then one more bit a refinement.
    DcFirst(&'t Huffman),
    DcRefine,
    /// Progressive, one component: an AC band's high bits, then one more bit a refinement.
    AcFirst(&'t Huffman),
    AcRefine(&'t Huffman),
}

/// One of a scan's components: its index in the frame, its blocks per MCU and their coding.
struct ScanComponent<'t> {
    index: usize,
    blocks: usize,
    coding: Coding<'t>,
}

pub(super) struct Scan<'t> {
    components: Vec<ScanComponent<'t>>,
    /// The coefficients it codes (zigzag order).
    band: RangeInclusive<usize>,
    mcus: usize,
    restart_interval: usize,
}

pub(super) enum ScanEnd {
    /// The data stops before the scan's last block.
    Short,
    /// Every block is there; what follows, and whether the data held nothing more (tests ask
    /// this, to show the walk reads every bit an encoder wrote).
    Complete { end: DataEnd, exact: bool },
}

impl<'t> Scan<'t> {
    /// A start-of-scan segment: count, (component id, DC·16 + AC table) each, then the
    /// spectral band (Ss, Se) and successive approximation (Ah·16 + Al). Records what it codes
    /// in `frame`; `None` for a scan the standard does not allow there.
    pub(super) fn parse(
        segment: &[u8],
        frame: &mut Frame,
        tables: &'t Tables,
        restart_interval: usize,
    ) -> Option<Scan<'t>> {
        let count = usize::from(*segment.first()?);
        if !(1..=4).contains(&count) {
            return None; // a scan holds one to four components (B.2.3)
        }
        let &[start, end, approximation] = segment.get(1 + 2 * count..4 + 2 * count)? else {
            return None;
        };
        // Sequential decoders code every coefficient whatever Ss, Se, Ah and Al say (libjpeg
        // warns; some encoders write zeroes there), and so does this walk. (zune-jpeg refuses
        // values past 63 and 13, which only the error's wording of such a file depends on.)
        let (band, high, low) = if frame.progressive {
            (
                usize::from(start)..=usize::from(end),
                approximation >> 4,
                approximation & 15,
            )
        } else {
            (0..=63, 0, 0)
        };
        if frame.progressive && !progressive_allowed(&band, high, low, count) {
            return None;
        }
        let mut components: Vec<ScanComponent> = Vec::with_capacity(count);
        for spec in segment.get(1..1 + 2 * count)?.chunks_exact(2) {
            let index = frame.components.iter().position(|c| c.id == spec[0])?;
            if components.iter().any(|c| c.index == index) {
                return None; // one component twice in a scan
            }
            frame.record(index, band.clone(), high, low)?;
            let dc = || tables.dc.get(usize::from(spec[1] >> 4))?.as_ref();
            let ac = || tables.ac.get(usize::from(spec[1] & 15))?.as_ref();
            let coding = match (frame.progressive, *band.start(), high) {
                (false, ..) => Coding::Sequential { dc: dc()?, ac: ac()? },
                (true, 0, 0) => Coding::DcFirst(dc()?),
                (true, 0, _) => Coding::DcRefine,
                (true, _, 0) => Coding::AcFirst(ac()?),
                (true, _, _) => Coding::AcRefine(ac()?),
            };
            let c = &frame.components[index];
            let blocks = if count == 1 { 1 } else { c.h * c.v };
            components.push(ScanComponent {
                index,
                blocks,
                coding,
            });
        }
        let mcus = match components[..] {
            // One component: its own blocks, one per MCU (A.2.2).
            [ScanComponent { index, .. }] => {
                let (columns, rows) = frame.block_grid(index);
                columns * rows
            }
            _ => frame.mcus(),
        };
        frame.visit(mcus.checked_mul(components.iter().map(|c| c.blocks).sum())?)?;
        Some(Scan {
            components,
            band,
            mcus,
            restart_interval,
        })
    }

    /// Reads every block's codes (not its pixels) from `start`, stopping as soon as the data
    /// runs out.
    pub(super) fn walk(&self, bytes: &[u8], start: usize, frame: &mut Frame) -> Option<ScanEnd> {
        let (history, mut ac_band) = match self.components[..] {
            [
                ScanComponent {
                    index,
                    coding: Coding::AcFirst(ac) | Coding::AcRefine(ac),
                    ..
                },
            ] => (frame.nonzero_mut(index), Some(AcBand::new(ac, &self.band))),
            _ => (&mut [][..], None),
        };
        let mut bits = Bits::new(bytes, start);
        for mcu in 0..self.mcus {
            if self.restart_interval > 0 && mcu > 0 && mcu % self.restart_interval == 0 {
                if !bits.restart() {
                    return Some(ScanEnd::Short);
                }
                if let Some(band) = &mut ac_band {
                    band.end_of_band = 0;
                }
            }
            for component in &self.components {
                for _ in 0..component.blocks {
                    let read = Self::read_block(component.coding, &mut bits, ac_band.as_mut(), history, mcu);
                    if bits.overrun() {
                        return Some(ScanEnd::Short);
                    }
                    read?;
                }
            }
        }
        let end = bits.end();
        Some(ScanEnd::Complete {
            end,
            exact: !bits.leftover(),
        })
    }

    /// Reads past one block. An AC scan holds one component, so its MCU is one block, whose
    /// nonzero history is `history[mcu]`.
    fn read_block(
        coding: Coding,
        bits: &mut Bits,
        ac_band: Option<&mut AcBand>,
        history: &mut [u64],
        mcu: usize,
    ) -> Option<()> {
        match coding {
            Coding::Sequential { dc, ac } => block::sequential(bits, dc, ac),
            Coding::DcFirst(dc) => block::dc_difference(bits, dc),
            Coding::DcRefine => {
                bits.get(1);
                Some(())
            }
            Coding::AcFirst(_) => ac_band?.first(bits, history.get_mut(mcu)?),
            Coding::AcRefine(_) => ac_band?.refine(bits, history.get_mut(mcu)?),
        }
    }
}

/// Whether a progressive scan's band and approximation are allowed: DC alone (any components)
/// or an AC band of one component, each refinement one bit below the last (G.1.1.1.1).
fn progressive_allowed(band: &RangeInclusive<usize>, high: u8, low: u8, count: usize) -> bool {
    let (start, end) = (*band.start(), *band.end());
    let band_ok = if start == 0 {
        end == 0
    } else {
        start <= end && end <= 63 && count == 1
    };
    band_ok && low <= 13 && (high == 0 || low + 1 == high)
}
