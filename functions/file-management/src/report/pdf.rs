//! The PDF report: A4 landscape pages with a title, the filters, a table whose header repeats on
//! every page, and a footer with "Page n of N" and the generated-at stamp. Text is set in DejaVu
//! Sans Condensed embedded from the `dejavu` crate (subset by krilla), so it stays extractable
//! and covers Portuguese names.
//!
//! Rows are spooled to a local JSON-lines file first: only then is N known. The page layout runs
//! over the spool, so rows are never all in memory (the PDF itself is, until it is written out).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::{Document, SerializeSettings};

use super::{RenderError, ReportMeta, RowSink};
use crate::domain::ReportRow;
use crate::domain::model::status_name;

const PAGE_W: f32 = 841.89;
const PAGE_H: f32 = 595.28;
const MARGIN: f32 = 36.0;
const FONT_SIZE: f32 = 8.0;
const ROW_H: f32 = 11.0;
const TABLE_TOP: f32 = 92.0;
const FOOTER_Y: f32 = PAGE_H - 20.0;
/// Rows that fit between the header row and the footer.
const ROWS_PER_PAGE: u64 = 40;

/// (title, width in points, most characters shown). 26-character ids fit their columns.
const PDF_COLUMNS: [(&str, f32, usize); 7] = [
    ("Exam ID", 132.0, 28),
    ("Scheduled (UTC)", 78.0, 16),
    ("Hospital", 118.0, 28),
    ("Exam type", 90.0, 22),
    ("Status", 70.0, 14),
    ("Doctor ID", 132.0, 28),
    ("Patient ID", 132.0, 28),
];

fn pdf(err: impl std::fmt::Debug) -> RenderError {
    RenderError::Pdf(format!("{err:?}"))
}

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
        let result = render(&spool_path, &output, &meta, rows);
        let _ = std::fs::remove_file(&spool_path);
        result.map(|()| rows)
    }
}

struct Fonts {
    regular: Font,
    bold: Font,
}

fn render(spool: &Path, output: &Path, meta: &ReportMeta, rows: u64) -> Result<(), RenderError> {
    let fonts = Fonts {
        regular: Font::new(dejavu::sans_condensed::regular().into(), 0)
            .ok_or_else(|| RenderError::Pdf("embedded regular font unreadable".into()))?,
        bold: Font::new(dejavu::sans_condensed::bold().into(), 0)
            .ok_or_else(|| RenderError::Pdf("embedded bold font unreadable".into()))?,
    };
    let pages = rows.div_ceil(ROWS_PER_PAGE).max(1);
    // Untagged: the table is plain text in reading order, and tag bookkeeping for thousands of
    // pages costs memory.
    let mut document = Document::new_with(SerializeSettings {
        enable_tagging: false,
        ..SerializeSettings::default()
    });
    document.set_metadata(
        Metadata::new()
            .title("Exams report".to_string())
            .creator("Clinic".to_string()),
    );
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
        .ok_or_else(|| RenderError::Pdf("bad page size".into()))?;
    let mut lines = BufReader::new(File::open(spool)?).lines();
    for page_no in 1..=pages {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        decorate(&mut surface, &fonts, meta, rows, page_no, pages);
        let mut y = TABLE_TOP + ROW_H;
        for _ in 0..ROWS_PER_PAGE {
            let Some(line) = lines.next() else { break };
            let row: ReportRow =
                serde_json::from_str(&line?).map_err(|e| RenderError::Io(e.to_string()))?;
            y += ROW_H;
            draw_row(&mut surface, &fonts.regular, y, &cells(&row));
        }
        surface.finish();
        page.finish();
    }
    let bytes = document.finish().map_err(pdf)?;
    std::fs::write(output, bytes)?;
    Ok(())
}

fn cells(row: &ReportRow) -> [String; 7] {
    [
        row.exam_id.clone(),
        row.scheduled_at.strftime("%Y-%m-%d %H:%M").to_string(),
        row.hospital_name.clone(),
        row.exam_type.clone(),
        status_name(row.status).to_string(),
        row.doctor_id.clone().unwrap_or_default(),
        row.patient_id.clone().unwrap_or_default(),
    ]
}

