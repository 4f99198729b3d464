"""The exams report written with XlsxWriter in constant-memory mode (each finished row is
flushed to a temporary file), as Clinic's report/xlsx.rs writes it: sheet "Exams", a bold
shaded header row, the scheduled time as a real date, column widths, a frozen header and an
autofilter over the table.

    python report_xlsxwriter.py --rows N --out PATH   -> one JSON line of figures
"""

import os

import xlsxwriter

import report_rows
from report_rows import COLUMNS, XLSX_WIDTHS

LAST_COL = len(COLUMNS) - 1


def render(n, path):
    generated_at = report_rows.now()
    workbook = xlsxwriter.Workbook(
        path,
        {
            "constant_memory": True,
            # Temporary files beside the output, as Clinic's writer keeps them in its work dir.
            "tmpdir": os.path.dirname(os.path.abspath(path)),
        },
    )
    workbook.set_properties(
        {
            "title": "Exams report",
            "subject": report_rows.summary(),
            "comments": f"{report_rows.stamp(generated_at)} · report {report_rows.REPORT_ID}",
        }
    )
    header = workbook.add_format({"bold": True, "bg_color": "#DCE6F1", "align": "center"})
    date = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet = workbook.add_worksheet("Exams")
    for col, (title, width) in enumerate(zip(COLUMNS, XLSX_WIDTHS)):
        sheet.set_column(col, col, width)
        sheet.write_string(0, col, title, header)
    sheet.freeze_panes(1, 0)

    r = 0
    for row in report_rows.synthetic_rows(n):
        r += 1
        sheet.write_string(r, 0, row.exam_id)
        sheet.write_datetime(r, 1, row.scheduled_at, date)
        sheet.write_string(r, 2, row.hospital_name)
        sheet.write_string(r, 3, row.hospital_id)
        sheet.write_string(r, 4, row.exam_type)
        sheet.write_string(r, 5, row.status)
        if row.doctor_id is not None:
            sheet.write_string(r, 6, row.doctor_id)
        if row.patient_id is not None:
            sheet.write_string(r, 7, row.patient_id)
    sheet.autofilter(0, 0, r, LAST_COL)
    workbook.close()
    return r


if __name__ == "__main__":
    report_rows.run(render, "Exams report with XlsxWriter (constant_memory)")
