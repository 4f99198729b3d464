//! The ToUnicode CMap: which characters each two-byte code stands for, so text extraction
//! (search, copy, `pdftotext`) gives back the characters rather than glyph ids.

use std::fmt::Write;

/// Mappings per `beginbfchar` block: the format allows no more.
const BLOCK: usize = 100;

const HEADER: &str = "/CIDInit /ProcSet findresource begin\n\
12 dict begin\n\
begincmap\n\
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
/CMapName /Adobe-Identity-UCS def\n\
/CMapType 2 def\n\
1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n";

const FOOTER: &str = "endcmap\n\
CMapName currentdict /CMap defineresource pop\n\
end\n\
end\n";

/// The CMap for codes `0..chars.len()`, code `i` standing for `chars[i]` (none: left out).
pub(super) fn to_unicode_cmap(chars: &[Option<char>]) -> Vec<u8> {
    let mapped: Vec<(usize, char)> = chars
        .iter()
        .enumerate()
        .filter_map(|(code, ch)| ch.map(|ch| (code, ch)))
        .collect();
    let mut cmap = String::from(HEADER);
    for block in mapped.chunks(BLOCK) {
        let _ = writeln!(cmap, "{} beginbfchar", block.len());
        for &(code, ch) in block {
            let _ = write!(cmap, "<{code:04X}> <");
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                let _ = write!(cmap, "{unit:04X}");
            }
            cmap.push_str(">\n");
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str(FOOTER);
    cmap.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::to_unicode_cmap;

    #[test]
    fn codes_map_to_utf16_in_blocks_of_at_most_a_hundred() {
        let mut chars = vec![None, Some('S'), Some('ã'), Some('😀')];
        chars.extend(std::iter::repeat_n(Some('a'), 120));
        let cmap = String::from_utf8(to_unicode_cmap(&chars)).unwrap();
        assert!(
            cmap.contains("100 beginbfchar\n<0001> <0053>\n<0002> <00E3>\n<0003> <D83DDE00>\n")
        );
        assert!(cmap.contains("23 beginbfchar\n"));
        assert!(cmap.ends_with("end\nend\n"));
    }
}
