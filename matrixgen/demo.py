"""The whole pipeline on embedded sample data, for a first look and for the test suite.

Two rounds (2025 and 2026) for twelve fictional partnerships: each round opened, workbooks
issued, filled the way real respondents do, scored into the demo's own store, reminded and
reported. The 2026 round has every quirk an office meets: answers typed over in odd case, one
return incomplete (a blank and two answers not on the scale), one sent back as .xls, one re-saved
by LibreOffice, one password-protected, one filled in on the generic blank with the name a little
wrong, one filled in by another partnership's contact, a 2025 workbook arriving after 2025 was
closed, and one partnership that never returns. What needs a person waits in the review queue;
the demo takes one decision there, as staff would.

Every run starts clean: the demo folder is wiped (only if it is a demo folder) and rebuilt, so
the same command always shows the same result.
"""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from .batch import BatchResult
from .demo_mail import collect_round, mail_step, returns_as_mbox
from .files import private_dir, shown_path, write_private
from .simulate import Respondent, answers_for_level, fill
from .generate import Generated, Options, generate_blank, generate_workbooks
from .roster import Partnership, load_roster
from .rubric import Rubric, require_rubric
from .mail import WRITTEN, OutboxTransport, Round, Settings, SqlSendLog, outbox_folder, plan_from_store, send_batch
from .simulate import Returned, respond
from .report import ReportFile, load_reports, write_stored_reports
from .status import RoundStatus, round_status
from .store import Store
from .summary import run_folder, write_outputs

# Sample data only: a fixed key makes the demo repeatable and lets the committed sample returns
# (made with this key) verify. Real offices use MATRIXGEN_SECRET or their own key file.
DEMO_KEY = b"matrixgen-demo-sample-data-only!"
MARKER = ".matrixgen-demo"
ROUNDS = ("2025", "2026")

# Maturity per partnership and round (0 = just starting, 4 = sustainable everywhere).
LEVELS = {
    "NW-AM": (2.2, 2.9), "NC-HC": (1.2, 2.1), "NE-IT": (0.6, 1.4), "WC-AG": (1.6, 1.7),
    "CE-LOG": (3.1, 3.8), "EC-AM": (2.4, 1.7), "WV-HC": (1.9, 2.6), "SC-CON": (0.9, 1.8),
    "SE-AM": (2.8, 3.3), "SW-LOG": (1.1, 2.3), "MC-IT": (2.0, 2.8), "NE-HC": (0.4, 1.2),
}
# What goes wrong, per round: see simulate.respond; "xls", "resaved" and "password" use committed
# samples; "generic" fills the round's generic blank with GENERIC_NAMES' name, "wrong-person" has
# WRONG_PERSON's contact fill the workbook in.
QUIRKS = {
    "2025": {"NE-HC": "missing", "MC-IT": "retyped"},
    "2026": {"MC-IT": "retyped", "SE-AM": "incomplete", "SC-CON": "xls", "WV-HC": "resaved",
             "NW-AM": "missing", "SW-LOG": "password", "NE-HC": "generic", "WC-AG": "wrong-person"},
}
SAMPLES = {"xls": "SC-CON_2026_saved-as-xls.xls", "resaved": "WV-HC_2026_resaved-by-libreoffice.xlsx",
           "password": "SW-LOG_2026_password-protected.xlsx"}
GENERIC_NAMES = {"NE-HC": "Summit City Health Science Partnership"}  # its roster name has "Sciences"
WRONG_PERSON = {"WC-AG": "EC-AM"}  # WC-AG's workbook, filled in by EC-AM's contact
LATE = {"2026": ("NE-HC", "2025")}  # during 2026, NE-HC sends the 2025 workbook it never returned


def sample_roster_path() -> Path:
    return Path(str(resources.files("matrixgen") / "data" / "sample_roster.csv"))


def sample_path(name: str) -> Path:
    return Path(str(resources.files("matrixgen") / "data" / "samples" / name))


class DemoError(Exception):
    pass


