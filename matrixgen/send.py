"""Email out: blank workbooks, reports and reminders, and the log that keeps track of them.

The pipeline for one batch:

1. **plan**: ``plan_blanks`` / ``plan_reports`` / ``plan_reminders`` turn what the office has
   (issued workbooks, rendered reports, who returned what) into ``Planned`` messages. The
   recipient is always the partnership's own roster contact: a planned message has no other
   address to go to, so one partnership's report cannot reach another's contact.
2. **render**: every subject and body is rendered from the Jinja2 templates in
   ``templates/email/`` (an office folder overrides them file by file) before anything is sent,
   so a template mistake stops the batch with nothing half-sent.
3. **send**: ``send_batch`` writes a log record (*sending*) before each message and updates it
   (*sent* / *failed*) after, through a ``SendLog``. A re-run skips what was sent, retries what
   failed, and leaves alone a message whose run stopped mid-send (it may have gone out).
   ``SmtpTransport`` talks to the office's server over one connection per batch;
   ``OutboxTransport`` writes ``.eml`` files instead (``--dry-run``) and records nothing.

The SMTP password is only ever read from the environment. It is not a field of any record, it
is hidden from ``Settings``' repr, and server replies are scrubbed of it before they are kept.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import smtplib
import ssl
import time
import tomllib
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Callable, Iterable, Mapping, Protocol, Sequence

import jinja2
from sqlalchemy import Engine, insert, select, update

from .errors import Problem, has_errors, problem
from .files import write_private
from .generate import ASSESSMENT
from .roster import EMAIL_RE, Partnership
from .store import Store, SubmissionDetail, SubmissionInfo, sent_messages

KINDS = ("blanks", "reports", "reminders")
TEMPLATES = Path(__file__).resolve().parent / "templates" / "email"
SETTINGS_FILE = "matrixgen.toml"

# =================================================================================================
# Settings
# =================================================================================================

# Setting name -> environment variable. The same names are the keys of the [mail] table of
# matrixgen.toml; the environment wins over the file.
ENV = {
    "smtp_host": "MATRIXGEN_SMTP_HOST",
    "smtp_port": "MATRIXGEN_SMTP_PORT",
    "smtp_security": "MATRIXGEN_SMTP_SECURITY",
    "smtp_user": "MATRIXGEN_SMTP_USER",
    "smtp_ca_file": "MATRIXGEN_SMTP_CA_FILE",
    "smtp_throttle": "MATRIXGEN_SMTP_THROTTLE",
    "mail_from": "MATRIXGEN_MAIL_FROM",
    "mail_reply_to": "MATRIXGEN_MAIL_REPLY_TO",
    "mail_contact": "MATRIXGEN_MAIL_CONTACT",
    "mail_instructions": "MATRIXGEN_MAIL_INSTRUCTIONS",
    "mail_templates": "MATRIXGEN_MAIL_TEMPLATES",
}
PASSWORD_ENV = "MATRIXGEN_SMTP_PASSWORD"
SECURITY_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True)
class Settings:
    mail_from: str
    reply_to: str = ""
    host: str = ""
    port: int = 587
    security: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None  # the server's CA, for an office server with its own certificates
    throttle: float = 0.0  # messages per minute; 0 = as fast as the server takes them
    contact: str = ""  # "Questions: ..." line in every message
    instructions: str = ""  # replaces the default how-to paragraph of the blanks message
    templates: Path | None = None  # the office's template folder, looked up before the defaults
    timeout: float = 30.0

    @property
    def sender(self) -> str:
        """The bare address for the SMTP envelope."""
        return parseaddr(self.mail_from)[1]

    @property
    def sender_name(self) -> str:
        name, addr = parseaddr(self.mail_from)
        return name or addr


@dataclass(frozen=True)
class SettingsResult:
    settings: Settings | None
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return self.settings is not None and not has_errors(self.problems)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                  *, smtp: bool = True) -> SettingsResult:
    """Settings from the environment, then the ``[mail]`` table of ``path`` (default: ./matrixgen.toml
    if it exists). ``smtp=False`` (a dry run) needs no server settings.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []
    values: dict[str, str] = {}
    where: dict[str, str] = {}
    file = Path(path) if path is not None else Path(SETTINGS_FILE)
    base = file.parent
    if path is not None or file.exists():
        table = _read_settings_file(file, problems)
        for key, value in table.items():
            if key in ("smtp_password", "password"):
                problems.append(problem("MG-SEND-005", f"{file.name}: mail.{key}", key=key))
            elif key not in ENV:
                problems.append(problem("MG-SEND-007", f"{file.name}: mail.{key}", key=key, known=", ".join(ENV)))
            else:
                values[key], where[key] = str(value).strip(), f"{file.name}: mail.{key}"
    for key, var in ENV.items():
        if env.get(var, "").strip():
            values[key], where[key] = env[var].strip(), var

    def located(key: str) -> str:
        return where.get(key, ENV[key])

    def required(key: str) -> str:
        value = values.get(key, "")
        if not value:
            problems.append(problem("MG-SEND-001", "settings", key=ENV[key], file_key=key))
        return value

    def address(key: str) -> None:
        value = values.get(key, "")
        if value and not EMAIL_RE.match(parseaddr(value)[1]):
            problems.append(problem("MG-SEND-004", located(key), value=value))

    mail_from = required("mail_from")
    address("mail_from")
    address("mail_reply_to")
    security = values.get("smtp_security", "starttls").lower()
    if security not in SECURITY_PORTS:
        problems.append(problem("MG-SEND-002", located("smtp_security"), value=values["smtp_security"]))
        security = "starttls"
    port = SECURITY_PORTS[security]
    if values.get("smtp_port"):
        try:
            port = int(values["smtp_port"])
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            problems.append(problem("MG-SEND-003", located("smtp_port"), value=values["smtp_port"]))
    throttle = 0.0
    if values.get("smtp_throttle"):
        throttle = _throttle_value(values["smtp_throttle"])
        if throttle is None:
            problems.append(problem("MG-SEND-009", located("smtp_throttle"), value=values["smtp_throttle"]))
            throttle = 0.0
    user = values.get("smtp_user", "")
    password = env.get(PASSWORD_ENV, "")
    host = required("smtp_host") if smtp else values.get("smtp_host", "")
    if smtp and user and not password:
        problems.append(problem("MG-SEND-006", PASSWORD_ENV))
    if smtp and user and security == "none":
        problems.append(problem("MG-SEND-010", located("smtp_security")))

    def folder(key: str) -> Path | None:
        if not values.get(key):
            return None
        p = Path(values[key]).expanduser()
        return p if p.is_absolute() or where[key] in ENV.values() else base / p

    templates, ca_file = folder("mail_templates"), folder("smtp_ca_file")
    if templates is not None and not templates.is_dir():
        problems.append(problem("MG-SEND-011", located("mail_templates"), path=templates))
    if smtp and ca_file is not None:
        try:
            ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            problems.append(problem("MG-SEND-012", located("smtp_ca_file"), path=ca_file, reason=_reason(exc)))
    if has_errors(problems):
        return SettingsResult(None, tuple(problems))
    settings = Settings(
        mail_from=mail_from, reply_to=values.get("mail_reply_to", ""), host=host, port=port, security=security,
        user=user, password=password, ca_file=ca_file, throttle=throttle,
        contact=values.get("mail_contact", ""), instructions=values.get("mail_instructions", ""),
        templates=templates,
    )
    return SettingsResult(settings, tuple(problems))


