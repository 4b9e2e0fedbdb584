"""Benchmark: `matrixgen collect` on 1,000 messages, each with one workbook, from a local Dovecot,
scored, stored and answered with a receipt to a local SMTP server (aiosmtpd).

    python benchmarks/bench_collect.py [--n 1000]

Needs Dovecot (Debian's dovecot-imapd): it starts a private one with .ci/services/dovecot.sh
(or uses MATRIXGEN_TEST_IMAP_URL). Setting up (workbooks, filling them, appending the messages)
is not timed; the timed part is the `matrixgen collect -s` process, start to exit.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
SECRET = "benchmark-key-not-for-production"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()

    from aiosmtpd.controller import Controller
    from imapclient import IMAPClient

    from imapserver import start_own, _server  # the tests' own way of starting Dovecot
    from mailserver import Inbox, free_port
    from matrixgen.generate import Options, generate_workbooks
    from matrixgen.roster import Partnership
    from matrixgen.rubric import require_rubric
    from matrixgen.simulate import answers_for_level, fill

    work = Path(tempfile.mkdtemp(prefix="matrixgen-bench-collect-"))
    stop = None
    if os.environ.get("MATRIXGEN_TEST_IMAP_URL"):
        server = _server(os.environ)
    else:
        server, stop = start_own()
        if server is None:
            sys.exit(f"cannot start Dovecot: {stop}")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        rubric = require_rubric()
        roster = [Partnership(f"P{i:05d}", f"Partnership {i}", f"Region {i % 12 + 1}", "Health care", f"Contact {i}",
                              f"contact{i:05d}@example.org") for i in range(args.n)]
        (work / "roster.csv").write_text("id,name,region,sector,contact_name,contact_email\n" + "".join(
            f"{p.id},{p.name},{p.region},{p.sector},{p.contact_name},{p.contact_email}\n" for p in roster))
        env = {**os.environ, "MATRIXGEN_HOME": str(work / "data"), "MATRIXGEN_SECRET": SECRET,
               "MATRIXGEN_MAIL_FROM": "Sector Team <sectors@example.org>", "MATRIXGEN_SMTP_HOST": "127.0.0.1",
               "MATRIXGEN_SMTP_PORT": str(smtp.port), "MATRIXGEN_SMTP_SECURITY": "none", **server.env("none")}
        subprocess.run([sys.executable, "-m", "matrixgen", "round", "open", "2026", "--roster",
                        str(work / "roster.csv")], env=env, check=True, capture_output=True)
        t = time.perf_counter()
        made = generate_workbooks(rubric, roster, work / "issued", Options(round="2026"), SECRET.encode())
        rng = random.Random(1)
        client = IMAPClient(server.host, server.port, ssl=False)
        client.login(server.user, server.password)
        for folder in ("matrixgen/processed", "INBOX"):
            if client.folder_exists(folder):
                client.select_folder(folder)
                uids = client.search("ALL")
                if uids:
                    client.delete_messages(uids)
                    client.expunge()
        for g in made:
            msg = EmailMessage()
            msg["From"] = f"{g.partnership.contact_name} <{g.partnership.contact_email}>"
            msg["To"], msg["Subject"], msg["Message-ID"] = "sectors@example.org", "Our workbook", make_msgid()
            msg.set_content("Please find our workbook attached.")
            data = fill(g.path.read_bytes(), answers_for_level(rubric, rng.uniform(0, 4), rng))
            msg.add_attachment(data, maintype="application",
                               subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename=g.path.name)
            client.append("INBOX", msg.as_bytes())
        client.logout()
        print(f"set up {args.n} messages in {time.perf_counter() - t:.1f} s (not timed)")

        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "matrixgen", "collect", "-s"], env=env, capture_output=True,
                              text=True)
        seconds = time.perf_counter() - t
        last = [line for line in done.stdout.splitlines() if line.startswith(f"{args.n} messages")]
        print(last[0] if last else done.stdout[-2000:] + done.stderr[-2000:])
        print(f"collect: {args.n} messages in {seconds:.1f} s ({args.n / seconds:.0f} a second), exit code "
              f"{done.returncode}; {len(inbox.received)} receipts received by the SMTP server; "
              f"{os.cpu_count()} CPUs, load average after {os.getloadavg()[0]:.1f}")
    finally:
        smtp.stop()
        if stop is not None:
            stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
