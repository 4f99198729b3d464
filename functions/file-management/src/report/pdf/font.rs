//! The embedded fonts: DejaVu Sans Condensed (regular and bold) as Type0 fonts with Identity-H
//! encoding, so every glyph is a two-byte code (its id in the subset) and any character the font
//! covers can be set.
//!
//! Glyphs get their subset ids the first time a page uses them, which keeps the ids already
//! written in earlier pages valid; the font objects, which need the final glyph set (the subset
//! program, the widths, the ToUnicode map that keeps text extractable), are written at the end.

use std::collections::HashMap;

use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::TableProvider;
use skrifa::string::StringId;
use skrifa::{FontRef, MetadataProvider};
use subsetter::GlyphRemapper;

use super::super::RenderError;
use super::kerning::PairKerning;
use super::syntax::{literal_bytes, number};
use super::to_unicode::to_unicode_cmap;
use super::writer::{ObjectId, PdfWriter};

/// Glyph space in a CID font is a thousandth of the em, whatever the font's own units.
const GLYPH_SPACE: f32 = 1000.0;

/// The two faces a report uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Face {
    Regular,
    Bold,
}

impl Face {
    /// The font's name in the pages' resources.
    pub(super) fn resource_name(self) -> &'static str {
        match self {
            Face::Regular => "F1",
            Face::Bold => "F2",
        }
    }
}

pub(super) struct Fonts {
    regular: EmbeddedFont,
    bold: EmbeddedFont,
}

impl Fonts {
    pub(super) fn dejavu_sans_condensed() -> Result<Self, RenderError> {
        Ok(Self {
            regular: EmbeddedFont::new(dejavu::sans_condensed::regular())?,
            bold: EmbeddedFont::new(dejavu::sans_condensed::bold())?,
        })
    }

    pub(super) fn get_mut(&mut self, face: Face) -> &mut EmbeddedFont {
        match face {
            Face::Regular => &mut self.regular,
            Face::Bold => &mut self.bold,
        }
    }

    /// Writes each face's objects, the Type0 font at the id the pages' resources name.
    pub(super) fn write(
        &self,
        writer: &mut PdfWriter,
        regular: ObjectId,
        bold: ObjectId,
    ) -> Result<(), RenderError> {
        self.regular.write(writer, regular)?;
        self.bold.write(writer, bold)
    }
}

pub(super) struct EmbeddedFont {
    data: &'static [u8],
    font: FontRef<'static>,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
    /// Font glyph id → subset glyph id (also the code written in the pages).
    subset: GlyphRemapper,
    /// By subset id: the advance in glyph space.
    widths: Vec<f32>,
    /// By subset id: the character the glyph was first used for (none for `.notdef`).
    chars: Vec<Option<char>>,
    /// Character → (subset id, font glyph id), so each character is looked up in the font once.
    glyphs: HashMap<char, (u16, u16)>,
    kerning: PairKerning,
}

impl EmbeddedFont {
    fn new(data: &'static [u8]) -> Result<Self, RenderError> {
        let font = FontRef::new(data)
            .map_err(|e| RenderError::Pdf(format!("embedded font unreadable: {e}")))?;
        let metrics = font.glyph_metrics(Size::unscaled(), LocationRef::default());
        let units_per_em = f32::from(
            font.metrics(Size::unscaled(), LocationRef::default())
                .units_per_em
                .max(1),
        );
        let notdef_width = metrics.advance_width(0u32.into()).unwrap_or(0.0);
        Ok(Self {
            data,
            kerning: PairKerning::new(&font),
            charmap: font.charmap(),
            font,
            metrics,
            units_per_em,
            subset: GlyphRemapper::new(),
            widths: vec![notdef_width * GLYPH_SPACE / units_per_em],
            chars: vec![None],
            glyphs: HashMap::new(),
        })
    }