def _read_settings_file(file: Path, problems: list[Problem]) -> dict[str, object]:
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(problem("MG-SEND-008", file.name, reason=exc.strerror or str(exc)))
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(problem("MG-SEND-008", file.name, reason=str(exc)))
        return {}
    table = data.get("mail", {})
    if not isinstance(table, dict):
        problems.append(problem("MG-SEND-008", f"{file.name}: mail", reason="'mail' must be a table ([mail])"))
        return {}
    return table


def _throttle_value(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


# =================================================================================================
# What to send
# =================================================================================================

NOT_RETURNED, INCOMPLETE, REJECTED, SCORED = "not returned", "incomplete", "rejected", "scored"


@dataclass(frozen=True)
class Attachment:
    path: Path
    sha256: str = ""  # the hash recorded when the file was issued or rendered; "" = not checked


@dataclass(frozen=True)
class Missing:
    """An unanswered criterion of a returned workbook, for the reminder."""

    location: str  # Assessment!E12
    criterion_id: str
    text: str = ""


@dataclass(frozen=True)
class ReturnState:
    """What came back from one partnership, as far as reminders care."""

    status: str  # scored | incomplete | rejected
    missing: tuple[Missing, ...] = ()
    problems: tuple[str, ...] = ()  # why a rejected file could not be scored, as shown to staff


@dataclass(frozen=True)
class Planned:
    """One message to one partnership's roster contact."""

    kind: str
    partnership: Partnership
    attachment: Attachment | None = None
    ref: str = ""  # what makes this message different from an earlier one of the same kind
    state: str = ""  # reminders: not returned | incomplete | rejected
    missing: tuple[Missing, ...] = ()
    problems: tuple[str, ...] = ()
    problem: Problem | None = None  # found while planning: recorded as failed, never sent

    @property
    def recipient(self) -> str:
        return self.partnership.contact_email

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.partnership.id, self.ref)


