//! Hand-built PDFs for the upload checks: a minimal valid one, and "bombs" that are small on the
//! wire but ask a parser for unbounded memory or time.

/// A PDF whose objects 1, 2, … are `bodies` in order, with a classic cross-reference table.
/// Objects 1–3 of [`base`] make it a one-page document.
pub fn assemble(bodies: &[Vec<u8>]) -> Vec<u8> {
    assemble_with_xref(bodies, &[])
}

/// Like [`assemble`], with extra cross-reference entries: `(object number, offset of the
/// object at that index)`.
pub fn assemble_with_xref(bodies: &[Vec<u8>], extra: &[(usize, usize)]) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let size = bodies.len() + 1 + extra.len();
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", bodies.len() + 1).as_bytes(),
    );
    for offset in &offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    if let Some(&(first, _)) = extra.first() {
        out.extend_from_slice(format!("{first} {}\n", extra.len()).as_bytes());
        for &(_, index) in extra {
            out.extend_from_slice(format!("{:010} 00000 n \n", offsets[index]).as_bytes());
        }
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

/// Catalog, page tree and one page.
pub fn base() -> Vec<Vec<u8>> {
    vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>".to_vec(),
    ]
}

/// A stream object body compressed with FlateDecode.
fn flate_stream(dictionary: &str, content: Vec<u8>) -> Vec<u8> {
    let mut stream = lopdf::Stream::new(lopdf::Dictionary::new(), content);
    stream.compress().expect("compress");
    assert!(
        stream.dict.get(b"Filter").is_ok(),
        "content too small to compress"
    );
    let mut body = format!(
        "<< {dictionary} /Filter /FlateDecode /Length {} >>\nstream\n",
        stream.content.len()
    )
    .into_bytes();
    body.extend_from_slice(&stream.content);
    body.extend_from_slice(b"\nendstream");
    body
}

/// An object stream that inflates from a few kilobytes to `inflated` bytes.
pub fn compressed_bomb(inflated: usize) -> Vec<u8> {
    let mut content = b"5 0 (".to_vec();
    content.resize(inflated, b'A');
    content.push(b')');
    let mut bodies = base();
    bodies.push(flate_stream("/Type /ObjStm /N 1 /First 4", content));
    assemble(&bodies)
}

/// `count` objects besides the page tree.
pub fn many_objects(count: usize) -> Vec<u8> {
    let mut bodies = base();
    bodies.extend(std::iter::repeat_n(b"null".to_vec(), count));
    assemble(&bodies)
}

/// A catalog holding arrays nested `depth` deep.
pub fn deeply_nested(depth: usize) -> Vec<u8> {
    let mut bodies = base();
    let mut catalog = b"<< /Type /Catalog /Pages 2 0 R /Deep ".to_vec();
    catalog.extend(std::iter::repeat_n(b'[', depth));
    catalog.extend(std::iter::repeat_n(b']', depth));
    catalog.extend_from_slice(b" >>");
    bodies[0] = catalog;
    assemble(&bodies)
}

/// A large string object that `entries` cross-reference entries all point at: a parser that
/// reads each entry re-reads the same megabytes again and again.
pub fn repeated_references(string_bytes: usize, entries: usize) -> Vec<u8> {
    let mut bodies = base();
    let mut big = b"(".to_vec();
    big.resize(string_bytes, b'B');
    big.push(b')');
    bodies.push(big);
    let first = bodies.len() + 1;
    let extra: Vec<(usize, usize)> = (0..entries).map(|i| (first + i, 3)).collect();
    assemble_with_xref(&bodies, &extra)
}
