//! The checks every upload passes before it becomes available: size, declared versus stored
//! content type, and the real content (a PDF must start with `%PDF-`, end with `%%EOF` and parse;
//! images must carry their format's signature). Pure functions over the bytes.

use sha2::{Digest, Sha256};

use super::model::RejectReason;
use super::values::{ContentType, MAX_UPLOAD_BYTES};

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

/// Checks a stored object against its declaration and hashes it.
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
        ContentType::Pdf => check_pdf(bytes)?,
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

fn check_pdf(bytes: &[u8]) -> Result<(), RejectReason> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(RejectReason::NotAPdf);
    }
    // A complete file ends with `%%EOF` (within the last kilobyte, as readers look for it); a
    // truncated one does not, even when a lenient parser could still recover objects from it.
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(RejectReason::CorruptPdf);
    }
    let document = lopdf::Document::load_mem(bytes).map_err(|_| RejectReason::CorruptPdf)?;
    if document.get_pages().is_empty() {
        return Err(RejectReason::CorruptPdf);
    }
    Ok(())
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
        inspect(
            bytes,
            Some("application/pdf"),
            ContentType::Pdf,
            bytes.len() as u64,
        )
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
