//! Reading past one block's codes in each kind of scan (Annex F for sequential, G.1.2 for
//! progressive): what is read, never what it means, except the nonzero history a refinement
//! needs. Each returns `None` for codes no encoder writes.

use std::ops::RangeInclusive;

use super::bits::Bits;
use super::huffman::Huffman;

/// A sequential block: a DC difference and up to 63 AC coefficients.
pub(super) fn sequential(bits: &mut Bits, dc: &Huffman, ac: &Huffman) -> Option<()> {
    dc_difference(bits, dc)?;
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
            bits.get(u32::from(size));
            k += usize::from(run) + 1;
        }
    }
    Some(())
}

/// A DC difference (a sequential block's first code, or a progressive DC scan's): its size,
/// then that many bits.
pub(super) fn dc_difference(bits: &mut Bits, dc: &Huffman) -> Option<()> {
    let size = dc.decode(bits)?;
    if size > 16 {
        return None;
    }
    bits.get(u32::from(size));
    Some(())
}

/// An AC scan's table and band (zigzag positions, 63 at most: `Scan::parse` checks, so
/// `1 << k` fits a u64), and the end-of-band run it is in.
pub(super) struct AcBand<'t> {
    ac: &'t Huffman,
    start: usize,
    end: usize,
    /// Blocks of the run still to read: after this one in first scans; with this one in
    /// refinements (as in libjpeg: a run's blocks have only correction bits, so the block that
    /// reads the run's code reads the rest of its band as theirs). Reset at each restart.
    pub(super) end_of_band: u32,
}

impl<'t> AcBand<'t> {
    pub(super) fn new(ac: &'t Huffman, band: &RangeInclusive<usize>) -> AcBand<'t> {
        AcBand {
            ac,
            start: *band.start(),
            end: *band.end(),
            end_of_band: 0,
        }
    }

    /// A block of a first scan: coefficients as (zero run, size) codes, or a run of blocks with
    /// nothing left in the band.
    pub(super) fn first(&mut self, bits: &mut Bits, nonzero: &mut u64) -> Option<()> {
        if self.end_of_band > 0 {
            self.end_of_band -= 1;
            return Some(());
        }
        let mut k = self.start;
        while k <= self.end {
            let run_size = self.ac.decode(bits)?;
            let (run, size) = (u32::from(run_size >> 4), u32::from(run_size & 15));
            if size == 0 {
                if run < 15 {
                    self.end_of_band = (1 << run) - 1 + bits.get(run);
                    break;
                }
                k += 16;
            } else {
                k += run as usize;
                if k > self.end {
                    return None;
                }
                bits.get(size);
                *nonzero |= 1 << k;
                k += 1;
            }
        }
        Some(())
    }

    /// A block of a refinement scan: a correction bit for each coefficient already nonzero,
    /// and newly nonzero coefficients (±1) placed by counting zero ones (G.1.2.3).
    pub(super) fn refine(&mut self, bits: &mut Bits, nonzero: &mut u64) -> Option<()> {
        let mut k = self.start;
        while self.end_of_band == 0 && k <= self.end {
            let run_size = self.ac.decode(bits)?;
            let (mut run, size) = (run_size >> 4, run_size & 15);
            if size == 0 && run < 15 {
                self.end_of_band = (1 << run) + bits.get(u32::from(run));
                break;
            }
            if size > 1 {
                return None;
            }
            bits.get(u32::from(size)); // the new coefficient's sign
            // Past nonzero coefficients (a correction bit each) and `run` zero ones: k stops
            // on the zero coefficient that becomes nonzero (or, for 16 zeros, the 16th).
            while k <= self.end {
                if *nonzero & (1 << k) != 0 {
                    bits.get(1);
                } else if run == 0 {
                    break;
                } else {
                    run -= 1;
                }
                k += 1;
            }
            if size == 1 {
                if k > self.end {
                    return None;
                }
                *nonzero |= 1 << k;
            }
            k += 1;
        }
        if self.end_of_band > 0 {
            // Nothing new in the rest of the band: only correction bits.
            for k in k..=self.end {
                if *nonzero & (1 << k) != 0 {
                    bits.get(1);
                }
            }
            self.end_of_band -= 1;
        }
        Some(())
    }
}
