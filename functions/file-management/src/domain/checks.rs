//! The checks every upload passes before it becomes available: size, declared versus stored
//! content type, and the real content (a PDF must start with `%PDF-`, end with `%%EOF` and parse
//! within bounds; images must carry their format's signature). Pure functions over the bytes.
//!
//! A PDF is untrusted input for a parser: small files can ask for gigabytes (compressed object
//! streams, object streams whose index points many objects at the same bytes) or hold a
//! million objects. [`parse_pdf`] bounds what lopdf may do: every stream it decodes while
//! loading is capped ([`PDF_MAX_STREAM_BYTES`]), all object streams together are capped
//! ([`PDF_MAX_OBJECT_STREAM_BYTES`]) and checked before lopdf expands them, objects are counted
//! ([`PDF_MAX_OBJECTS`]), nesting stops at lopdf's depth limit (100), and page contents are
//! never decoded. What these bounds cannot see (work lopdf repeats for a forged cross-reference
//! table) is bounded by running the parse in a child process with memory, CPU and wall-clock
//! limits (`outbound::pdf_sandbox`), which also keeps any parser panic or abort away from the
//! batch.

use std::cell::Cell;

use lopdf::{DecompressError, Document, LoadOptions, Object, ObjectId, Stream};
use sha2::{Digest, Sha256};

use super::error::FilesError;
use super::model::RejectReason;
use super::ports::PdfInspector;
use super::values::{ContentType, MAX_UPLOAD_BYTES};

/// Most objects a PDF may hold (top level and inside object streams). Long real reports hold a
/// few thousand.
pub const PDF_MAX_OBJECTS: usize = 100_000;
/// Most bytes any one stream may decode to while the document loads (object and
/// cross-reference streams).
pub const PDF_MAX_STREAM_BYTES: usize = 8 * 1024 * 1024;
/// Most bytes all object streams together may decode to.
pub const PDF_MAX_OBJECT_STREAM_BYTES: usize = 64 * 1024 * 1024;

/// What a passed upload is recorded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    pub size: u64,
    pub sha256: String,
}

/// Checks the size before anything is read: the limit first, then the declaration.
///
/// # Errors
/// The failed check.
pub fn check_size(actual: u64, declared: u64) -> Result<(), RejectReason> {
    if actual > MAX_UPLOAD_BYTES {
        return Err(RejectReason::TooLarge);
    }
    if actual != declared {
        return Err(RejectReason::SizeMismatch);
    }
    Ok(())
}

/// Checks a stored object against its declaration and hashes it. For a PDF this covers the
/// envelope of the file (`%PDF-`, `%%EOF`); [`parse_pdf`] checks its structure.
///
/// # Errors
/// The first failed check.
pub fn inspect(
    bytes: &[u8],
    stored_content_type: Option<&str>,
    declared: ContentType,
    declared_size: u64,
) -> Result<Inspected, RejectReason> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    check_size(size, declared_size)?;
    let stored = stored_content_type.and_then(|raw| ContentType::parse(raw).ok());
    if stored != Some(declared) {
        return Err(RejectReason::ContentTypeMismatch);
    }
    match declared {
        ContentType::Pdf => check_pdf_envelope(bytes)?,
        ContentType::Png => {
            if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                return Err(RejectReason::NotAnImage);
            }
        }
        ContentType::Jpeg => {
            if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
                return Err(RejectReason::NotAnImage);
            }
        }
    }
    Ok(Inspected {
        size,
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

fn check_pdf_envelope(bytes: &[u8]) -> Result<(), RejectReason> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(RejectReason::NotAPdf);
    }
    // A complete file ends with `%%EOF` (within the last kilobyte, as readers look for it); a
    // truncated one does not, even when a lenient parser could still recover objects from it.
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(RejectReason::CorruptPdf);
    }
    Ok(())
}

/// What one load has used of the bounds.
#[derive(Debug, Clone, Copy, Default)]
struct Budget {
    objects: usize,
    object_stream_bytes: usize,
    exceeded: bool,
}

