"""The whole pipeline on embedded sample data, for a first look and for the test suite.

Two rounds (2025 and 2026) for twelve fictional partnerships: workbooks issued, filled the way
real respondents do (typed-over answers, one left incomplete, one sent back as .xls, one re-saved
by LibreOffice, one never returned), scored into the demo's own store, and reported.

Every run starts clean: the demo folder is wiped (only if it is a demo folder) and rebuilt, so
the same command always shows the same result.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .batch import BatchResult, score_paths
from .generate import Generated, Options, generate_blank, generate_workbooks
from .roster import Partnership, load_roster
from .rubric import Rubric, require_rubric
from .send import WRITTEN, OutboxTransport, Round, Settings, SqlSendLog, outbox_folder, plan_from_store, send_batch
from .simulate import Returned, respond
from .status import round_status
from .store import Store
from .summary import write_outputs

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
# What goes wrong, per round: see simulate.respond; "xls" and "resaved" use committed samples.
QUIRKS = {
    "2025": {"NE-HC": "missing", "MC-IT": "retyped"},
    "2026": {"MC-IT": "retyped", "SE-AM": "incomplete", "SC-CON": "xls", "WV-HC": "resaved",
             "NW-AM": "missing"},
}
SAMPLES = {"xls": "SC-CON_2026_saved-as-xls.xls", "resaved": "WV-HC_2026_resaved-by-libreoffice.xlsx"}


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

    @property
    def store_path(self) -> Path:
        return self.out / "matrixgen.db"


def prepare(out: Path) -> None:
    """Start clean, but never wipe a folder the demo did not make."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise DemoError(f"{out} exists and is not a demo folder; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by matrixgen demo; the next demo run wipes this folder\n")


def round_options(label: str) -> Options:
    year = int(label[:4])
    return Options(round=label, due=f"March 31, {year + 1}",
                   contact="Sector partnerships team, sectors@example.org",
                   generated_at=f"{label}-01-15T09:00:00Z")


def issue_round(rubric: Rubric, partnerships: tuple[Partnership, ...], out: Path, label: str,
                store: Store) -> list[Generated]:
    folder = out / label / "issued"
    options = round_options(label)
    blank = generate_blank(rubric, folder, options, DEMO_KEY)
    made = generate_workbooks(rubric, partnerships, folder, options, DEMO_KEY)
    store.record_issue(label, rubric, [blank, *made])
    return made


def returns_for_round(rubric: Rubric, issued: list[Generated], out: Path, label: str, index: int) -> list[Returned]:
    folder = out / label / "returned"
    quirks = QUIRKS.get(label, {})
    levels = {pid: pair[index] for pid, pair in LEVELS.items()}
    rng = random.Random(f"demo-{label}")
    # Partnerships whose return is a committed sample are filled by the sample, not the simulator.
    simulated = [g for g in issued if quirks.get(g.partnership.id) not in SAMPLES]
    returned = respond(rubric, simulated, folder, levels, rng, quirks, completed_on=f"{label}-03-02")
    for g in issued:
        quirk = quirks.get(g.partnership.id)
        if quirk in SAMPLES:
            src = sample_path(SAMPLES[quirk])
            dst = folder / (Path(g.path.name).stem + src.suffix)
            shutil.copyfile(src, dst)
            returned.append(Returned(g.partnership.id, dst, levels[g.partnership.id], quirk))
    return returned


def run_demo(out: str | Path, rubric: Rubric | None = None) -> DemoResult:
    out = Path(out)
    prepare(out)
    rubric = rubric or require_rubric()
    roster = load_roster(sample_roster_path())
    result = DemoResult(out)
    store = Store.open(result.store_path, out)
    for index, label in enumerate(ROUNDS):
        issued = issue_round(rubric, roster.partnerships, out, label, store)
        result.issued[label] = issued
        result.steps.append((f"round {label}: issued {len(issued)} personalised workbooks and a generic blank",
                             str(out / label / "issued")))
        returned = returns_for_round(rubric, issued, out, label, index)
        result.returned[label] = returned
        result.steps.append((f"round {label}: {len(returned)} partnerships sent their workbook back",
                             str(out / label / "returned")))
        scored = score_paths([out / label / "returned"], store, rubric, DEMO_KEY, out / "archive",
                             round_label=label, workers=0)
        result.scored[label] = scored
        written = write_outputs(scored, out / label / "scores", [s.label for s in rubric.stages])
        counts = ", ".join(f"{n} {status}" for status, n in scored.counts().items() if n)
        result.steps.append((f"round {label}: scored into the store: {counts}", str(written[0].parent)))
    result.steps += mail_round(store, rubric, roster.partnerships, out, ROUNDS[-1])
    store.close()
    return result


DEMO_SENDER = "Sector Partnerships Team <sectors@example.org>"


def mail_round(store: Store, rubric: Rubric, partnerships: tuple[Partnership, ...], out: Path,
               label: str) -> list[tuple[str, str]]:
    """The email side of a round, as `send --dry-run` does it: the round's blanks and, after
    scoring, reminders to those still to come, written as .eml files. Nothing is sent: the demo
    has no mail server."""
    store.open_round(label, partnerships, due=round_options(label).due)
    settings = Settings(mail_from=DEMO_SENDER, contact=round_options(label).contact)
    rnd = Round(label, round_options(label).due, rubric.title)
    log = SqlSendLog(store.engine)
    folder = outbox_folder(out, label)
    blanks = send_batch(rnd, plan_from_store(store, "blanks", label), settings, log,
                        OutboxTransport(folder, "blanks"), dry_run=True)
    reminders = send_batch(rnd, plan_from_store(store, "reminders", label), settings, log,
                           OutboxTransport(folder, "reminders"), dry_run=True)
    missing = [r.partnership_id for r in round_status(store, label).rows if r.missing]
    no_email = [o.partnership_id for o in blanks.outcomes if o.problem is not None]
    return [
        (f"round {label}: {blanks.count(WRITTEN)} blank-workbook emails written, not sent"
         + (f" (no contact email: {', '.join(no_email)})" if no_email else ""), str(folder)),
        (f"round {label}: still to come: {', '.join(missing)}; {reminders.count(WRITTEN)} reminder emails written",
         str(folder)),
    ]