def _no_contact(p: Partnership) -> Problem | None:
    return None if p.contact_email else problem("MG-SEND-030", f"roster: {p.id}", name=p.name)


def _plan_attached(kind: str, partnerships: Iterable[Partnership], files: Mapping[str, Attachment],
                   round_label: str, missing_code: str) -> list[Planned]:
    planned = []
    for p in partnerships:
        att = files.get(p.id)
        if att is None:
            planned.append(Planned(kind, p, problem=problem(missing_code, f"round {round_label}: {p.id}",
                                                            name=p.name, round=round_label)))
            continue
        # A report is a new message whenever its content is new; a blank goes once a round.
        sha = att.sha256 or _file_sha256(att.path)
        planned.append(Planned(kind, p, Attachment(att.path, sha), ref=sha if kind == "reports" else "",
                               problem=_no_contact(p)))
    return planned


def plan_blanks(partnerships: Iterable[Partnership], workbooks: Mapping[str, Attachment],
                round_label: str) -> list[Planned]:
    """Each partnership's own signed workbook (by partnership id). One per partnership a round:
    a workbook generated again is not sent again unless asked (``--resend``)."""
    return _plan_attached("blanks", partnerships, workbooks, round_label, "MG-SEND-037")


def plan_reports(partnerships: Iterable[Partnership], reports: Mapping[str, Attachment],
                 round_label: str) -> list[Planned]:
    """Each partnership's report PDF (by partnership id). A new report (another file hash) is a
    new message; the same report is not sent twice."""
    return _plan_attached("reports", partnerships, reports, round_label, "MG-SEND-036")


def plan_reminders(partnerships: Iterable[Partnership], returns: Mapping[str, ReturnState],
                   issued: Mapping[str, Attachment] | None = None) -> list[Planned]:
    """A reminder to every partnership without a scored return. Those that returned nothing get
    their workbook again (if ``issued`` has it); an incomplete return gets the list of unanswered
    cells; a rejected one, the reasons. The same reminder is not sent twice; a changed one is.
    """
    issued = issued or {}
    planned = []
    for p in partnerships:
        got = returns.get(p.id)
        if got is not None and got.status == SCORED:
            continue
        state = NOT_RETURNED if got is None else got.status
        missing = got.missing if got else ()
        problems = got.problems if got else ()
        ref = state if state == NOT_RETURNED else state + ":" + _digest(
            [m.location for m in missing] + list(problems))
        attachment = issued.get(p.id) if state == NOT_RETURNED else None
        planned.append(Planned("reminders", p, attachment, ref=ref, state=state, missing=missing,
                               problems=problems, problem=_no_contact(p)))
    return planned


