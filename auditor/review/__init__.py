"""Reviewer decisions carried from one workbook to the next, and waiver drafts from "Accept risk" rows.

* ``auditor.review.workbook`` reads the reviewer columns (Owner / Decision / Due date / Notes) of an edited
  report.xlsx: untrusted input, read with size caps, formulas never evaluated, every problem named by
  file, sheet and cell.
* ``auditor.review.store`` keeps the decisions of one tenant in ``<reports.dir>/<tenant>/decisions.json``:
  each run harvests the newest earlier report.xlsx into it, and the run's workbook is pre-filled from it.
* ``auditor.review.waivers`` turns "Accept risk" rows into waiver entries for the configuration (a draft).
"""

from __future__ import annotations

from auditor.review.store import SIDECAR, carry_forward, import_workbook, mark_written
from auditor.review.workbook import ReviewError, ReviewRow, read_reviews

__all__ = ["SIDECAR", "ReviewError", "ReviewRow", "carry_forward", "import_workbook", "mark_written", "read_reviews"]
