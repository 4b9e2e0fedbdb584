"""Template contexts -> PDF: the URL fetcher, the Renderer, and ``write_reports`` with its pool.

Safety. Respondents' evidence is untrusted text. Jinja2 escapes it (autoescape, and
``StrictUndefined`` so a typo in a template fails instead of printing nothing), and WeasyPrint
gets ``TemplateFetcher``, which serves files inside ``templates/`` and ``data:`` URLs and refuses
everything else. A refused URL or one of our own files missing stops the render: a report that
silently lost its font or stylesheet is worse than no report.

Speed. A report costs what it contains: WeasyPrint lays out (~75% of the time) and draws every
box in Python, about a millisecond per text line or table cell; font subsetting is cheap with
HarfBuzz's subsetter (``libharfbuzz-subset0``). What can be shared, ``Renderer`` builds once: the
parsed stylesheets with the palette written out, the lean user-agent stylesheet (uastyle.py), the
``FontConfiguration`` holding the shipped fonts, the Jinja environment; and a report's markup is
parsed as XML, not by the HTML5 parser. What scales is ``write_reports``'s process pool, one
``Renderer`` per worker. Templates stay lean for the same reason (fixed table layout, few boxes
per cell). The README's "How fast" has the measurements.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import mimetypes
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterator, Sequence
from urllib.parse import urlsplit
from urllib.request import url2pathname
from xml.etree import ElementTree

import cssselect2
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from weasyprint import HTML
# WeasyPrint 68+ (pinned in pyproject): a fetcher class; FatalURLFetchingError stops the render.
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from .. import files, interrupt
from ..errors import Problem, problem
from ..files import discard_partial, write_private
from .context import partnership_context, portfolio_context
from .model import PartnershipReportData, PortfolioData
from .tagging import artifact_orphans
from .uastyle import LeanUA, lean_ua_sheet

# The package is one level below matrixgen/, where the templates symlink lives.
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# Each stylesheet is parsed once per Renderer. Fonts / Variables / Page rules / Style.
STYLESHEETS = {
    "partnership": ("fonts.css", "variables.css", "page.css", "report.css"),
    "portfolio": ("fonts.css", "variables.css", "page.css", "report.css", "portfolio.css"),
}
# Characters no font draws and XML forbids: C0 and C1 controls (but tab, newline and carriage
# return), surrogates, U+FFFE and U+FFFF. Pasted text brings them into evidence now and then.
UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# The palette: custom properties both reports use, written out when the stylesheets are parsed.
PALETTE = "variables.css"
CUSTOM_PROPERTY = re.compile(r"--([\w-]+)\s*:\s*([^;}]+)")
VAR = re.compile(r"var\(\s*--([\w-]+)\s*\)")
PDF_OPTIONS = {
    # PDF/UA-1: tagged structure, document title shown, language, XMP identification.
    "pdf_variant": "pdf/ua-1",
}


# --- the URL fetcher --------------------------------------------------------------------------


class AssetError(FatalURLFetchingError):
    """A URL was refused, or one of our own template files is missing. Stops the render."""

    def __init__(self, found: Problem):
        super().__init__(str(found))
        self.problem = found


class TemplateFetcher(URLFetcher):
    """Serves files inside ``root`` and ``data:`` URLs; refuses everything else.

    ``requests`` records every URL asked for when ``record`` is true (tests use it to prove
    that respondents' text made WeasyPrint fetch nothing).
    """

    def __init__(self, root: Path = TEMPLATES, record: bool = False):
        super().__init__(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=True)
        self.root = Path(root).resolve()
        self.record = record
        self.requests: list[str] = []
        self._cache: dict[Path, bytes] = {}

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        if self.record:
            self.requests.append(url)
        if url[:5].lower() == "data:":
            return super().fetch(url, headers)
        path = self._inside(url)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, self._body(path), {"Content-Type": kind})

    def read(self, url: str) -> bytes:
        """A template file's bytes, refused or missing as for WeasyPrint (the stylesheets)."""
        return self._body(self._inside(url))

    def _inside(self, url: str) -> Path:
        """The file a ``file:`` URL names inside ``root``; AssetError for any other URL."""
        parts = urlsplit(url)
        if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
            path = Path(url2pathname(parts.path)).resolve()  # url2pathname decodes %xx
            if path.is_relative_to(self.root):
                return path
        raise AssetError(problem("MG-REPORT-006", "", url=url[:200]))

    def _body(self, path: Path) -> bytes:
        body = self._cache.get(path)
        if body is None:
            try:
                body = path.read_bytes()
            except OSError:
                raise AssetError(problem("MG-REPORT-005", "", path=path.relative_to(self.root).as_posix())) from None
            self._cache[path] = body
        return body


class LeanHTML(LeanUA, HTML):
    """WeasyPrint's HTML (its HTML5 parser) with the lean user-agent stylesheet (uastyle.py)."""


class ParsedHTML(LeanUA, HTML):
    """A ``weasyprint.HTML`` over a tree parsed already: the attributes ``HTML.__init__`` sets
    after its own parse (WeasyPrint 68). Tests compare its layout with the HTML5 parser's."""

    def __init__(self, root: ElementTree.Element, base_url: str, url_fetcher: URLFetcher):
        self.base_url = base_url
        self.url_fetcher = url_fetcher
        self.media_type = "print"
        self.wrapper_element = cssselect2.ElementWrapper.from_html_root(root, content_language=None)
        self.etree_element = self.wrapper_element.etree_element


# --- rendering --------------------------------------------------------------------------------


def file_url(path: Path) -> str:
    return path.resolve().as_uri()


class Renderer:
    """Parsed stylesheets, the font configuration and the Jinja environment, built once.

    One Renderer renders any number of reports, one at a time (WeasyPrint is not thread-safe;
    ``write_reports`` uses processes).
    """

    def __init__(self, templates: Path = TEMPLATES, fetcher: TemplateFetcher | None = None):
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        self.templates = Path(templates).resolve()
        self.folder = self.templates / "report"
        self.fetcher = fetcher or TemplateFetcher(self.templates)
        self.base_url = file_url(self.folder) + "/"
        self.env = Environment(
            loader=FileSystemLoader(str(self.folder)),
            autoescape=True,  # every template here is HTML or SVG inside HTML
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # One FontConfiguration for every stylesheet and document: the shipped font is
        # registered with Fontconfig once, not once per report.
        self.font_config = FontConfiguration()
        # WeasyPrint's user-agent stylesheet trimmed of pseudo-elements reports never use, parsed
        # once per process (see uastyle.py).
        self.lean_ua = lean_ua_sheet() is not None
        palette = self._palette()
        parsed: dict[str, object] = {}
        self.stylesheets: dict[str, list] = {}
        for kind, names in STYLESHEETS.items():
            for name in names:
                if name not in parsed:
                    parsed[name] = CSS(string=self.stylesheet_text(name, palette),
                                       base_url=file_url(self.folder / name), url_fetcher=self.fetcher,
                                       font_config=self.font_config)
            self.stylesheets[kind] = [parsed[n] for n in names]

    def _palette(self) -> dict[str, str]:
        """The custom properties of ``variables.css``: name -> value."""
        text = self.fetcher.read(file_url(self.folder / PALETTE)).decode()
        return {name: value.strip() for name, value in CUSTOM_PROPERTY.findall(text)}

    def stylesheet_text(self, name: str, palette: dict[str, str] | None = None) -> str:
        """A stylesheet with every ``var(--name)`` of the palette written out.

        WeasyPrint resolves ``var()`` again for every element it styles, re-validating the whole
        declaration (``border: 1pt solid var(--brand)``): about 2.5% of a report's instructions. The browser view
        of a report links the stylesheets as written.
        """
        palette = self._palette() if palette is None else palette
        text = self.fetcher.read(file_url(self.folder / name)).decode()
        # A name not in the palette is left to WeasyPrint, which warns about it.
        return VAR.sub(lambda m: palette.get(m.group(1), m.group(0)), text)

    def html(self, kind: str, context: dict) -> str:
        """The report's markup, without the characters in ``UNPRINTABLE`` (each would be drawn as
        a box and logged by WeasyPrint as a missing glyph)."""
        return UNPRINTABLE.sub("", self.env.get_template(f"{kind}.html").render(context))

    def parse(self, source: str):
        """``source`` as a ``weasyprint.HTML``, parsed as XML when it is well-formed.

        Our templates write well-formed markup (``<br/>``, ``<meta .../>``) and Jinja escapes
        every value, so the XML parser reads a report in well under a millisecond where the
        HTML5 parser takes about 30 ms (6% of a report). Markup that is not well-formed, such as
        an office's own template with ``<br>``, goes to the HTML5 parser as before.
        """
        try:
            root = ElementTree.fromstring(source)
        except ElementTree.ParseError:
            return LeanHTML(string=source, base_url=self.base_url, url_fetcher=self.fetcher)
        return ParsedHTML(root, self.base_url, self.fetcher)

    def document(self, kind: str, context: dict):
        """The laid-out ``weasyprint.Document``: its pages and boxes, before any PDF is made."""
        html = self.parse(self.html(kind, context))
        return html.render(stylesheets=self.stylesheets[kind], font_config=self.font_config, **PDF_OPTIONS)

    def pdf(self, kind: str, context: dict) -> bytes:
        pdf = self.document(kind, context).write_pdf(**PDF_OPTIONS)
        return artifact_orphans(pdf)  # until WeasyPrint marks page-margin content as artifacts

    def partnership_pdf(self, data: PartnershipReportData) -> bytes:
        return self.pdf("partnership", partnership_context(data))

    def portfolio_pdf(self, data: PortfolioData) -> bytes:
        return self.pdf("portfolio", portfolio_context(data))


_default: Renderer | None = None


def default_renderer() -> Renderer:
    global _default
    if _default is None:
        _default = Renderer()
    return _default


def render_partnership_pdf(data: PartnershipReportData, renderer: Renderer | None = None) -> bytes:
    return (renderer or default_renderer()).partnership_pdf(data)


def render_portfolio_pdf(data: PortfolioData, renderer: Renderer | None = None) -> bytes:
    return (renderer or default_renderer()).portfolio_pdf(data)


# --- writing many reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFile:
    path: Path
    ok: bool
    problems: tuple[Problem, ...] = ()
    partnership_id: str | None = None  # None for the portfolio report
    seconds: float = 0.0
    sha256: str = ""  # of the PDF written
    subset_fallback: bool = False  # fonts were subset with fontTools: HarfBuzz's subsetter is missing


class ReportFiles(list):
    """The ``ReportFile`` of each report, in input order, and what to tell the user once."""

    @property
    def notes(self) -> tuple[Problem, ...]:
        """One note for the whole run, however many reports (in however many worker processes)
        met the missing subsetter; it says nothing is wrong with the PDFs."""
        if any(f.subset_fallback for f in self):
            return (problem("MG-REPORT-011", "", extra=SUBSET_FALLBACK_COST),)
        return ()


# WeasyPrint subsets fonts with fontTools when libharfbuzz-subset0 is missing, and says so with a
# warning per font per report. The PDF is the same; only making it is slower.
SUBSET_FALLBACK = "Using fontTools instead of HarfBuzz-Subset"
SUBSET_FALLBACK_COST = "0.07"  # s of CPU per report with the shipped fonts, measured (README: How fast)


def is_subset_fallback(message: str) -> bool:
    return message.startswith(SUBSET_FALLBACK)


def report_path(out: Path, round_label: str, partnership_id: str | None) -> Path:
    """``<out>/<round>/report-<round>-<id>.pdf``, or ``portfolio-<round>.pdf`` beside them.

    Raises ``files.UnsafePath`` for a label or id that would leave its folder."""
    name = f"portfolio-{round_label}.pdf" if partnership_id is None else f"report-{round_label}-{partnership_id}.pdf"
    return files.inside(out, round_label, name)


class _WarningCollector(logging.Handler):
    """Every WeasyPrint warning of one render; ``_write_one`` tells the subsetter notice apart."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _collect_warnings() -> Iterator[list[str]]:
    handler = _WarningCollector()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _write_one(renderer: Renderer, job: PartnershipReportData | PortfolioData, path: Path) -> ReportFile:
    """Render and write one report; every failure becomes a problem on its ReportFile."""
    started = time.perf_counter()
    pid = _pid(job)
    where = path.name
    try:
        with _collect_warnings() as warnings:
            pdf = renderer.partnership_pdf(job) if pid is not None else renderer.portfolio_pdf(job)
    except AssetError as exc:
        return ReportFile(path, False, (exc.problem,), pid, time.perf_counter() - started)
    except Exception as exc:  # one broken report must not stop the others
        found = problem("MG-REPORT-002", where, reason=f"{type(exc).__name__}: {exc}")
        return ReportFile(path, False, (found,), pid, time.perf_counter() - started)
    fallback = any(is_subset_fallback(m) for m in warnings)
    problems = tuple(problem("MG-REPORT-003", where, message=m) for m in warnings if not is_subset_fallback(m))
    try:
        # Private (0600 in 0700 folders) and atomic: a crash or Ctrl-C never leaves a half-written
        # PDF, under any name.
        write_private(path, pdf)
    except OSError as exc:
        found = problem("MG-REPORT-004", str(path), reason=exc.strerror or str(exc))
        return ReportFile(path, False, (*problems, found), pid, time.perf_counter() - started, "", fallback)
    return ReportFile(path, True, problems, pid, time.perf_counter() - started, hashlib.sha256(pdf).hexdigest(),
                      fallback)


_worker: Renderer | None = None


def _worker_start(templates: str) -> None:
    """Build the worker's Renderer, then tune the garbage collector for many short renders.

    A render allocates hundreds of thousands of short-lived objects; with the default
    thresholds the cyclic collector runs thousands of times per report and rescans the
    long-lived stylesheets and fonts each time. Freezing what exists after start-up and
    collecting less often saves 5-10% per report (measured).
    """
    global _worker
    interrupt.ignore_in_worker()
    _worker = Renderer(Path(templates))
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _worker_run(job: PartnershipReportData | PortfolioData, path: Path) -> ReportFile:
    assert _worker is not None
    return _write_one(_worker, job, path)


def write_reports(
    reports: Sequence[PartnershipReportData],
    out: str | Path,
    portfolio: PortfolioData | None = None,
    *,
    workers: int | None = None,
    renderer: Renderer | None = None,
    on_done: Callable[[ReportFile], None] | None = None,
) -> ReportFiles:
    """Write one PDF per partnership and the portfolio report under ``<out>/<round>/``.

    Returns a ReportFile per file, in input order (portfolio last), and ``notes`` for the run. A report that fails is
    reported, not raised: the others are still written. Batches larger than a few reports go
    to a pool of ``workers`` processes (default: one per core), each with its own Renderer.
    """
    out = Path(out)
    jobs: list[tuple[PartnershipReportData | PortfolioData, Path]] = []
    results: dict[int, ReportFile] = {}
    for data in [*reports, *([portfolio] if portfolio is not None else [])]:
        pid = _pid(data)
        refused = None
        if not files.valid_label(data.round):
            refused = problem("MG-REPORT-001", "", value=data.round)
        elif pid is not None and not files.valid_label(pid):
            refused = problem("MG-REPORT-012", "", value=pid)
        else:
            try:
                path = report_path(out, data.round, pid)
            except files.UnsafePath:
                refused = problem("MG-REPORT-001", "", value=data.round)
        if refused is not None:
            bad = out / "refused"
            results[len(jobs)] = ReportFile(bad, False, (refused,), pid)
            jobs.append((data, bad))
            continue
        jobs.append((data, path))

    todo = [i for i in range(len(jobs)) if i not in results]
    workers = workers or os.cpu_count() or 1
    # A process costs about a second to start (imports, stylesheets, fonts): not worth it
    # for a handful of reports.
    if workers <= 1 or len(todo) < 4 * workers:
        own = renderer or default_renderer()
        for i in todo:
            results[i] = _write_one(own, *jobs[i])
            if on_done:
                on_done(results[i])
    else:
        templates = str(renderer.templates if renderer else TEMPLATES)
        # A worker that dies (it should not; WeasyPrint runs C libraries) breaks the whole
        # pool: what was not finished gets one more try in a fresh pool before it is failed.
        for attempt in (1, 2):
            todo = _run_pool(jobs, todo, results, workers, templates, on_done, last=attempt == 2)
            if not todo:
                break
    return ReportFiles(results[i] for i in range(len(jobs)))


def _pid(data: PartnershipReportData | PortfolioData) -> str | None:
    return data.partnership.id if isinstance(data, PartnershipReportData) else None


def _run_pool(jobs, todo, results, workers, templates, on_done, last: bool) -> list[int]:
    """Run ``todo`` in a process pool; return the indexes left undone by a broken pool."""
    unfinished = []
    started = time.time()
    # spawn, not fork: the caller may hold database connections or threads.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=_worker_start, initargs=(templates,)) as pool:
        with interrupt.starting_workers():  # spawned at the first submits
            futures = {pool.submit(_worker_run, *jobs[i]): i for i in todo}
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:
                    if not last:
                        unfinished.append(i)
                        continue
                    data, path = jobs[i]
                    found = problem("MG-REPORT-002", path.name, reason=f"{type(exc).__name__}: {exc}")
                    results[i] = ReportFile(path, False, (found,), _pid(data))
                if on_done:
                    on_done(results[i])
        except KeyboardInterrupt:
            _stop(pool, futures, jobs, results, on_done, started)
            raise
    return sorted(unfinished)


def _stop(pool: ProcessPoolExecutor, futures: dict, jobs, results: dict[int, ReportFile],
          on_done: Callable[[ReportFile], None] | None, started: float) -> None:
    """Ctrl-C: stop the workers at once (a report takes seconds, and a worker still starting up
    would not survive the main process leaving first), and tell ``on_done`` of every report that
    was written whole all the same, even one whose worker was stopped before it could say so."""
    for process in list(pool._processes.values()):  # Python 3.14: pool.terminate_workers()
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
    for future, i in futures.items():
        if i in results:
            continue
        data, path = jobs[i]
        if future.done() and not future.cancelled() and future.exception() is None:
            results[i] = future.result()
        elif path.exists() and path.stat().st_mtime >= started:  # renamed into place: whole
            results[i] = ReportFile(path, True, (), _pid(data), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            discard_partial(path)
            continue
        if on_done:
            on_done(results[i])
