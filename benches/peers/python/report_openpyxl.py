"""The exams report written with openpyxl's write-only workbook (rows are serialised as they are
appended), as Clinic's report/xlsx.rs writes it: sheet "Exams", a bold shaded header row, the
scheduled time as a real date, column widths, a frozen header and an autofilter over the table.

    python report_openpyxl.py --rows N --out PATH   -> one JSON line of figures
"""

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

import report_rows
from report_rows import COLUMNS, XLSX_WIDTHS

DATE_FORMAT = "yyyy-mm-dd hh:mm"


def render(n, path):
    generated_at = report_rows.now()
    workbook = Workbook(write_only=True)
    workbook.properties.title = "Exams report"
    workbook.properties.subject = report_rows.summary()
    # dc:description is what Excel shows as Comments.
    workbook.properties.description = (
        f"{report_rows.stamp(generated_at)} · report {report_rows.REPORT_ID}"
    )
    sheet = workbook.create_sheet("Exams")
    # A write-only sheet takes its widths and panes before the first row.
    for col, width in enumerate(XLSX_WIDTHS, 1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = "A2"

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DCE6F1")
    center = Alignment(horizontal="center")
    header = []
    for title in COLUMNS:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        cell.fill = fill
        cell.alignment = center
        header.append(cell)
    sheet.append(header)

    written = 0
    for row in report_rows.synthetic_rows(n):
        # The date needs its own format; plain values go in as they are.
        when = WriteOnlyCell(sheet, value=row.scheduled_at)
        when.number_format = DATE_FORMAT
        sheet.append(
            [
                row.exam_id,
                when,
                row.hospital_name,
                row.hospital_id,
                row.exam_type,
                row.status,
                row.doctor_id,
                row.patient_id,
            ]
        )
        written += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{written + 1}"
    workbook.save(path)
    return written


if __name__ == "__main__":
    report_rows.run(render, "Exams report with openpyxl (write_only)")
