"""The workbook layout contract: what ``generate`` writes and ``read`` relies on.

Sheet names, header texts, the labels of the Partnership sheet and the document-property names.
The reader finds everything by these labels and ids, never by position, so a respondent's inserted
rows or another app's re-save do not break scoring. Kept apart from generate.py so that reading and
scoring never import openpyxl.
"""

from __future__ import annotations

from . import identity

INSTRUCTIONS, PARTNERSHIP, ASSESSMENT, SUMMARY, MATRIX, META = (
    "Instructions", "Partnership", "Assessment", "Summary", "Matrix", "_matrixgen",
)
ASSESSMENT_HEADERS = ("ID", "Dimension", "Stage", "Criterion", "Response", "Evidence")
ASSESSMENT_HEADER_ROW = 3
RESPONSE_COL, EVIDENCE_COL = "E", "F"
# Partnership sheet: label in column A, value in column B.
PARTNERSHIP_FIELDS = (
    ("Partnership name", "partnership_name"),
    ("Partnership ID", "partnership_id"),
    ("Region", "region"),
    ("Sector", "sector"),
    ("Round", "round"),
    ("Rubric", "rubric_id"),
    ("Rubric version", "rubric_version"),
    ("Rubric hash", "rubric_hash"),
    ("Generated at", "generated_at"),
    ("Signature", "signature"),
)
RESPONDENT_FIELDS = (
    ("Respondent name", "respondent_name"),
    ("Respondent role", "respondent_role"),
    ("Respondent email", "respondent_email"),
    ("Date completed", "completed_on"),
)
META_KEYS = (*identity.FIELDS, "signature", "format")
PROP_PREFIX = "matrixgen_"
RESPONSE_LIST_NAME = "MG_Responses"