thread_local! {
    // lopdf takes a plain `fn` as its object filter, so the budget of the load running on this
    // thread lives here. lopdf is built without its `rayon` feature: it loads on the calling
    // thread, which is what makes this count every object.
    static BUDGET: Cell<Budget> = const { Cell::new(Budget { objects: 0, object_stream_bytes: 0, exceeded: false }) };
}

/// Bytes an object stream decodes to, if it fits in `remaining` and its index is sound: at most
/// the objects left in the budget, the objects lopdf would parse at strictly increasing offsets
/// (so each is parsed from its own bytes, once). A stream lopdf cannot expand at all (undecodable,
/// no index) costs its decoded size and is left to lopdf, which skips it as damaged.
fn object_stream_cost(stream: &Stream, remaining: usize, objects_left: usize) -> Option<usize> {
    let content = match stream.get_plain_content_with_limit(remaining.min(PDF_MAX_STREAM_BYTES)) {
        Ok(content) => content,
        Err(lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. })) => return None,
        Err(_) => return Some(0),
    };
    let index = stream
        .dict
        .get(b"First")
        .and_then(Object::as_i64)
        .ok()
        .and_then(|first| usize::try_from(first).ok())
        .and_then(|first| content.get(..first))
        .and_then(|index| std::str::from_utf8(index).ok());
    let Some(index) = index else {
        return Some(content.len());
    };
    // Read as lopdf reads it: comments are white space, a pair with a non-number is skipped,
    // and so is an offset past the end.
    let numbers: Vec<Option<usize>> = index
        .split(['\r', '\n'])
        .flat_map(|line| {
            line.split('%')
                .next()
                .unwrap_or_default()
                .split_whitespace()
        })
        .map(|token| {
            token
                .parse::<u32>()
                .ok()
                .and_then(|n| usize::try_from(n).ok())
        })
        .collect();
    if numbers.len() / 2 > objects_left {
        return None;
    }
    let body = content.len() - index.len();
    let mut previous: Option<usize> = None;
    for pair in numbers.chunks_exact(2) {
        let (Some(_), Some(offset)) = (pair[0], pair[1]) else {
            continue;
        };
        if offset >= body {
            continue;
        }
        if previous.is_some_and(|p| offset <= p) {
            return None;
        }
        previous = Some(offset);
    }
    Some(content.len())
}

/// lopdf's object filter: counts objects and checks object streams before they are expanded;
/// once a bound is exceeded it keeps nothing more, so memory stays bounded whatever follows.
fn within_budget(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    let exceeded = BUDGET.with(|cell| {
        let mut budget = cell.get();
        budget.objects += 1;
        if budget.objects > PDF_MAX_OBJECTS {
            budget.exceeded = true;
        }
        if !budget.exceeded
            && let Object::Stream(stream) = &*object
            && stream.dict.has_type(b"ObjStm")
        {
            let remaining = PDF_MAX_OBJECT_STREAM_BYTES.saturating_sub(budget.object_stream_bytes);
            match object_stream_cost(stream, remaining, PDF_MAX_OBJECTS - budget.objects) {
                Some(bytes) => budget.object_stream_bytes += bytes,
                None => budget.exceeded = true,
            }
        }
        cell.set(budget);
        budget.exceeded
    });
    // lopdf keeps the object as filtered in place at the top level and the returned copy for
    // members of object streams, so both must be the object.
    (!exceeded).then(|| (id, object.clone()))
}

/// Parses a PDF within the bounds above and checks it has pages.
///
/// # Errors
/// `CorruptPdf` when it does not parse or has no page; `PdfTooComplex` when it exceeds a bound.
pub fn parse_pdf(bytes: &[u8]) -> Result<(), RejectReason> {
    BUDGET.with(|cell| cell.set(Budget::default()));
    let options = LoadOptions {
        max_decompressed_size: Some(PDF_MAX_STREAM_BYTES),
        filter: Some(within_budget),
        ..LoadOptions::default()
    };
    let loaded = Document::load_mem_with_options(bytes, options);
    if BUDGET.with(Cell::get).exceeded {
        return Err(RejectReason::PdfTooComplex);
    }
    let document = match loaded {
        Ok(document) => document,
        Err(lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. })) => {
            return Err(RejectReason::PdfTooComplex);
        }
        Err(_) => return Err(RejectReason::CorruptPdf),
    };
    if document.get_pages().is_empty() {
        return Err(RejectReason::CorruptPdf);
    }
    Ok(())
}

