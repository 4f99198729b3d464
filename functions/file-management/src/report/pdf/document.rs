//! The document's objects, in the order they reach the file: catalog, information, page tree
//! and shared resources first, then each page with its contents as soon as it is laid out, the
//! fonts (which need every glyph the pages used) last.
//!
//! Every object number is reserved up front, the page count being known from the spool: a page
//! names its fonts and the page tree lists its pages before those objects are written.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::super::{RenderError, ReportMeta};
use super::font::{Face, Fonts};
use super::layout::{PAGE_H, PAGE_W, PageLayout, ROWS_PER_PAGE};
use super::syntax::number;
use super::writer::{ObjectId, PdfWriter};
use crate::domain::ReportRow;

/// Writes the report of the `rows` rows spooled in `spool` (one JSON object a line) to `output`.
pub(super) fn render(
    spool: &Path,
    output: &Path,
    meta: &ReportMeta,
    rows: u64,
) -> Result<(), RenderError> {
    let pages = rows.div_ceil(ROWS_PER_PAGE).max(1);
    let mut fonts = Fonts::dejavu_sans_condensed()?;
    let mut writer = PdfWriter::new(File::create(output)?)?;
    let catalog = writer.reserve()?;
    let info = writer.reserve()?;
    let page_tree = writer.reserve()?;
    let resources = writer.reserve()?;
    let regular = writer.reserve()?;
    let bold = writer.reserve()?;
    let first_page = writer.reserve_many(pages)?;
    let first_contents = writer.reserve_many(pages)?;

    let catalog_dict = format!("<< /Type /Catalog /Pages {} >>", page_tree.reference());
    writer.object(catalog, catalog_dict.as_bytes())?;
    writer.object(
        info,
        b"<< /Title (Exams report) /Creator (Clinic) /Producer (Clinic) >>",
    )?;
    writer.object(page_tree, &page_tree_dict(first_page, pages)?)?;
    let resources_dict = format!(
        "<< /Font << /{} {} /{} {} >> >>",
        Face::Regular.resource_name(),
        regular.reference(),
        Face::Bold.resource_name(),
        bold.reference()
    );
    writer.object(resources, resources_dict.as_bytes())?;

    let mut lines = BufReader::new(File::open(spool)?).lines();
    for index in 0..pages {
        let mut page = PageLayout::start(&mut fonts, meta, rows, index + 1, pages);
        for _ in 0..ROWS_PER_PAGE {
            let Some(line) = lines.next() else { break };
            let row: ReportRow =
                serde_json::from_str(&line?).map_err(|e| RenderError::Io(e.to_string()))?;
            page.row(&mut fonts, &row);
        }
        let contents = first_contents.offset(index)?;
        let page_dict = page_dict(page_tree, resources, contents);
        writer.object(first_page.offset(index)?, &page_dict)?;
        writer.deflated_stream(contents, "", &page.finish())?;
    }

    fonts.write(&mut writer, regular, bold)?;
    writer.finish(catalog, info)
}

fn page_tree_dict(first_page: ObjectId, pages: u64) -> Result<Vec<u8>, RenderError> {
    let mut dict = format!("<< /Type /Pages /Count {pages} /Kids [").into_bytes();
    for index in 0..pages {
        if index > 0 {
            dict.push(b' ');
        }
        dict.extend_from_slice(first_page.offset(index)?.reference().as_bytes());
    }
    dict.extend_from_slice(b"] >>");
    Ok(dict)
}

fn page_dict(parent: ObjectId, resources: ObjectId, contents: ObjectId) -> Vec<u8> {
    let mut dict = format!(
        "<< /Type /Page /Parent {} /MediaBox [0 0 ",
        parent.reference()
    )
    .into_bytes();
    number(&mut dict, PAGE_W);
    dict.push(b' ');
    number(&mut dict, PAGE_H);
    let refs = format!(
        "] /Resources {} /Contents {} >>",
        resources.reference(),
        contents.reference()
    );
    dict.extend_from_slice(refs.as_bytes());
    dict
}
