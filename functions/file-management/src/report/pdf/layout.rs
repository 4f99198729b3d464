//! Where things go on a page: the title, the filters, the table with its header, the footer.
//! Coordinates are points from the page's top-left corner, text placed by its baseline.

use super::content::PageContent;
use super::font::{Face, Fonts};
use crate::domain::ReportRow;
use crate::domain::model::status_name;
use crate::report::ReportMeta;

/// A4 landscape.
pub(super) const PAGE_W: f32 = 841.89;
pub(super) const PAGE_H: f32 = 595.28;
const MARGIN: f32 = 36.0;
const FONT_SIZE: f32 = 8.0;
const ROW_H: f32 = 11.0;
const TABLE_TOP: f32 = 92.0;
const FOOTER_Y: f32 = PAGE_H - 20.0;
/// Rows that fit between the header row and the footer.
pub(super) const ROWS_PER_PAGE: u64 = 40;

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

/// A page being laid out: its repeated parts are drawn when it starts, rows are added below.
pub(super) struct PageLayout {
    content: PageContent,
    next_row_y: f32,
}

impl PageLayout {
    /// Title, filters, table header and footer: everything a page repeats.
    pub(super) fn start(
        fonts: &mut Fonts,
        meta: &ReportMeta,
        rows: u64,
        page_no: u64,
        pages: u64,
    ) -> Self {
        let mut page = PageContent::new(PAGE_H);
        page.text(fonts, Face::Bold, 14.0, MARGIN, 44.0, "Exams report");
        let summary = format!("{} · {rows} rows", meta.summary());
        page.text(fonts, Face::Regular, FONT_SIZE, MARGIN, 60.0, &summary);
        page.text(fonts, Face::Regular, FONT_SIZE, MARGIN, 72.0, &meta.stamp());
        let mut x = MARGIN;
        for (title, width, _) in PDF_COLUMNS {
            let y = TABLE_TOP + ROW_H - 3.0;
            page.text(fonts, Face::Bold, FONT_SIZE, x + 2.0, y, title);
            x += width;
        }
        page.rule(MARGIN, PAGE_W - MARGIN, TABLE_TOP + ROW_H + 2.0, 0.8);
        page.rule(MARGIN, PAGE_W - MARGIN, FOOTER_Y - 12.0, 0.4);
        let footer = format!("{} · report {}", meta.stamp(), meta.report_id);
        page.text(fonts, Face::Regular, FONT_SIZE, MARGIN, FOOTER_Y, &footer);
        let numbering = format!("Page {page_no} of {pages}");
        let x = PAGE_W - MARGIN - 70.0;
        page.text(fonts, Face::Regular, FONT_SIZE, x, FOOTER_Y, &numbering);
        Self {
            content: page,
            next_row_y: TABLE_TOP + 2.0 * ROW_H,
        }
    }

    /// Adds the table's next row.
    pub(super) fn row(&mut self, fonts: &mut Fonts, row: &ReportRow) {
        let mut x = MARGIN;
        for ((_, width, max), value) in PDF_COLUMNS.iter().zip(cells(row)) {
            let shown = fit(&value, *max);
            self.content.text(
                fonts,
                Face::Regular,
                FONT_SIZE,
                x + 2.0,
                self.next_row_y,
                &shown,
            );
            x += width;
        }
        self.next_row_y += ROW_H;
    }

    /// The page's operators.
    pub(super) fn finish(self) -> Vec<u8> {
        self.content.into_bytes()
    }
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

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn long_text_is_cut_with_a_mark() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