@dataclass
class DemoResult:
    out: Path
    steps: list[tuple[str, str]] = field(default_factory=list)  # (what happened, where to look)
    issued: dict[str, list[Generated]] = field(default_factory=dict)
    returned: dict[str, list[Returned]] = field(default_factory=dict)
    scored: dict[str, BatchResult] = field(default_factory=dict)
    reports: list[ReportFile] = field(default_factory=list)
    status: RoundStatus | None = None
    waiting: list = field(default_factory=list)  # store.ReviewItem still waiting at the end
    decided: object | None = None  # the store.ReviewItem the demo decided
    web_password: str | None = None  # the demo user's, for `matrixgen serve` (None without the [web] extra)
    prog: str = "matrixgen"  # the command as the user can type it, in the hints printed

    @property
    def store_path(self) -> Path:
        return self.out / "matrixgen.db"


def prepare(out: Path) -> None:
    """Start clean, but never wipe a folder the demo did not make."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise DemoError(f"{out} exists and is not a demo folder; choose another --out")
        shutil.rmtree(out)
    private_dir(out)
    write_private(out / MARKER, "made by matrixgen demo; the next demo run wipes this folder\n")


def round_options(label: str) -> Options:
    year = int(label[:4])
    return Options(round=label, due=f"March 31, {year + 1}",
                   contact="Sector partnerships team, sectors@example.org",
                   generated_at=f"{label}-01-15T09:00:00Z")


def issue_round(rubric: Rubric, partnerships: tuple[Partnership, ...], out: Path, label: str,
                store: Store) -> tuple[Generated, list[Generated]]:
    """The round's generic blank and a signed workbook per partnership."""
    folder = out / label / "issued"
    options = round_options(label)
    blank = generate_blank(rubric, folder, options, DEMO_KEY)
    made = generate_workbooks(rubric, partnerships, folder, options, DEMO_KEY)
    store.record_issue(label, rubric, [blank, *made])
    return blank, made


def returns_for_round(rubric: Rubric, issued: list[Generated], out: Path, label: str, index: int,
                      blank: Generated | None = None, earlier: dict[str, list[Generated]] | None = None) -> list[Returned]:
    folder = out / label / "returned"
    quirks = QUIRKS.get(label, {})
    levels = {pid: pair[index] for pid, pair in LEVELS.items()}
    rng = random.Random(f"demo-{label}")
    own = {"generic", "wrong-person"}
    # Partnerships whose return is a committed sample are filled by the sample, not the simulator.
    simulated = [g for g in issued if quirks.get(g.partnership.id) not in (*SAMPLES, *own)]
    returned = respond(rubric, simulated, folder, levels, rng, quirks, completed_on=f"{label}-03-02")
    contacts = {g.partnership.id: g.partnership for g in issued}
    for g in issued:
        pid, quirk = g.partnership.id, quirks.get(g.partnership.id)
        if quirk in SAMPLES:
            src = sample_path(SAMPLES[quirk])
            dst = folder / (Path(g.path.name).stem + src.suffix)
            write_private(dst, src.read_bytes())
            returned.append(Returned(pid, dst, levels[pid], quirk))
        elif quirk in own:
            answers = answers_for_level(rubric, levels[pid], rng)
            if quirk == "generic" and blank is not None:
                p = contacts[pid]
                data = fill(blank.path.read_bytes(), answers,
                            Respondent(p.contact_name or "Pat Example", "Convener", p.contact_email, f"{label}-03-03"),
                            typed={"Partnership name": GENERIC_NAMES[pid], "Region": p.region, "Sector": p.sector})
                dst = folder / f"self-assessment {label} {GENERIC_NAMES[pid]}.xlsx"
            else:
                other = contacts[WRONG_PERSON[pid]]
                data = fill(g.path.read_bytes(), answers,
                            Respondent(other.contact_name, "Convener", other.contact_email, f"{label}-03-04"))
                dst = folder / g.path.name
            write_private(dst, data)
            returned.append(Returned(pid, dst, levels[pid], quirk))
    late = LATE.get(label)
    if late and earlier and late[1] in earlier:
        pid, old_round = late
        [g] = [g for g in earlier[old_round] if g.partnership.id == pid]
        dst = folder / f"{pid}_{old_round}_sent-late.xlsx"
        write_private(dst, fill(g.path.read_bytes(), answers_for_level(rubric, LEVELS[pid][0], rng)))
        returned.append(Returned(pid, dst, LEVELS[pid][0], "late"))
    # Files arrive over a few weeks in spring: their times are what `score` takes as received-at.
    spring = datetime(int(label[:4]), 3, 2, 9, 0, tzinfo=timezone.utc).timestamp()
    for i, r in enumerate(sorted(returned, key=lambda r: r.partnership_id)):
        when = spring + i * 2.5 * 86400
        os.utime(r.path, (when, when))
    return returned


