//! The XLSX report: typed cells, a bold header row, scheduled times as real dates, an autofilter
//! over the table and a frozen header. Written with rust_xlsxwriter in constant-memory mode, so
//! each finished row goes to a temporary file instead of staying in memory.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, XlsxError};

use super::{COLUMNS, RenderError, ReportMeta, RowSink};
use crate::domain::ReportRow;
use crate::domain::model::status_name;

fn xlsx(err: XlsxError) -> RenderError {
    RenderError::Xlsx(err.to_string())
}

const LAST_COL: u16 = 7;

pub(super) struct XlsxSink {
    workbook: Workbook,
    output: PathBuf,
    date: Format,
    /// Next row to write (row 0 is the header).
    row: u32,
}

impl XlsxSink {
    pub(super) fn new(
        output: &Path,
        work_dir: &Path,
        meta: &ReportMeta,
        constant_memory: bool,
    ) -> Result<Self, RenderError> {
        let mut workbook = Workbook::new();
        workbook.set_tempdir(work_dir).map_err(xlsx)?;
        workbook.set_properties(
            &DocProperties::new()
                .set_title("Exams report")
                .set_subject(meta.summary())
                .set_comment(format!("{} · report {}", meta.stamp(), meta.report_id)),
        );
        let header = Format::new()
            .set_bold()
            .set_background_color("#DCE6F1")
            .set_align(FormatAlign::Center);
        let date = Format::new().set_num_format("yyyy-mm-dd hh:mm");
        let sheet = if constant_memory {
            workbook.add_worksheet_with_constant_memory()
        } else {
            Ok(workbook.add_worksheet())
        }
        .map_err(xlsx)?;
        sheet.set_name("Exams").map_err(xlsx)?;
        for (col, (title, width)) in COLUMNS
            .iter()
            .zip([28.0, 18.0, 30.0, 16.0, 24.0, 14.0, 28.0, 28.0])
            .enumerate()
        {
            let col = u16::try_from(col).unwrap_or(LAST_COL);
            sheet.set_column_width(col, width).map_err(xlsx)?;
            sheet
                .write_string_with_format(0, col, *title, &header)
                .map_err(xlsx)?;
        }
        sheet.set_freeze_panes(1, 0).map_err(xlsx)?;
        Ok(Self {
            workbook,
            output: output.to_path_buf(),
            date,
            row: 1,
        })
    }
}

impl RowSink for XlsxSink {
    fn push(&mut self, row: &ReportRow) -> Result<(), RenderError> {
        let sheet = self.workbook.worksheet_from_index(0).map_err(xlsx)?;
        let r = self.row;
        sheet.write_string(r, 0, &row.exam_id).map_err(xlsx)?;
        let when = ExcelDateTime::from_timestamp(row.scheduled_at.as_second()).map_err(xlsx)?;
        sheet
            .write_datetime_with_format(r, 1, &when, &self.date)
            .map_err(xlsx)?;
        sheet.write_string(r, 2, &row.hospital_name).map_err(xlsx)?;
        sheet.write_string(r, 3, &row.hospital_id).map_err(xlsx)?;
        sheet.write_string(r, 4, &row.exam_type).map_err(xlsx)?;
        sheet
            .write_string(r, 5, status_name(row.status))
            .map_err(xlsx)?;
        if let Some(doctor) = &row.doctor_id {
            sheet.write_string(r, 6, doctor).map_err(xlsx)?;
        }
        if let Some(patient) = &row.patient_id {
            sheet.write_string(r, 7, patient).map_err(xlsx)?;
        }
        self.row += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, RenderError> {
        let last_row = self.row - 1;
        let sheet = self.workbook.worksheet_from_index(0).map_err(xlsx)?;
        sheet.autofilter(0, 0, last_row, LAST_COL).map_err(xlsx)?;
        self.workbook.save(&self.output).map_err(xlsx)?;
        Ok(u64::from(last_row))
    }
}