/// [`parse_pdf`] on the calling thread, for tests and tools: without the process limits of the
/// sandbox, so only for documents whose origin is known.
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcessPdfInspector;

impl PdfInspector for InProcessPdfInspector {
    async fn inspect_pdf(&self, bytes: &[u8]) -> Result<Result<(), RejectReason>, FilesError> {
        Ok(parse_pdf(bytes))
    }
}

/// A small valid one-page PDF (tests and sample uploads).
pub fn sample_pdf(text: &str) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};

    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 720.into()]),
            Operation::new("Tj", vec![Object::string_literal(text)]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        content.encode().unwrap_or_default(),
    ));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id,
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    if doc.save_to(&mut out).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8]) -> Result<Inspected, RejectReason> {
        let inspected = inspect(
            bytes,
            Some("application/pdf"),
            ContentType::Pdf,
            bytes.len() as u64,
        )?;
        parse_pdf(bytes)?;
        Ok(inspected)
    }

    #[test]
    fn a_real_pdf_passes_and_is_hashed() {
        let pdf = sample_pdf("hello");
        assert!(pdf.starts_with(b"%PDF-1.5"));
        let ok = check(&pdf).unwrap();
        assert_eq!(ok.size, pdf.len() as u64);
        assert_eq!(ok.sha256.len(), 64);
    }

    #[test]
    fn fakes_and_truncations_are_rejected() {
        assert_eq!(
            check(b"hello, I am a text file"),
            Err(RejectReason::NotAPdf)
        );
        let pdf = sample_pdf("hello");
        let truncated = &pdf[..pdf.len() / 2];
        assert_eq!(check(truncated), Err(RejectReason::CorruptPdf));
        let mut garbage = b"%PDF-1.7\n".to_vec();
        garbage.extend_from_slice(&[0u8; 64]);
        garbage.extend_from_slice(b"\n%%EOF\n");
        assert_eq!(check(&garbage), Err(RejectReason::CorruptPdf));
    }

    /// A one-page PDF (objects 1–3) followed by `extra` objects, with a classic xref table.
    fn pdf_with(extra: &[Vec<u8>]) -> Vec<u8> {
        let mut bodies: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>".to_vec(),
        ];
        bodies.extend_from_slice(extra);
        let mut out = b"%PDF-1.5\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", bodies.len() + 1).as_bytes(),
        );
        for offset in offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                bodies.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    /// An object stream object with this index and body, compressed.
    fn object_stream(index: &str, body: &[u8]) -> Vec<u8> {
        let mut content = index.as_bytes().to_vec();
        content.extend_from_slice(body);
        let mut stream = lopdf::Stream::new(lopdf::Dictionary::new(), content);
        stream.compress().unwrap();
        // lopdf leaves content it cannot shrink uncompressed.
        let filter = if stream.dict.get(b"Filter").is_ok() {
            "/Filter /FlateDecode"
        } else {
            ""
        };
        let mut object = format!(
            "<< /Type /ObjStm /N {} /First {} {filter} /Length {} >>\nstream\n",
            index.split_whitespace().count() / 2,
            index.len(),
            stream.content.len()
        )
        .into_bytes();
        object.extend_from_slice(&stream.content);
        object.extend_from_slice(b"\nendstream");
        object
    }

    #[test]
    fn a_sound_object_stream_passes() {
        let pdf = pdf_with(&[object_stream("5 0 6 5 ", b"(one) (two)")]);
        assert_eq!(parse_pdf(&pdf), Ok(()));
        assert_eq!(parse_pdf(&pdf_with(&[])), Ok(()));
    }

    #[test]
    fn a_compressed_bomb_is_refused_at_the_stream_bound() {
        let mut body = b"(".to_vec();
        body.resize(PDF_MAX_STREAM_BYTES + 1, b'A');
        body.push(b')');
        let pdf = pdf_with(&[object_stream("5 0 ", &body)]);
        assert!(pdf.len() < 64 * 1024, "{} bytes on the wire", pdf.len());
        let started = std::time::Instant::now();
        assert_eq!(parse_pdf(&pdf), Err(RejectReason::PdfTooComplex));
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn object_streams_together_are_bounded() {
        // Each stream alone is under the per-stream bound; together they are not.
        let mut body = b"(".to_vec();
        body.resize(PDF_MAX_STREAM_BYTES - 64, b'A');
        body.push(b')');
        let count = PDF_MAX_OBJECT_STREAM_BYTES / PDF_MAX_STREAM_BYTES + 1;
        let streams: Vec<Vec<u8>> = (0..count)
            .map(|i| object_stream(&format!("{} 0 ", 100 + i), &body))
            .collect();
        assert_eq!(
            parse_pdf(&pdf_with(&streams)),
            Err(RejectReason::PdfTooComplex)
        );
    }

    #[test]
    fn an_object_stream_index_that_repeats_its_bytes_is_refused() {
        // 20,000 objects that would each be parsed from the same 100 kB.
        let index: String = (0..20_000).map(|i| format!("{} 0 ", 100 + i)).collect();
        let mut body = b"(".to_vec();
        body.resize(100 * 1024, b'A');
        body.push(b')');
        let pdf = pdf_with(&[object_stream(&index, &body)]);
        assert_eq!(parse_pdf(&pdf), Err(RejectReason::PdfTooComplex));
    }

    #[test]
    fn object_counts_are_bounded() {
        let nulls = vec![b"null".to_vec(); PDF_MAX_OBJECTS];
        assert_eq!(
            parse_pdf(&pdf_with(&nulls)),
            Err(RejectReason::PdfTooComplex)
        );
        let index: String = (0..PDF_MAX_OBJECTS)
            .map(|i| format!("{} {} ", 10 + i, i * 5))
            .collect();
        let body = "null ".repeat(PDF_MAX_OBJECTS);
        let pdf = pdf_with(&[object_stream(&index, body.as_bytes())]);
        assert_eq!(parse_pdf(&pdf), Err(RejectReason::PdfTooComplex));
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack() {
        let mut catalog = b"<< /Type /Catalog /Pages 2 0 R /Deep ".to_vec();
        catalog.extend(std::iter::repeat_n(b'[', 100_000));
        catalog.extend(std::iter::repeat_n(b']', 100_000));
        catalog.extend_from_slice(b" >>");
        let mut pdf = pdf_with(&[]);
        let at = pdf.windows(8).position(|w| w == b"<< /Type").unwrap();
        let end = at + pdf[at..].windows(2).position(|w| w == b">>").unwrap() + 2;
        pdf.splice(at..end, catalog);
        assert!(parse_pdf(&pdf).is_err());
    }

    #[test]
    fn sizes_and_types_are_compared_with_the_declaration() {
        let pdf = sample_pdf("x");
        assert_eq!(
            inspect(&pdf, Some("application/pdf"), ContentType::Pdf, 3),
            Err(RejectReason::SizeMismatch)
        );
        assert_eq!(
            inspect(&pdf, Some("text/plain"), ContentType::Pdf, pdf.len() as u64),
            Err(RejectReason::ContentTypeMismatch)
        );
        assert_eq!(
            check_size(MAX_UPLOAD_BYTES + 1, 10),
            Err(RejectReason::TooLarge)
        );
        assert_eq!(
            inspect(
                b"\x89PNG\r\n\x1a\nrest",
                Some("image/png"),
                ContentType::Png,
                12
            )
            .map(|i| i.size),
            Ok(12)
        );
        assert_eq!(
            inspect(b"GIF89a", Some("image/jpeg"), ContentType::Jpeg, 6),
            Err(RejectReason::NotAnImage)
        );
    }
}