def run_demo(out: str | Path, rubric: Rubric | None = None, workers: int | None = None,
             rounds: tuple[str, ...] = ROUNDS, prog: str = "matrixgen") -> DemoResult:
    """A round as staff run it, twice: close the last round, open this one, issue and email the
    workbooks, score what comes back, decide what waits in review, remind those still to come; then
    report on the latest round and email the reports."""
    out = Path(out)
    prepare(out)
    rubric = rubric or require_rubric()
    roster = load_roster(sample_roster_path())
    result = DemoResult(out, prog=prog)
    store = Store.open(result.store_path, out)
    mail = Mail(store, rubric, out)
    for index, label in enumerate(rounds):
        if index:
            store.set_round_state(rounds[index - 1], "closed")
            result.steps.append((f"round {rounds[index - 1]} closed: a return for it from now on waits in review "
                                 "as late", f"{prog} round list --db {result.store_path}"))
        store.open_round(label, roster.partnerships, due=round_options(label).due)
        blank, issued = issue_round(rubric, roster.partnerships, out, label, store)
        result.issued[label] = issued
        result.steps.append((f"round {label}: opened; issued {len(issued)} personalised workbooks and a generic blank",
                             str(out / label / "issued")))
        result.steps.append(mail.send(label, "blanks"))
        returned = returns_for_round(rubric, issued, out, label, index, blank, result.issued)
        result.returned[label] = returned
        late = [r for r in returned if r.quirk == "late"]
        result.steps.append((f"round {label}: {len(returned)} files came back"
                             + (f" ({len(returned) - len(late)} this round's, {len(late)} an earlier round's sent late)"
                                if late else ""), str(out / label / "returned")))
        # The returns came by email: collected from the mailbox (exported as an mbox file), each sender
        # answered with a receipt in the outbox. No --round: every file says which round it belongs to, or waits in review.
        mbox = returns_as_mbox(returned, roster.partnerships, label, out / label / "mailbox.mbox")
        collected = collect_round(mbox, store, rubric, DEMO_KEY, out, mail.settings(label))
        result.steps.append(mail_step(label, collected, mbox, out))
        scored = collected.batch
        result.scored[label] = scored
        written = write_outputs(scored, run_folder(out / label / "scores"), [s.label for s in rubric.stages])
        counts = ", ".join(f"{n} {'waiting for review' if status == 'review' else status}"
                           for status, n in scored.counts().items() if n)
        result.steps.append((f"round {label}: scored into the store: {counts}", str(written[1])))
        waiting = store.review_items()
        if waiting:
            result.steps.append(review_step(store, label, waiting, result))
        result.steps.append(mail.send(label, "reminders"))
    latest = rounds[-1]
    loaded = load_reports(store, latest)
    files = write_stored_reports(store, loaded, out / "reports", workers=workers)
    result.reports = files
    ok = [f for f in files if f.ok]
    result.steps.append((f"round {latest}: {len(ok)} of {len(files)} PDF reports rendered "
                         f"({len(ok) - 1 if any(f.partnership_id is None for f in ok) else len(ok)} partnerships "
                         "and the portfolio; one whose return waits in review has none yet)"
                         # such as fonts subset without HarfBuzz's subsetter: said once, as the report command does
                         + "".join(f"\n    {p.severity.value}: {p}" for p in files.notes),
                         str(out / "reports" / latest)))
    result.steps.append(mail.send(latest, "reports"))
    result.status = round_status(store, latest)
    result.waiting = store.review_items()
    result.web_password = add_demo_user(store, out)
    store.close()
    return result


def review_step(store: Store, label: str, waiting, result: DemoResult) -> tuple[str, str]:
    """What waits for a person, and the one decision the demo takes as staff would: the generic
    blank whose typed name is a near miss of a roster name is accepted as suggested."""
    lines = [f"round {label}: {len(waiting)} returns wait in the review queue:"]
    for item in waiting:
        lines.append(f"      {item.pk}  {item.file}: {item.reason_code} {item.reason.split(';')[0]}")
    near_miss = next((i for i in waiting if i.reason_code == "MG-REVIEW-001"), None)
    if near_miss is not None:
        decided = store.decide(near_miss.pk, "accept", by="demo")
        result.decided = decided
        lines.append(f"    staff accepted item {decided.pk}: it is {decided.decided_partnership.partnership_id}'s "
                     f"return for round {decided.decided_round} (`{result.prog} review accept {decided.pk}`)")
    return "\n".join(lines), f"{result.prog} review --db {result.store_path}"


