"""Email templates: subject, text and HTML per kind, from the office's folder first, then ours."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import jinja2

from ..errors import Problem, problem
from .errors import reason as _reason
from .plan import Planned
from .settings import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"

@dataclass(frozen=True)
class Round:
    """The round as the emails describe it."""

    label: str
    due: str = ""
    title: str = "Sector partnership self-assessment"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


class TemplateProblem(Exception):
    def __init__(self, found: Problem):
        super().__init__(str(found))
        self.problem = found


class EmailTemplates:
    """``<kind>.subject.txt``, ``<kind>.txt`` and optionally ``<kind>.html``, from the office's folder
    first, then the defaults. HTML is autoescaped; an undefined variable is an error, not a blank.
    """

    def __init__(self, folder: Path | None = None):
        folders = ([str(folder)] if folder else []) + [str(TEMPLATES)]
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folders),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, kind: str, context: Mapping[str, object]) -> Rendered:
        name = f"{kind}.subject.txt"
        try:
            # A subject is one line whatever the template does with whitespace.
            subject = " ".join(self.env.get_template(name).render(context).split())
            name = f"{kind}.txt"
            text = self.env.get_template(name).render(context)
            name = f"{kind}.html"
            try:
                template = self.env.get_template(name)
            except jinja2.TemplateNotFound as exc:
                if exc.name != name:
                    raise
                return Rendered(subject, text, None)
            html = template.render({**context, "subject": subject})
            return Rendered(subject, text, html if html.strip() else None)  # empty: text only
        except jinja2.TemplateError as exc:
            raise TemplateProblem(problem("MG-SEND-033", _template_location(exc, name), reason=_reason(exc))) from exc


def _template_location(exc: jinja2.TemplateError, name: str) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno:
        return f"{exc.name or name} line {exc.lineno}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"templates/email/{exc.name}"
    # Jinja rewrites tracebacks so that template lines appear as frames of the template file.
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith((".txt", ".html")):
            return f"{Path(frame.filename).name} line {frame.lineno}"
    return name


def template_context(rnd: Round, item: Planned, settings: Settings) -> dict[str, object]:
    return {
        "kind": item.kind,
        "partnership": item.partnership,
        "round": rnd.label,
        "due": rnd.due,
        "title": rnd.title,
        "contact": settings.contact,
        "instructions": settings.instructions,
        "sender_name": settings.sender_name,
        "attachment": item.attachment.path.name if item.attachment else "",
        "state": item.state,
        "missing": item.missing,
        "problems": item.problems,
        "receipt": item.reply,
    }
