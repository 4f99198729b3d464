"""The exams report as a PDF with reportlab's platypus, laid out as Clinic's report/pdf.rs does:
A4 landscape; on every page the title, the filters with the row count, the generated-at stamp,
the table header, and a footer with the stamp, the report id and "Page n of N".

The table is one platypus LongTable with repeatRows=1 flowing through a SimpleDocTemplate; the
page decorations are drawn by the page callback. "of N" uses the usual deferred-canvas recipe:
each page's drawing is kept until the document ends, then the total is stamped on every page.
Text is in Helvetica (built in, WinAnsi covers the Portuguese names, "·" and "…"), where Clinic
embeds a subset of DejaVu Sans Condensed.

    python report_reportlab.py --rows N --out PATH   -> one JSON line of figures
"""

from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen import canvas
from reportlab.platypus import LongTable, SimpleDocTemplate, TableStyle

import report_rows
from report_rows import PDF_COLUMNS

PAGE_W, PAGE_H = landscape(A4)
MARGIN = 36.0
FONT = "Helvetica"
BOLD = "Helvetica-Bold"
FONT_SIZE = 8.0
ROW_H = 11.0
# report/pdf.rs measures y from the top of the page; these are the same places.
TABLE_TOP = 92.0
FOOTER_Y = PAGE_H - 20.0
RULE = Color(120 / 255, 120 / 255, 120 / 255)
# Header row plus forty rows between the header band and the footer rule, as Clinic's pages hold.
ROWS_PER_PAGE = 40
FRAME_PADDING = 6.0


def fit(text, most):
    """Cuts text to `most` characters, marking the cut."""
    return text if len(text) <= most else text[: most - 1] + "…"


def cells(row):
    return [
        fit(value, most)
        for value, (_, _, most) in zip(
            [
                row.exam_id,
                row.scheduled_at.strftime("%Y-%m-%d %H:%M"),
                row.hospital_name,
                row.exam_type,
                row.status,
                row.doctor_id or "",
                row.patient_id or "",
            ],
            PDF_COLUMNS,
        )
    ]


def numbered_canvas(footer_left):
    """A canvas class that holds each page until the end so the footer can say "of N"."""

    class NumberedCanvas(canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(FONT, FONT_SIZE)
                self.drawString(MARGIN, PAGE_H - FOOTER_Y, footer_left)
                self.drawString(
                    PAGE_W - MARGIN - 70.0,
                    PAGE_H - FOOTER_Y,
                    f"Page {self._pageNumber} of {total}",
                )
                super().showPage()
            super().save()

    return NumberedCanvas


def render(n, path):
    generated_at = report_rows.now()
    stamp = report_rows.stamp(generated_at)
    data = [[title for title, _, _ in PDF_COLUMNS]]
    for row in report_rows.synthetic_rows(n):
        data.append(cells(row))
    rows = len(data) - 1
    heading = f"{report_rows.summary()} · {rows} rows"

    def decorate(c, _doc):
        c.saveState()
        c.setFont(BOLD, 14.0)
        c.drawString(MARGIN, PAGE_H - 44.0, "Exams report")
        c.setFont(FONT, FONT_SIZE)
        c.drawString(MARGIN, PAGE_H - 60.0, heading)
        c.drawString(MARGIN, PAGE_H - 72.0, stamp)
        c.setStrokeColor(RULE)
        c.setLineWidth(0.4)
        c.line(MARGIN, PAGE_H - (FOOTER_Y - 12.0), PAGE_W - MARGIN, PAGE_H - (FOOTER_Y - 12.0))
        c.restoreState()

    # The frame holds exactly the header row and ROWS_PER_PAGE rows (plus a hair for rounding).
    top = TABLE_TOP - FRAME_PADDING
    bottom = PAGE_H - top - 2 * FRAME_PADDING - (ROWS_PER_PAGE + 1) * ROW_H - 0.5
    doc = SimpleDocTemplate(
        path,
        pagesize=(PAGE_W, PAGE_H),
        leftMargin=MARGIN - FRAME_PADDING,
        rightMargin=MARGIN - FRAME_PADDING,
        topMargin=top,
        bottomMargin=bottom,
        title="Exams report",
        creator="Clinic",
    )
    table = LongTable(
        data,
        colWidths=[width for _, width, _ in PDF_COLUMNS],
        rowHeights=ROW_H,
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, FONT_SIZE),
                ("FONT", (0, 0), (-1, 0), BOLD, FONT_SIZE),
                ("LEFTPADDING", (0, 0), (-1, -1), 2.0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0.0),
                ("TOPPADDING", (0, 0), (-1, -1), 0.0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, RULE),
            ]
        )
    )
    doc.build(
        [table],
        onFirstPage=decorate,
        onLaterPages=decorate,
        canvasmaker=numbered_canvas(f"{stamp} · report {report_rows.REPORT_ID}"),
    )
    return rows


if __name__ == "__main__":
    report_rows.run(render, "Exams report with reportlab (platypus)")
