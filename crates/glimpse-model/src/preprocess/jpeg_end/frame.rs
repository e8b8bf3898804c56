//! The frame (SOF segment): the image's size, its components, and what the scans so far have
//! coded of each.

use std::ops::RangeInclusive;

/// No coefficient bits coded yet.
const NOT_CODED: i8 = -1;

/// Most times the scans may visit each block, on average. libjpeg's progressive script visits
/// a block 4–6 times; a crafted file of a few hundred thousand tiny scans (refining each
/// coefficient one bit at a time) would otherwise make the walk take minutes.
const MAX_VISITS_PER_BLOCK: usize = 64;

pub(super) struct Component {
    pub(super) id: u8,
    /// Sampling factors, 1–4.
    pub(super) h: usize,
    pub(super) v: usize,
    /// For each coefficient (zigzag order): the lowest bit its scans have coded so far (the
    /// successive approximation's Al), or `NOT_CODED`. A whole image has 0 everywhere.
    levels: [i8; 64],
    /// One bit per coefficient of each block, row by row: nonzero after the scans so far. A
    /// refinement scan codes a correction bit for each nonzero coefficient, so reading one
    /// needs this history. Empty until the component's first AC scan.
    pub(super) nonzero: Vec<u64>,
}

pub(super) struct Frame {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) progressive: bool,
    pub(super) components: Vec<Component>,
    /// Block visits the scans still may make (see `MAX_VISITS_PER_BLOCK`).
    visits_left: usize,
}

impl Frame {
    /// A start-of-frame segment: precision, height, width, then (id, H·16 + V, table) per
    /// component. `None` for frames over `max_pixels`: the decoder refused those already, and
    /// the walk's memory (8 bytes a block, partial blocks included, for each of at most four
    /// components) stays in proportion to the pixels.
    pub(super) fn parse(segment: &[u8], progressive: bool, max_pixels: u64) -> Option<Frame> {
        let height = usize::from(u16::from_be_bytes([*segment.get(1)?, *segment.get(2)?]));
        let width = usize::from(u16::from_be_bytes([*segment.get(3)?, *segment.get(4)?]));
        let count = usize::from(*segment.get(5)?);
        if !(1..=4).contains(&count) {
            return None; // grey, YCbCr or CMYK: the decoder takes no other
        }
        let components = (0..count)
            .map(|i| {
                let spec = segment.get(6 + 3 * i..9 + 3 * i)?;
                let (h, v) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 15));
                ((1..=4).contains(&h) && (1..=4).contains(&v)).then_some(Component {
                    id: spec[0],
                    h,
                    v,
                    levels: [NOT_CODED; 64],
                    nonzero: Vec::new(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        // A height of 0 comes later in a DNL segment: too rare to follow. Repeated component
        // ids (some encoders write them) would make a scan's components ambiguous.
        let unique = (1..count).all(|i| components[..i].iter().all(|c| c.id != components[i].id));
        let pixels = u64::try_from(width * height).ok()?; // < 2³²: both are below 2¹⁶
        let fits = width > 0 && height > 0 && pixels <= max_pixels;
        if !(fits && unique) {
            return None;
        }
        let mut frame = Frame {
            width,
            height,
            progressive,
            components,
            visits_left: 0,
        };
        let blocks_per_mcu: usize = frame.components.iter().map(|c| c.h * c.v).sum();
        frame.visits_left = (MAX_VISITS_PER_BLOCK * blocks_per_mcu).saturating_mul(frame.mcus());
        Some(frame)
    }

    /// Takes `visits` block visits from the budget; `None` once it is spent.
    pub(super) fn visit(&mut self, visits: usize) -> Option<()> {
        self.visits_left = self.visits_left.checked_sub(visits)?;
        Some(())
    }

    pub(super) fn max_sampling(&self) -> (usize, usize) {
        let h = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        (h, v)
    }

    /// A component's own blocks (columns, rows): what a scan of it alone holds (A.2.2).
    pub(super) fn block_grid(&self, index: usize) -> (usize, usize) {
        let (h_max, v_max) = self.max_sampling();
        let c = &self.components[index];
        let columns = (self.width * c.h).div_ceil(h_max).div_ceil(8);
        let rows = (self.height * c.v).div_ceil(v_max).div_ceil(8);
        (columns, rows)
    }

    /// MCUs of an interleaved scan (A.2.3).
    pub(super) fn mcus(&self) -> usize {
        let (h_max, v_max) = self.max_sampling();
        self.width.div_ceil(8 * h_max) * self.height.div_ceil(8 * v_max)
    }

    /// Records a scan of `band` down to bit `low`, refining from bit `high` (0: a first scan),
    /// as G.1.1.1.1 allows it: a first scan of coefficients never coded, a refinement of
    /// exactly the bit above, DC before AC. `None` for anything else (no judgement then).
    pub(super) fn record(
        &mut self,
        index: usize,
        band: RangeInclusive<usize>,
        high: u8,
        low: u8,
    ) -> Option<()> {
        let levels = &mut self.components[index].levels;
        if *band.start() > 0 && levels[0] == NOT_CODED {
            return None;
        }
        let expected = if high == 0 {
            NOT_CODED
        } else {
            i8::try_from(high).ok()?
        };
        for level in levels.get_mut(band)? {
            if *level != expected {
                return None;
            }
            *level = i8::try_from(low).ok()?;
        }
        Some(())
    }

    /// Every coefficient of every component coded down to its last bit.
    pub(super) fn complete(&self) -> bool {
        self.components.iter().all(|c| c.levels.iter().all(|&l| l == 0))
    }

    /// The nonzero history of a component's blocks, made on its first AC scan.
    pub(super) fn nonzero_mut(&mut self, index: usize) -> &mut [u64] {
        let (columns, rows) = self.block_grid(index);
        let nonzero = &mut self.components[index].nonzero;
        if nonzero.is_empty() {
            *nonzero = vec![0; columns * rows];
        }
        nonzero
    }
}