def closing_summary(result: DemoResult, rubric: Rubric | None = None) -> list[str]:
    """The latest round at a glance, and the files to open first."""
    rubric = rubric or require_rubric()
    status = result.status
    assert status is not None
    rows = status.rows
    t = status.totals()
    stages = {label: 0 for label in ["Not yet at a stage", *(s.label for s in rubric.stages)]}
    for r in rows:
        if r.status in ("scored", "incomplete"):
            stages[r.overall_stage or "Not yet at a stage"] += 1
    owing = [f"{r.partnership_id} ({r.status})" for r in rows if r.missing]
    reports = [f for f in result.reports if f.ok]
    portfolio = next((f.path for f in reports if f.partnership_id is None), None)
    example = next((f.path for f in reports if f.partnership_id is not None), None)
    lines = [
        f"Round {status.label}: {len(rows)} partnerships on the roster: {t['scored']} scored, "
        f"{t['incomplete']} incomplete, {t['rejected']} rejected, {t['in review']} in review, "
        f"{t['not returned']} not returned",
        f"Still owing a scored workbook: {', '.join(owing) or 'nobody'}",
        "Overall stage: " + ", ".join(f"{k} {n}" for k, n in stages.items()),
        f"Waiting for review: {len(result.waiting)} ({result.prog} review --db {result.store_path})",
        "Open first:",
    ]
    latest_scores = sorted((result.out / status.label / "scores").glob("*/summary.xlsx"))
    for path in (portfolio, example, *latest_scores[-1:], outbox_folder(result.out, status.label)):
        if path is not None:
            lines.append(f"  {shown_path(path)}")
    if result.web_password:
        lines.append(f"In the browser: MATRIXGEN_HOME={result.out} {result.prog} serve, then sign in at "
                     f"http://127.0.0.1:8000/ as {DEMO_USER} with the password {result.web_password}")
    return lines


DEMO_USER = "demo@example.org"


def add_demo_user(store: Store, out: Path) -> str | None:
    """A staff user for `matrixgen serve` on the demo's store, with a new password each run, and the
    demo's key where `serve` looks for it (``MATRIXGEN_HOME``); None without the [web] extra."""
    try:
        from .web.accounts import Accounts
    except ImportError:
        return None
    import secrets

    from .files import write_private

    write_private(out / "secret.key", DEMO_KEY.hex() + "\n")
    password = secrets.token_urlsafe(12)
    Accounts(store.engine).add(DEMO_USER, password)
    return password


DEMO_SENDER = "Sector Partnerships Team <sectors@example.org>"


class Mail:
    """The email side of a round, as `send --dry-run` does it: messages are written as .eml files
    into the outbox and logged in the store. Nothing is sent: the demo has no mail server."""

    WHAT = {"blanks": "blank-workbook emails", "reminders": "reminder emails", "reports": "report emails"}

    def __init__(self, store: Store, rubric: Rubric, out: Path):
        self.store, self.rubric, self.out = store, rubric, out
        self.log = SqlSendLog(store.engine)

    def settings(self, label: str) -> Settings:
        return Settings(mail_from=DEMO_SENDER, contact=round_options(label).contact)

    def send(self, label: str, kind: str) -> tuple[str, str]:
        options = round_options(label)
        settings = self.settings(label)
        folder = outbox_folder(self.out, label)
        planned = plan_from_store(self.store, kind, label)
        sent = send_batch(Round(label, options.due, self.rubric.title), planned, settings, self.log,
                          OutboxTransport(folder, kind), dry_run=True)
        failed = [o.partnership_id for o in sent.outcomes if o.problem is not None]
        what = f"round {label}: {sent.count(WRITTEN)} {self.WHAT[kind]} written to the outbox"
        if kind == "reminders":
            missing = [r.partnership_id for r in round_status(self.store, label).rows if r.missing]
            what += f" (still to come: {', '.join(missing) or 'none'})"
        if failed:
            what += f"; not possible for {', '.join(failed)} (no contact email)"
        return what, str(folder)