    /// Appends `text` as the operand of `TJ`: two-byte codes in literal strings, split where a
    /// kerning pair moves the next glyph.
    pub(super) fn encode(&mut self, text: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"[(");
        let mut previous = None;
        for ch in text.chars() {
            let (code, glyph) = self.glyph(ch);
            if let Some(left) = previous {
                let kern = self.kerning.between(left, glyph);
                if kern != 0 {
                    // The operand counts thousandths of the em, positive to the left.
                    out.push(b')');
                    number(out, -(kern as f32) * GLYPH_SPACE / self.units_per_em);
                    out.push(b'(');
                }
            }
            literal_bytes(out, &code.to_be_bytes());
            previous = Some(glyph);
        }
        out.extend_from_slice(b")]");
    }

    /// The subset id and font glyph id `ch` is drawn with.
    fn glyph(&mut self, ch: char) -> (u16, u16) {
        if let Some(&known) = self.glyphs.get(&ch) {
            return known;
        }
        // A character the font lacks is drawn as `.notdef` (code 0).
        let glyph = self
            .charmap
            .map(ch)
            .and_then(|id| u16::try_from(id.to_u32()).ok())
            .unwrap_or(0);
        let code = self.subset.remap(glyph);
        if usize::from(code) == self.widths.len() {
            let advance = self.metrics.advance_width(u32::from(glyph).into());
            self.widths
                .push(advance.unwrap_or(0.0) * GLYPH_SPACE / self.units_per_em);
            self.chars.push(Some(ch));
        }
        self.glyphs.insert(ch, (code, glyph));
        (code, glyph)
    }

    fn write(&self, writer: &mut PdfWriter, type0: ObjectId) -> Result<(), RenderError> {
        let program = subsetter::subset(self.data, 0, &self.subset)
            .map_err(|e| RenderError::Pdf(format!("font subset: {e:?}")))?;
        let name = format!("{}+{}", self.subset_tag(), self.postscript_name());
        let cid_font = writer.reserve()?;
        let descriptor = writer.reserve()?;
        let file = writer.reserve()?;
        let to_unicode = writer.reserve()?;

        writer.object(
            type0,
            format!(
                "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
                 /DescendantFonts [{}] /ToUnicode {} >>",
                cid_font.reference(),
                to_unicode.reference()
            )
            .as_bytes(),
        )?;
        writer.object(cid_font, &self.cid_font_dict(&name, descriptor))?;
        writer.object(descriptor, &self.descriptor_dict(&name, file, &program))?;
        writer.deflated_stream(file, &format!("/Length1 {}", program.len()), &program)?;
        writer.deflated_stream(to_unicode, "", &to_unicode_cmap(&self.chars))
    }

    fn cid_font_dict(&self, name: &str, descriptor: ObjectId) -> Vec<u8> {
        let mut dict = format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
             /FontDescriptor {} /CIDToGIDMap /Identity /DW 0 /W [0 [",
            descriptor.reference()
        )
        .into_bytes();
        for (i, &width) in self.widths.iter().enumerate() {
            if i > 0 {
                dict.push(b' ');
            }
            number(&mut dict, width);
        }
        dict.extend_from_slice(b"]] >>");
        dict
    }

    /// `program` is the subset: its bounding box covers the glyphs used only.
    fn descriptor_dict(&self, name: &str, file: ObjectId, program: &[u8]) -> Vec<u8> {
        let metrics = self.font.metrics(Size::unscaled(), LocationRef::default());
        let scale = GLYPH_SPACE / self.units_per_em;
        let bounds = FontRef::new(program)
            .ok()
            .and_then(|subset| {
                subset
                    .metrics(Size::unscaled(), LocationRef::default())
                    .bounds
            })
            .or(metrics.bounds)
            .map_or([0.0; 4], |b| {
                [b.x_min, b.y_min, b.x_max, b.y_max].map(|v| v * scale)
            });
        // The typographic ascent and descent (OS/2) rather than the line-spacing ones (hhea):
        // they are what the design's em box holds, and what text extraction measures lines by.
        let os2 = self.font.os2().ok();
        let ascent = os2
            .as_ref()
            .map_or(metrics.ascent, |t| f32::from(t.s_typo_ascender()));
        let descent = os2
            .as_ref()
            .map_or(metrics.descent, |t| f32::from(t.s_typo_descender()));
        // The usual estimate of the dominant stem width from the weight class.
        let stem_v = 10.0 + 0.244 * (self.font.attributes().weight.value() - 50.0);
        let mut dict =
            format!("<< /Type /FontDescriptor /FontName /{name} /Flags 4 /FontBBox [").into_bytes();
        for (i, value) in bounds.into_iter().enumerate() {
            if i > 0 {
                dict.push(b' ');
            }
            number(&mut dict, value);
        }
        let fields = [
            ("ItalicAngle", metrics.italic_angle),
            ("Ascent", ascent * scale),
            ("Descent", descent * scale),
            ("CapHeight", metrics.cap_height.unwrap_or(ascent) * scale),
            ("StemV", stem_v),
        ];
        dict.push(b']');
        for (key, value) in fields {
            dict.extend_from_slice(format!(" /{key} ").as_bytes());
            number(&mut dict, value);
        }
        dict.extend_from_slice(format!(" /FontFile2 {} >>", file.reference()).as_bytes());
        dict
    }

    /// The font's PostScript name, kept to the characters a PDF name may hold unescaped.
    fn postscript_name(&self) -> String {
        let name: String = self
            .font
            .localized_strings(StringId::POSTSCRIPT_NAME)
            .english_or_first()
            .map(|s| {
                s.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect()
            })
            .unwrap_or_default();
        if name.is_empty() {
            "DejaVuSansCondensed".to_string()
        } else {
            name
        }
    }

    /// Six capital letters that differ between subsets of the same font, as the format asks of
    /// a subset's name; derived from the glyph set so the same report gives the same file.
    fn subset_tag(&self) -> String {
        // FNV-1a: stable across builds, unlike the standard library's hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for glyph in self.subset.remapped_gids() {
            for byte in glyph.to_be_bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        (0..6)
            .map(|_| {
                let letter = char::from(b'A' + (hash % 26) as u8);
                hash /= 26;
                letter
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_get_codes_in_order_of_first_use() {
        let mut font = EmbeddedFont::new(dejavu::sans_condensed::regular()).unwrap();
        let mut out = Vec::new();
        font.encode("São", &mut out);
        font.encode("oS", &mut out);
        assert_eq!(out, b"[(\0\x01\0\x02\0\x03)][(\0\x03\0\x01)]");
        assert_eq!(font.chars, [None, Some('S'), Some('ã'), Some('o')]);
        assert!(font.widths.iter().skip(1).all(|&w| w > 300.0 && w < 800.0));
    }

    #[test]
    fn kerning_pairs_split_the_run() {
        let mut font = EmbeddedFont::new(dejavu::sans_condensed::regular()).unwrap();
        let mut out = Vec::new();
        font.encode("Lu", &mut out);
        // 36 font units closer, of 2048 to the em.
        assert_eq!(out, b"[(\0\x01)17.58(\0\x02)]");
    }

    #[test]
    fn a_character_the_font_lacks_is_notdef() {
        let mut font = EmbeddedFont::new(dejavu::sans_condensed::regular()).unwrap();
        let mut out = Vec::new();
        font.encode("\u{E000}", &mut out);
        assert_eq!(out, b"[(\0\0)]");
        assert_eq!(font.chars, [None]);
    }
}
