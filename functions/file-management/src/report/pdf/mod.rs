//! The PDF report: A4 landscape pages with a title, the filters, a table whose header repeats on
//! every page, and a footer with "Page n of N" and the generated-at stamp. Text is set in DejaVu
//! Sans Condensed embedded from the `dejavu` crate (subset to the glyphs used), so it stays
//! extractable and covers Portuguese names.
//!
//! Rows are spooled to a local JSON-lines file first: only then is N known. The layout then runs
//! over the spool and each page goes to the file as soon as it is laid out, so memory holds one
//! page and the glyphs used so far, whatever the row count.
//!
//! The file is written here rather than by a PDF library, which would hold the whole document
//! until the end: `writer` knows the file format, `document` the objects and their order,
//! `layout` where things go on a page, `content` the page operators, `font` and `to_unicode` the
//! embedded fonts.

mod content;
mod document;
mod font;
mod kerning;
mod layout;
mod syntax;
mod to_unicode;
mod writer;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{RenderError, ReportMeta, RowSink};
use crate::domain::ReportRow;

pub(super) struct PdfSink {
    spool: BufWriter<File>,
    spool_path: PathBuf,
    output: PathBuf,
    meta: ReportMeta,
    rows: u64,
}

impl PdfSink {
    pub(super) fn new(
        output: &Path,
        work_dir: &Path,
        meta: ReportMeta,
    ) -> Result<Self, RenderError> {
        let spool_path = work_dir.join(format!("report-{}.rows.jsonl", meta.report_id));
        Ok(Self {
            spool: BufWriter::new(File::create(&spool_path)?),
            spool_path,
            output: output.to_path_buf(),
            meta,
            rows: 0,
        })
    }
}

impl RowSink for PdfSink {
    fn push(&mut self, row: &ReportRow) -> Result<(), RenderError> {
        serde_json::to_writer(&mut self.spool, row).map_err(|e| RenderError::Io(e.to_string()))?;
        self.spool.write_all(b"\n")?;
        self.rows += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, RenderError> {
        let PdfSink {
            spool,
            spool_path,
            output,
            meta,
            rows,
        } = *self;
        spool
            .into_inner()
            .map_err(|e| RenderError::Io(e.to_string()))?
            .sync_all()?;
        let result = document::render(&spool_path, &output, &meta, rows);
        let _ = std::fs::remove_file(&spool_path);
        if result.is_err() {
            // A file cut short is no report: leave none rather than a broken one.
            let _ = std::fs::remove_file(&output);
        }
        result.map(|()| rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::values::ReportFilters;
    use crate::report::synthetic_rows;

    fn meta() -> ReportMeta {
        ReportMeta {
            report_id: "r1".into(),
            filters: ReportFilters::new(
                "2025-01-01T00:00:00Z".parse().unwrap(),
                "2025-02-01T00:00:00Z".parse().unwrap(),
                None,
                None,
            )
            .unwrap(),
            generated_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    /// Renders `rows` synthetic rows; returns the file's bytes.
    fn render(rows: u64) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("pdf-test-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let output = dir.join("r.pdf");
        let mut sink = Box::new(PdfSink::new(&output, &dir, meta()).unwrap());
        for row in synthetic_rows(rows) {
            sink.push(&row).unwrap();
        }
        assert_eq!(sink.finish().unwrap(), rows);
        assert!(!dir.join("report-r1.rows.jsonl").exists(), "spool removed");
        let bytes = std::fs::read(&output).unwrap();
        if std::env::var_os("KEEP_PDF").is_some() {
            std::fs::copy(&output, std::env::temp_dir().join("sample-report.pdf")).unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
        bytes
    }

    #[test]
    fn pages_hold_a_header_and_forty_rows_each() {
        let bytes = render(81);
        let doc = lopdf::Document::load_mem(&bytes).unwrap();
        assert_eq!(doc.get_pages().len(), 3);
        for page in 1..=3 {
            let text = doc.extract_text(&[page]).unwrap();
            assert!(text.contains("Exams report"), "{text}");
            assert!(text.contains("81 rows"), "{text}");
            assert!(
                text.contains("Exam ID") && text.contains("Patient ID"),
                "{text}"
            );
            assert!(text.contains(&format!("Page {page} of 3")), "{text}");
            assert!(
                text.contains("Generated at 1970-01-01 00:00:00 UTC"),
                "{text}"
            );
        }
        let first = doc.extract_text(&[1]).unwrap();
        assert!(first.contains("EXM0000000000") && first.contains("EXM0000000039"));
        assert!(!first.contains("EXM0000000040"));
        let last = doc.extract_text(&[3]).unwrap();
        assert!(last.contains("EXM0000000080"));
    }

    #[test]
    fn portuguese_text_is_extractable() {
        let doc = lopdf::Document::load_mem(&render(3)).unwrap();
        let text = doc.extract_text(&[1]).unwrap();
        for expected in [
            "Hospital São Lucas 0",
            "Raio-X de tórax",
            "Ressonância magnética",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    #[test]
    fn an_empty_report_is_one_page_saying_so() {
        let doc = lopdf::Document::load_mem(&render(0)).unwrap();
        assert_eq!(doc.get_pages().len(), 1);
        let text = doc.extract_text(&[1]).unwrap();
        assert!(
            text.contains("0 rows") && text.contains("Page 1 of 1"),
            "{text}"
        );
    }
}
