"""What the report peers share: the synthetic rows, the columns and the report's texts, mirroring
Clinic's report module (functions/file-management/src/report/mod.rs: `synthetic_rows`,
`COLUMNS`, `ReportMeta::summary` and `stamp`) and the benchmark's report meta (report id "bench",
January 2025, no hospital or status filter), so every peer writes the same report as Clinic.

Also the measurement every peer prints, so the figures are taken the same way by each.
"""

import argparse
import json
import os
import resource
import time
from datetime import datetime, timedelta, timezone

# Column titles, in order (the PDF leaves out the hospital id for width).
COLUMNS = [
    "Exam ID",
    "Scheduled at (UTC)",
    "Hospital",
    "Hospital ID",
    "Exam type",
    "Status",
    "Doctor ID",
    "Patient ID",
]

# report/xlsx.rs: column widths in characters.
XLSX_WIDTHS = [28.0, 18.0, 30.0, 16.0, 24.0, 14.0, 28.0, 28.0]

# report/pdf.rs: (title, width in points, most characters shown).
PDF_COLUMNS = [
    ("Exam ID", 132.0, 28),
    ("Scheduled (UTC)", 78.0, 16),
    ("Hospital", 118.0, 28),
    ("Exam type", 90.0, 22),
    ("Status", 70.0, 14),
    ("Doctor ID", 132.0, 28),
    ("Patient ID", 132.0, 28),
]

# ExamStatus::{Scheduled, Completed, ResultReady, Cancelled} as `status_name` spells them.
STATUSES = ("SCHEDULED", "COMPLETED", "RESULT_READY", "CANCELLED")
EXAM_TYPES = ("Hemograma completo", "Raio-X de tórax", "Ressonância magnética")

# 2025-01-01T00:00:00Z; rows are spread over January 2025 (2,678,400 s).
START = 1_735_689_600
SPREAD = 2_678_400

REPORT_ID = "bench"
FILTER_FROM = datetime(2025, 1, 1, tzinfo=timezone.utc)
FILTER_TO = datetime(2025, 2, 1, tzinfo=timezone.utc)

_EPOCH = datetime(1970, 1, 1)


class Row:
    """One report row (Clinic's `ReportRow`); `scheduled_at` is a naive UTC datetime, the form
    the spreadsheet libraries take."""

    __slots__ = (
        "exam_id",
        "scheduled_at",
        "hospital_id",
        "hospital_name",
        "exam_type",
        "status",
        "doctor_id",
        "patient_id",
    )

    def __init__(self, exam_id, scheduled_at, hospital_id, hospital_name, exam_type, status,
                 doctor_id, patient_id):
        self.exam_id = exam_id
        self.scheduled_at = scheduled_at
        self.hospital_id = hospital_id
        self.hospital_name = hospital_name
        self.exam_type = exam_type
        self.status = status
        self.doctor_id = doctor_id
        self.patient_id = patient_id


def synthetic_rows(n):
    """`n` exams spread over January 2025, generated one at a time as Clinic's are."""
    for i in range(n):
        yield Row(
            exam_id=f"EXM{i:010}",
            scheduled_at=_EPOCH + timedelta(seconds=START + i % SPREAD),
            hospital_id=f"hosp-{i % 7}",
            hospital_name=f"Hospital São Lucas {i % 7}",
            exam_type=EXAM_TYPES[i % 3],
            status=STATUSES[i % 4],
            doctor_id=f"doc-{i % 97:08}" if i % 5 != 0 else None,
            patient_id=f"pat-{i % 10_007:08}",
        )


def summary():
    """One line describing the filters (`ReportMeta::summary`)."""
    fmt = "%Y-%m-%d %H:%M UTC"
    return f"Scheduled from {FILTER_FROM.strftime(fmt)} to {FILTER_TO.strftime(fmt)}"


def stamp(generated_at):
    """The generated-at stamp (`ReportMeta::stamp`)."""
    return f"Generated at {generated_at.strftime('%Y-%m-%d %H:%M:%S UTC')}"


def now():
    return datetime.now(timezone.utc)


def parse_args(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, required=True, help="rows in the report")
    parser.add_argument("--out", required=True, help="the file to write")
    return parser.parse_args()


def run(render, description):
    """Parses `--rows N --out PATH`, times `render(rows, path)` (it generates the rows, writes
    them and closes the file; interpreter start and imports are already behind) and prints the
    one JSON line the benchmark reads. `render` returns how many rows it wrote."""
    args = parse_args(description)
    started = time.perf_counter()
    written = render(args.rows, args.out)
    seconds = time.perf_counter() - started
    figures = {
        "rows": written,
        "seconds": seconds,
        # Kilobytes on Linux: the process's peak resident set, as VmHWM is for Clinic's.
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "bytes": os.path.getsize(args.out),
    }
    print(json.dumps(figures), flush=True)