def only(planned: Sequence[Planned], ids: Iterable[str], round_label: str) -> tuple[list[Planned], list[Problem]]:
    """Keep the messages of the partnerships in ``ids`` (``--partnership``); unknown ids are problems."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return list(planned), []
    known = {p.partnership.id for p in planned}
    problems = [problem("MG-SEND-035", "--partnership", value=i, round=round_label,
                        known=", ".join(sorted(known)) or "none") for i in wanted if i not in known]
    return [p for p in planned if p.partnership.id in wanted], problems


def _digest(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode("utf-8")).hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""  # reported when the message is composed


# --- from the store -----------------------------------------------------------------------------


def plan_from_store(store: Store, kind: str, round_label: str) -> list[Planned]:
    """The messages of ``kind`` for the round's roster, from what the store recorded."""
    members = store.members(round_label)
    if kind == "reports":
        # A report exists for what came back: partnerships without a current submission get none.
        returned = {s.partnership.partnership_id for s in store.submissions(round_label, current_only=True)
                    if s.partnership is not None}
        reports = {pid: Attachment(Path(r.path), r.sha256) for pid, r in store.reports(round_label).items()}
        return plan_reports([p for p in members if p.id in returned], reports, round_label)
    workbooks = issued_workbooks(store, round_label)
    if kind == "reminders":
        return plan_reminders(members, return_states(store, round_label), workbooks)
    return plan_blanks(members, workbooks, round_label)


def issued_workbooks(store: Store, round_label: str) -> dict[str, Attachment]:
    """The newest workbook generated for each partnership in the round."""
    newest: dict[str, tuple[str, Attachment]] = {}
    for w in store.issued(round_label):
        if w.partnership_id and w.generated_at >= newest.get(w.partnership_id, ("", None))[0]:
            newest[w.partnership_id] = (w.generated_at, Attachment(Path(w.path or w.file_name), w.sha256))
    return {pid: att for pid, (_, att) in newest.items()}


def return_states(store: Store, round_label: str) -> dict[str, ReturnState]:
    """What each partnership returned: its current submission, else its latest rejected one."""
    latest = latest_submissions(store, round_label)
    incomplete = {d.info.pk: d for d in store.details([s.pk for s in latest.values() if s.status == INCOMPLETE])}
    rejected = {d.info.pk: d for d in store.details([s.pk for s in latest.values() if s.status == REJECTED])}
    states: dict[str, ReturnState] = {}
    for pid, s in latest.items():
        if s.status == INCOMPLETE:
            states[pid] = ReturnState(INCOMPLETE, missing=_missing(store, incomplete[s.pk]))
        elif s.status == REJECTED:
            states[pid] = ReturnState(REJECTED, problems=tuple(
                p.message for p in rejected[s.pk].problems if p.is_error))
        else:
            states[pid] = ReturnState(s.status)
    return states


def latest_submissions(store: Store, round_label: str) -> dict[str, SubmissionInfo]:
    """Each partnership's current submission, or its latest one when none is current (rejected)."""
    found: dict[str, SubmissionInfo] = {}
    for s in store.submissions(round_label):  # in the order received
        if s.partnership is None or not s.partnership.partnership_id:
            continue
        pid = s.partnership.partnership_id
        held = found.get(pid)
        if held is None or s.current or not held.current:
            found[pid] = s
    return found


def _missing(store: Store, detail: SubmissionDetail) -> tuple[Missing, ...]:
    """Unanswered criteria, where to answer them (Sheet!Cell), in the rubric's order."""
    rubric = store.rubric(detail.info.rubric_hash) if detail.info.rubric_hash else None
    answers = {a.criterion_id: a for a in detail.answers}
    if rubric is None:
        return tuple(Missing(a.cell, a.criterion_id) for a in detail.answers if a.answer is None)
    found = []
    for c in rubric.criteria:
        a = answers.get(c.id)
        if a is None:
            found.append(Missing(f"{ASSESSMENT} sheet (its row is gone)", c.id, c.text))
        elif a.answer is None:
            found.append(Missing(a.cell, c.id, c.text))
    return tuple(found)


# =================================================================================================
# Templates and messages
# =================================================================================================


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
    }


