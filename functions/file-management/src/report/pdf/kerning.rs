//! Pair kerning from the font's `kern` table, so letter pairs such as "Lu" or "Ra" sit as the
//! designer spaced them (and as they were set before the report had its own writer).

use std::collections::HashMap;

use skrifa::raw::TableProvider;
use skrifa::raw::tables::kern::{Subtable0, SubtableKind};
use skrifa::{FontRef, GlyphId};

pub(super) struct PairKerning {
    subtables: Vec<Subtable0<'static>>,
    /// Pairs already looked up: a report repeats the same few pairs on every row.
    known: HashMap<(u16, u16), i32>,
}

impl PairKerning {
    /// The horizontal pair subtables of `font`'s `kern` table; none when it has no such table.
    pub(super) fn new(font: &FontRef<'static>) -> Self {
        let subtables = font
            .kern()
            .map(|kern| {
                kern.subtables()
                    .filter_map(Result::ok)
                    .filter(|s| s.is_horizontal() && !s.is_cross_stream() && !s.is_variable())
                    .filter_map(|s| match s.kind() {
                        Ok(SubtableKind::Format0(pairs)) => Some(pairs),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            subtables,
            known: HashMap::new(),
        }
    }

    /// The adjustment between glyphs `left` and `right`, in font units (negative: closer).
    pub(super) fn between(&mut self, left: u16, right: u16) -> i32 {
        if self.subtables.is_empty() {
            return 0;
        }
        let subtables = &self.subtables;
        *self.known.entry((left, right)).or_insert_with(|| {
            subtables
                .iter()
                .filter_map(|s| s.kerning(GlyphId::from(left), GlyphId::from(right)))
                .sum()
        })
    }
}
