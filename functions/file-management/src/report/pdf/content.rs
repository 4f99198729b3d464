//! One page's content stream: text runs and rules in the layout's coordinates (points from the
//! top-left corner, y downwards, text placed by its baseline), turned into PDF operators
//! (origin bottom-left, y upwards) and compressed when the page is done.

use super::font::{Face, Fonts};
use super::syntax::number;

/// A gray for rules, in RGB components from 0 to 1.
const RULE_GRAY: f32 = 120.0 / 255.0;

pub(super) struct PageContent {
    height: f32,
    ops: Vec<u8>,
    /// The font and size last set: rows repeat them, so they are set once per run of them.
    current: Option<(Face, f32)>,
}

impl PageContent {
    pub(super) fn new(height: f32) -> Self {
        Self {
            height,
            ops: Vec::with_capacity(64 * 1024),
            current: None,
        }
    }

    /// Sets `value` in `face` at `size` points, its baseline starting at (`x`, `y`).
    pub(super) fn text(
        &mut self,
        fonts: &mut Fonts,
        face: Face,
        size: f32,
        x: f32,
        y: f32,
        value: &str,
    ) {
        if value.is_empty() {
            return;
        }
        self.ops.extend_from_slice(b"BT\n");
        if self.current != Some((face, size)) {
            self.ops.push(b'/');
            self.ops.extend_from_slice(face.resource_name().as_bytes());
            self.ops.push(b' ');
            number(&mut self.ops, size);
            self.ops.extend_from_slice(b" Tf\n");
            self.current = Some((face, size));
        }
        number(&mut self.ops, x);
        self.ops.push(b' ');
        number(&mut self.ops, self.height - y);
        self.ops.extend_from_slice(b" Td\n");
        fonts.get_mut(face).encode(value, &mut self.ops);
        self.ops.extend_from_slice(b" TJ\nET\n");
    }

    /// A horizontal rule from `x0` to `x1` at `y`, `width` points thick.
    pub(super) fn rule(&mut self, x0: f32, x1: f32, y: f32, width: f32) {
        let y = self.height - y;
        for _ in 0..3 {
            number(&mut self.ops, RULE_GRAY);
            self.ops.push(b' ');
        }
        self.ops.extend_from_slice(b"RG ");
        number(&mut self.ops, width);
        self.ops.extend_from_slice(b" w ");
        for (px, py, op) in [(x0, y, b"m\n"), (x1, y, b"l\n")] {
            number(&mut self.ops, px);
            self.ops.push(b' ');
            number(&mut self.ops, py);
            self.ops.push(b' ');
            self.ops.extend_from_slice(op);
        }
        self.ops.extend_from_slice(b"S\n");
    }

    /// The operators, to be written as the page's contents.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.ops
    }
}