MIME = {".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ".pdf": ("application", "pdf")}
ATTACHMENT_FIX = {
    "blanks": "generate the workbooks again, then send again",
    "reports": "render the report again with matrixgen report",
    "reminders": "generate the workbooks again",
}


class ComposeProblem(Exception):
    def __init__(self, found: Problem):
        super().__init__(str(found))
        self.problem = found


def compose(item: Planned, rendered: Rendered, settings: Settings, rnd: Round, message_id: str,
            now: datetime) -> tuple[EmailMessage, str]:
    """The message and the sha256 of its attachment ("" without one). The attachment is read
    here, once, and must still be the file that was recorded.
    """
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = settings.mail_from
    msg["To"] = Address(item.partnership.contact_name, addr_spec=item.recipient)
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    # So that staff can filter the Sent folder and replies by partnership.
    msg["X-Matrixgen-Round"] = rnd.label
    msg["X-Matrixgen-Kind"] = item.kind
    msg["X-Matrixgen-Partnership"] = item.partnership.id
    msg.set_content(rendered.text)
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html")
    sha = ""
    if item.attachment is not None:
        path = item.attachment.path
        fix = ATTACHMENT_FIX[item.kind]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ComposeProblem(problem("MG-SEND-031", f"{item.partnership.id}", path=path,
                                         reason=exc.strerror or str(exc), fix=fix)) from exc
        sha = hashlib.sha256(data).hexdigest()
        if item.attachment.sha256 and sha != item.attachment.sha256:
            raise ComposeProblem(problem("MG-SEND-032", f"{item.partnership.id}", path=path, found=sha,
                                         expected=item.attachment.sha256, fix=fix))
        maintype, subtype = MIME.get(path.suffix.lower(), ("application", "octet-stream"))
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    return msg, sha


def new_message_id(settings: Settings, item: Planned) -> str:
    # Short enough that the header is never folded: some mail tools match folded ids badly.
    # The partnership and kind travel in the X-Matrixgen-* headers instead.
    domain = settings.sender.rpartition("@")[2] or "matrixgen.invalid"
    return make_msgid(domain=domain)


# =================================================================================================
# The send log
# =================================================================================================

SENDING, SENT, FAILED = "sending", "sent", "failed"


@dataclass(frozen=True)
class Record:
    """One attempt to send one message. Written as *sending* before, updated to *sent* or
    *failed* after; a record still *sending* means the run stopped mid-send.
    """

    round: str
    kind: str
    partnership_id: str
    ref: str
    recipient: str
    subject: str = ""
    attachment_name: str = ""
    attachment_sha256: str = ""
    message_id: str = ""
    status: str = SENDING
    error_code: str = ""
    error: str = ""
    started_at: str = ""
    finished_at: str = ""
    id: int | None = None


class SendLog(Protocol):
    """Where records live: the store's database, or a file of its own."""

    def last(self, round: str, kind: str, partnership_id: str, ref: str) -> Record | None: ...

    def begin(self, record: Record) -> Record: ...

    def finish(self, record: Record, status: str, found: Problem | None = None) -> Record: ...

    def records(self, round: str | None = None) -> list[Record]: ...


_COLUMNS = [c.name for c in sent_messages.columns if c.name != "id"]


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SqlSendLog:
    """The send log as the store's ``sent_messages`` table. Each write is its own transaction,
    committed before the message goes out and again after it went, so a crash loses nothing
    that was sent.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now):
        self.engine = engine
        self.clock = clock

    def last(self, round: str, kind: str, partnership_id: str, ref: str) -> Record | None:
        t = sent_messages.c
        query = (select(sent_messages).where(t.round == round, t.kind == kind, t.partnership_id == partnership_id,
                                        t.ref == ref).order_by(t.id.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return Record(**row) if row else None

    def begin(self, record: Record) -> Record:
        record = replace(record, status=SENDING, started_at=_iso(self.clock()), finished_at="")
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(sent_messages).values({c: getattr(record, c) for c in _COLUMNS})).inserted_primary_key[0]
        return replace(record, id=new_id)

    def finish(self, record: Record, status: str, found: Problem | None = None) -> Record:
        record = replace(record, status=status, error_code=found.code if found else "",
                         error=str(found) if found else "", finished_at=_iso(self.clock()))
        with self.engine.begin() as conn:
            conn.execute(update(sent_messages).where(sent_messages.c.id == record.id).values(
                status=record.status, error_code=record.error_code, error=record.error,
                finished_at=record.finished_at))
        return record

    def records(self, round: str | None = None) -> list[Record]:
        query = select(sent_messages).order_by(sent_messages.c.id)
        if round is not None:
            query = query.where(sent_messages.c.round == round)
        with self.engine.connect() as conn:
            return [Record(**row) for row in conn.execute(query).mappings()]


# =================================================================================================
# Transports
# =================================================================================================


class SendFailure(Exception):
    """``fatal``: the connection or the account is unusable, so the rest of the batch stops."""

    def __init__(self, found: Problem, fatal: bool = False):
        super().__init__(str(found))
        self.problem = found
        self.fatal = fatal


class Transport(Protocol):
    def open(self) -> None: ...

    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> Path | None: ...

    def close(self) -> None: ...


class Throttle:
    """At most ``per_minute`` messages a minute, spaced evenly."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.last: float | None = None

    def wait(self) -> None:
        if self.interval and self.last is not None:
            delay = self.last + self.interval - self.clock()
            if delay > 0:
                self.sleep(delay)
        self.last = self.clock()


class SmtpTransport:
    """One connection for the whole batch; the login happens once, before the first message."""

    IDLE_CHECK = 30.0  # seconds; a throttled batch checks the connection is alive before reusing it

    def __init__(self, settings: Settings, throttle: Throttle | None = None):
        self.settings = settings
        self.throttle = throttle or Throttle(settings.throttle)
        self.conn: smtplib.SMTP | None = None
        self.used = 0.0

    def _scrub(self, text: str) -> str:
        return text.replace(self.settings.password, "********") if self.settings.password else text

    def _problem(self, code: str, exc: BaseException, **fields: object) -> Problem:
        s = self.settings
        return problem(code, f"{s.host}:{s.port}", reason=self._scrub(_reason(exc)), **fields)

    def open(self) -> None:
        s = self.settings
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        conn: smtplib.SMTP | None = None
        try:
            if s.security == "ssl":
                conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            conn.ehlo()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise SendFailure(problem("MG-SEND-022", f"{s.host}:{s.port}"), fatal=True)
                conn.starttls(context=context)
                conn.ehlo()
            if s.user:
                self._login(conn)
        except SendFailure:
            _quietly_close(conn)
            raise
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError) as exc:
            _quietly_close(conn)
            raise SendFailure(self._problem("MG-SEND-021", exc, user=s.user), fatal=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            _quietly_close(conn)
            raise SendFailure(self._problem("MG-SEND-020", exc), fatal=True) from None
        self.conn = conn
        self.used = time.monotonic()

    def _login(self, conn: smtplib.SMTP) -> None:
        """AUTH PLAIN when the server offers it (every mainstream server does, after TLS), else
        smtplib's own choice. PLAIN is sent here rather than through ``login()`` because smtplib
        encodes credentials as ASCII, while PLAIN carries UTF-8 (RFC 4616): a password with an
        accented letter would otherwise fail before it reached the server.
        """
        s = self.settings
        if "PLAIN" not in conn.esmtp_features.get("auth", "").upper().split():
            if not (s.user + s.password).isascii():
                raise smtplib.SMTPNotSupportedError(
                    "the server does not offer AUTH PLAIN, which a user name or password with non-ASCII characters needs")
            conn.login(s.user, s.password)
            return
        token = base64.b64encode(f"\0{s.user}\0{s.password}".encode("utf-8")).decode("ascii")
        code, reply = conn.docmd("AUTH", "PLAIN " + token)
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _alive(self) -> bool:
        if self.conn is None:
            return False
        if time.monotonic() - self.used < self.IDLE_CHECK:
            return True
        try:
            return self.conn.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> Path | None:
        self.throttle.wait()
        if not self._alive():
            _quietly_close(self.conn)
            self.conn = None
            self.open()
        assert self.conn is not None
        try:
            self.conn.send_message(msg, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (0, b""))
            reason = f"{code} {_text(text)}".strip()
            raise SendFailure(problem("MG-SEND-024", name, recipient=recipient, reason=self._scrub(reason))) from None
        except smtplib.SMTPSenderRefused as exc:
            code = "MG-SEND-026" if exc.smtp_code == 530 else "MG-SEND-023"
            raise SendFailure(self._problem(code, exc, sender=sender), fatal=True) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # Whether the server kept the message is unknown; the next message reconnects.
            _quietly_close(self.conn)
            self.conn = None
            raise SendFailure(problem("MG-SEND-025", name, reason=self._scrub(_reason(exc)))) from None
        except smtplib.SMTPException as exc:
            raise SendFailure(problem("MG-SEND-025", name, reason=self._scrub(_reason(exc)))) from None
        finally:
            self.used = time.monotonic()
        return None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(self.conn)
            self.conn = None


def _quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except OSError:
            pass


class OutboxTransport:
    """``--dry-run``: each message as ``<folder>/<kind>_<partnership id>.eml``, to open in a mail
    program before anything is sent. ``open`` clears the earlier dry run's files of the same kind.
    """

    def __init__(self, folder: str | Path, kind: str):
        self.folder = Path(folder)
        self.kind = kind
        self.taken: set[str] = set()

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob(f"{self.kind}_*.eml"):
            old.unlink()

    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> Path | None:
        base, n = f"{self.kind}_{name}", 1
        stem = base
        while stem.casefold() in self.taken:  # ids that differ only in case, on a case-blind disk
            n += 1
            stem = f"{base}-{n}"
        self.taken.add(stem.casefold())
        return write_private(self.folder / f"{stem}.eml", msg.as_bytes(policy=SMTP_POLICY))

    def close(self) -> None:
        pass


def outbox_folder(data_dir: str | Path, round_label: str) -> Path:
    return Path(data_dir) / "outbox" / (round_label or "no-round")


# =================================================================================================
# The batch
# =================================================================================================

SKIPPED, UNKNOWN, WRITTEN, HELD = "skipped", "unknown", "written", "held"


@dataclass(frozen=True)
class Outcome:
    """What happened to one planned message in this run.

    sent / failed (recorded); written (dry run, not recorded); skipped (sent before);
    unknown (an earlier run stopped while sending it); held (over --limit, or the batch stopped).
    """

    kind: str
    partnership_id: str
    recipient: str
    status: str
    problem: Problem | None = None
    message_id: str = ""
    path: Path | None = None


@dataclass
class SendResult:
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # the batch stopped: nothing more was tried

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.count(FAILED)

    def all_problems(self) -> list[Problem]:
        return [o.problem for o in self.outcomes if o.problem is not None] + self.problems


def send_batch(
    rnd: Round,
    items: Iterable[Planned],
    settings: Settings,
    log: SendLog,
    transport: Transport,
    *,
    templates: EmailTemplates | None = None,
    resend: bool = False,
    limit: int | None = None,
    dry_run: bool = False,
    progress: Callable[[Outcome], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> SendResult:
    """Send what has not been sent yet; record every attempt; go on past one recipient's failure.

    ``dry_run`` hands every message to ``transport`` (an ``OutboxTransport``) and records nothing.
    Outcomes come back in the order of ``items``.
    """
    items = list(items)
    result = SendResult()
    _run(rnd, items, settings, log, transport, result, templates or EmailTemplates(settings.templates),
         resend=resend, limit=limit, dry_run=dry_run, progress=progress, clock=clock)
    order = {p.partnership.id: i for i, p in reversed(list(enumerate(items)))}
    result.outcomes.sort(key=lambda o: order.get(o.partnership_id, 0))
    return result


def _run(rnd: Round, items: list[Planned], settings: Settings, log: SendLog, transport: Transport,
         result: SendResult, templates: EmailTemplates, *, resend: bool, limit: int | None, dry_run: bool,
         progress: Callable[[Outcome], None] | None, clock: Callable[[], datetime]) -> None:

    def done(outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if progress is not None:
            progress(outcome)

    pending: list[tuple[Planned, Record | None]] = []
    seen: set[tuple[str, str, str]] = set()
    for item in items:
        if item.key in seen:
            continue
        seen.add(item.key)
        last = log.last(rnd.label, *item.key)
        if last is not None and not resend and last.status in (SENT, SENDING):
            if last.status == SENT:
                done(Outcome(item.kind, item.partnership.id, last.recipient, SKIPPED, message_id=last.message_id))
            else:
                done(Outcome(item.kind, item.partnership.id, last.recipient, UNKNOWN, message_id=last.message_id,
                             problem=problem("MG-SEND-034", item.partnership.id, message_id=last.message_id,
                                             recipient=last.recipient)))
            continue
        pending.append((item, last))
    if limit is not None:
        for item, _ in pending[limit:]:
            done(Outcome(item.kind, item.partnership.id, item.recipient, HELD))
        pending = pending[:limit]

    try:  # a template mistake stops the batch before anything goes out
        rendered = [None if item.problem else templates.render(item.kind, template_context(rnd, item, settings))
                    for item, _ in pending]
    except TemplateProblem as exc:
        result.problems.append(exc.problem)
        for item, _ in pending:
            done(Outcome(item.kind, item.partnership.id, item.recipient, HELD))
        return

    opened = False
    try:
        for index, ((item, last), text) in enumerate(zip(pending, rendered)):
            record = Record(rnd.label, item.kind, item.partnership.id, item.ref, item.recipient,
                            attachment_name=item.attachment.path.name if item.attachment else "")
            if item.problem is not None or text is None:
                _fail(log, record, item.problem, dry_run, done)
                continue
            # A retry keeps the Message-ID of the failed attempt: if that one did arrive after all,
            # mail programs show the two as one message. A deliberate resend gets its own.
            message_id = last.message_id if last is not None and last.status != SENT and last.message_id \
                else new_message_id(settings, item)
            try:
                msg, sha = compose(item, text, settings, rnd, message_id, clock())
            except ComposeProblem as exc:
                _fail(log, replace(record, subject=text.subject, message_id=message_id), exc.problem, dry_run, done)
                continue
            record = replace(record, subject=text.subject, message_id=message_id, attachment_sha256=sha)
            if not opened:
                try:
                    transport.open()
                except SendFailure as exc:
                    result.problems.append(exc.problem)
                    _hold_rest(pending[index:], done)
                    return
                opened = True
            if dry_run:
                path = transport.send(msg, settings.sender, item.recipient, item.partnership.id)
                done(Outcome(item.kind, item.partnership.id, item.recipient, WRITTEN, message_id=message_id, path=path))
                continue
            record = log.begin(record)
            try:
                transport.send(msg, settings.sender, item.recipient, item.partnership.id)
            except SendFailure as exc:
                log.finish(record, FAILED, exc.problem)
                done(Outcome(item.kind, item.partnership.id, item.recipient, FAILED, exc.problem, message_id))
                if exc.fatal:
                    rest = pending[index + 1:]
                    result.problems.append(problem("MG-SEND-027", "", reason=exc.problem.message, count=len(rest)))
                    _hold_rest(rest, done)
                    return
                continue
            log.finish(record, SENT)
            done(Outcome(item.kind, item.partnership.id, item.recipient, SENT, message_id=message_id))
    finally:
        if opened:
            transport.close()


def _fail(log: SendLog, record: Record, found: Problem | None, dry_run: bool, done: Callable[[Outcome], None]) -> None:
    """A message that cannot even be composed is still recorded as failed, so that it shows."""
    if not dry_run:
        log.finish(log.begin(record), FAILED, found)
    done(Outcome(record.kind, record.partnership_id, record.recipient, FAILED, found, record.message_id))


def _hold_rest(rest: Sequence[tuple[Planned, Record | None]], done: Callable[[Outcome], None]) -> None:
    for item, _ in rest:
        done(Outcome(item.kind, item.partnership.id, item.recipient, HELD))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}".strip()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return re.sub(r"\s+", " ", text) or type(exc).__name__
