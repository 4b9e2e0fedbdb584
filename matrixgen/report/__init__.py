"""Stored results -> view models -> HTML (Jinja2) -> PDF (WeasyPrint): a report per partnership,
one for the state.

- ``model``: what a report shows, as data (``PartnershipReportData``, ``PortfolioData``);
- ``context``: view models -> the dictionaries the templates read;
- ``render``: the template-only URL fetcher, ``Renderer``, and ``write_reports`` with its pool;
- ``load``: the store -> view models, and writing a round's reports back into it.
"""

from .context import MATRIX_TEXT, partnership_context, portfolio_context
from .load import StoredReports, load_reports, missing_reports, render_missing_reports, write_stored_reports
from .model import (
    NOT_YET, PEERS_MIN, SYMBOLS, Answer, PartnershipReportData, PastRound, PortfolioData, PortfolioRow, abbreviate,
    answer_kind, format_day, format_moment, natural, peer_counts, percent,
)
from .render import (
    PDF_OPTIONS, ROUND_RE, STYLESHEETS, TEMPLATES, AssetError, Renderer, ReportFile, TemplateFetcher,
    default_renderer, file_url, render_partnership_pdf, render_portfolio_pdf, report_path, write_reports,
)

__all__ = [
    "MATRIX_TEXT", "NOT_YET", "PDF_OPTIONS", "PEERS_MIN", "ROUND_RE", "STYLESHEETS", "SYMBOLS", "TEMPLATES",
    "Answer", "AssetError", "PartnershipReportData", "PastRound", "PortfolioData", "PortfolioRow", "Renderer",
    "ReportFile", "StoredReports", "TemplateFetcher", "abbreviate", "answer_kind", "default_renderer", "file_url",
    "format_day", "format_moment", "load_reports", "missing_reports", "natural", "partnership_context", "peer_counts", "percent",
    "portfolio_context", "render_missing_reports", "render_partnership_pdf", "render_portfolio_pdf",
    "report_path", "write_reports", "write_stored_reports",
]