/// Cuts text to `max` characters, marking the cut.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn text(surface: &mut Surface<'_>, font: &Font, size: f32, x: f32, y: f32, value: &str) {
    if !value.is_empty() {
        surface.draw_text(
            Point::from_xy(x, y),
            font.clone(),
            size,
            value,
            false,
            TextDirection::Auto,
        );
    }
}

fn draw_row(surface: &mut Surface<'_>, font: &Font, y: f32, values: &[String; 7]) {
    let mut x = MARGIN;
    for ((_, width, max), value) in PDF_COLUMNS.iter().zip(values) {
        text(surface, font, FONT_SIZE, x + 2.0, y, &fit(value, *max));
        x += width;
    }
}

fn rule(surface: &mut Surface<'_>, y: f32, width: f32) {
    let mut builder = PathBuilder::new();
    builder.move_to(MARGIN, y);
    builder.line_to(PAGE_W - MARGIN, y);
    if let Some(path) = builder.finish() {
        surface.set_fill(None);
        surface.set_stroke(Some(Stroke {
            paint: rgb::Color::new(120, 120, 120).into(),
            width,
            ..Default::default()
        }));
        surface.draw_path(&path);
        surface.set_stroke(None);
        surface.set_fill(Some(Fill::default()));
    }
}

/// Title, filters, table header and footer: everything a page repeats.
fn decorate(
    surface: &mut Surface<'_>,
    fonts: &Fonts,
    meta: &ReportMeta,
    rows: u64,
    page_no: u64,
    pages: u64,
) {
    text(surface, &fonts.bold, 14.0, MARGIN, 44.0, "Exams report");
    text(
        surface,
        &fonts.regular,
        FONT_SIZE,
        MARGIN,
        60.0,
        &format!("{} · {rows} rows", meta.summary()),
    );
    text(
        surface,
        &fonts.regular,
        FONT_SIZE,
        MARGIN,
        72.0,
        &meta.stamp(),
    );
    let header: [String; 7] = PDF_COLUMNS.map(|(title, _, _)| title.to_string());
    let mut x = MARGIN;
    for ((_, width, _), title) in PDF_COLUMNS.iter().zip(&header) {
        text(
            surface,
            &fonts.bold,
            FONT_SIZE,
            x + 2.0,
            TABLE_TOP + ROW_H - 3.0,
            title,
        );
        x += width;
    }
    rule(surface, TABLE_TOP + ROW_H + 2.0, 0.8);
    rule(surface, FOOTER_Y - 12.0, 0.4);
    text(
        surface,
        &fonts.regular,
        FONT_SIZE,
        MARGIN,
        FOOTER_Y,
        &format!("{} · report {}", meta.stamp(), meta.report_id),
    );
    text(
        surface,
        &fonts.regular,
        FONT_SIZE,
        PAGE_W - MARGIN - 70.0,
        FOOTER_Y,
        &format!("Page {page_no} of {pages}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::values::ReportFilters;
    use crate::report::synthetic_rows;

    #[test]
    fn pages_hold_a_header_and_forty_rows_each() {
        let dir = std::env::temp_dir().join(format!("pdf-test-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let output = dir.join("r.pdf");
        let meta = ReportMeta {
            report_id: "r1".into(),
            filters: ReportFilters::new(
                "2025-01-01T00:00:00Z".parse().unwrap(),
                "2025-02-01T00:00:00Z".parse().unwrap(),
                None,
                None,
            )
            .unwrap(),
            generated_at: jiff::Timestamp::UNIX_EPOCH,
        };
        let mut sink = Box::new(PdfSink::new(&output, &dir, meta).unwrap());
        for row in synthetic_rows(81) {
            sink.push(&row).unwrap();
        }
        assert_eq!(sink.finish().unwrap(), 81);
        let bytes = std::fs::read(&output).unwrap();
        let doc = lopdf::Document::load_mem(&bytes).unwrap();
        assert_eq!(doc.get_pages().len(), 3);
        assert!(!dir.join("report-r1.rows.jsonl").exists(), "spool removed");
        if std::env::var_os("KEEP_PDF").is_some() {
            std::fs::copy(&output, std::env::temp_dir().join("sample-report.pdf")).unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn long_text_is_cut_with_a_mark() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
