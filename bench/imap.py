"""IMAP end to end: `mailflow poll --once` vs. a bare IMAPClient fetch of the same mail, in the same run.

A real Dovecot on loopback (``tests/dovecot_server.py``, started here and
stopped by its process group) gets the same N generated mails
(``bench/generate.py``, seed 7, CRLF line ends as IMAP wants them; N = 5,000,
MAILFLOW_BENCH_IMAP_N for quick runs) APPENDed in bulk (MULTIAPPEND, not
timed) to the INBOX of two users with identical content, so each side starts
from a freshly appended mailbox of its own:

baseline = a bare IMAPClient: connect, LOGIN, SELECT INBOX, SEARCH ALL, then
           UID FETCH BODY.PEEK[] of every mail in batches of 100 (mailflow's
           own batch size), LOGOUT; the bytes are received and dropped.
           The floor of any IMAP ingester (user bugs@). Measured before
           mailflow and again after it; the ratio is against the mean (the
           machine's speed drifts within minutes). imaplib's protocol trace
           is off, as mailflow runs it (``fetch.connect.quiet_trace``): stock
           IMAPClient turns it on and formats the ``repr`` of every mail for
           a logger that drops it, which made the fetch about six times
           slower. That stock fetch is measured once more and printed, not
           counted (it was this benchmark's baseline until 2026-12-07).
mailflow = ``mailflow --config … poll --once`` run as its own process, as cron
           or an operator runs it (user support@): fetch, process every mail
           (SQLite database, schema created beforehand by ``mailflow db
           upgrade``, not timed), flag each \\Seen, record its UID, and send
           the outbox over SMTP to a real aiosmtpd server on loopback
           (``tests/smtp_sink.py``, in this process) as it goes (every
           ``smtp.send_while_polling`` seconds, default 2) and at the end:
           [smtp] is configured, because sending the acknowledgements is part
           of "end to end". The time is the process's wall time, interpreter
           start included. When each reply reached the SMTP server is printed
           too (the first, the median, the last): how long clients waited.

For reference, not part of the ratio: the same mails, in memory, parsed by the
standard library and inserted into SQLite one by one in one transaction
(``ingest.floor``: the ingest ceiling's work, with no fetching, threading,
rules, replies or sending), printed beside the rate the target asks for.
On the 2-core machine that floor alone runs at about an eighth of the bare
fetch (against stock IMAPClient's, about half): the target asks the whole
pipeline, sending included, to run four times as fast as the floor of its
first two steps.

The config trusts ``mx.vendor.example.com`` (the generated staff commands
carry its dkim=pass). The summary line of the poll is checked against what
the generator meant (new / follow-ups / automated) and the mails the SMTP
server received against ``sent``; a mismatch fails the benchmark.

Prints both rates (msg/s) and the ratio against the target (mailflow >= 50%
of the bare fetch); writes bench/results/imap.json (imap-quick.json when
N < 5,000); exits 1 when the target is missed or the run did not do what it
should.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))
from common import config_text, imap_section, save_result, smtp_section  # noqa: E402
from dovecot_server import BUGS, SUPPORT, DovecotServer, free_port  # noqa: E402
from generate import expected, iter_mails  # noqa: E402
from ingest import floor  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402

TARGET = 0.50
DEFAULT_N = 5_000
BATCH = 100


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def load(server: DovecotServer, mails: list[bytes], users: tuple[str, ...]) -> None:
    """The same mails into each user's INBOX, MULTIAPPEND in chunks of at most 50 mails / 16 MB."""
    for user in users:
        with server.client(user) as client:
            chunk: list[bytes] = []
            size = 0
            for raw in mails:
                if chunk and (len(chunk) >= 50 or size + len(raw) > 16 * 1024 * 1024):
                    client.multiappend("INBOX", chunk)
                    chunk, size = [], 0
                chunk.append(raw)
                size += len(raw)
            if chunk:
                client.multiappend("INBOX", chunk)


def bare_fetch(server: DovecotServer, user: str, *, trace: bool = False) -> tuple[float, int, int]:
    """(seconds, mails, bytes): login, select, UID FETCH BODY.PEEK[] of everything in batches.

    ``trace``: leave imaplib's protocol trace as stock IMAPClient sets it (on, formatted, dropped).
    """
    from imapclient import IMAPClient

    received = count = 0
    t0 = time.perf_counter()
    client = IMAPClient(server.host, port=server.port, ssl=False, timeout=60)
    if not trace:
        client._imap.debug = 0  # what mailflow.fetch.connect.quiet_trace does
    client.login(user, server.users[user])
    client.select_folder("INBOX")
    uids = sorted(client.search("ALL"))
    for start in range(0, len(uids), BATCH):
        for data in client.fetch(uids[start:start + BATCH], [b"BODY.PEEK[]"]).values():
            received += len(data[b"BODY[]"])
            count += 1
    client.logout()
    return time.perf_counter() - t0, count, received


def mailflow_poll(config: Path, work: Path) -> tuple[float, dict[str, int], str, float]:
    """(seconds, the summary line's figures, stderr, its start on time.monotonic()) of one `mailflow poll --once`."""
    base = [sys.executable, "-m", "mailflow.cli", "--config", str(config)]
    subprocess.run([*base, "db", "upgrade"], check=True, cwd=ROOT, capture_output=True)
    with open(work / "poll.out", "w+") as out, open(work / "poll.err", "w+") as err:
        started = time.monotonic()
        t0 = time.perf_counter()
        proc = subprocess.run([*base, "poll", "--once"], cwd=ROOT, stdout=out, stderr=err)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"mailflow poll --once exited {proc.returncode}:\n{stdout[-2000:]}\n{stderr[-3000:]}")
    # "fetched 5000 / new 3270 / follow-ups 760 / staff 290 / skipped automated 680 / duplicates 0 / failed 0 / sent 6500"
    figures = {part.rsplit(" ", 1)[0].strip(): int(part.rsplit(" ", 1)[1]) for part in lines[-1].split(" / ")}
    return seconds, figures, stderr, started


def main() -> int:
    n = int(os.environ.get("MAILFLOW_BENCH_IMAP_N", str(DEFAULT_N)))
    with tempfile.TemporaryDirectory(prefix="mailflow-bench-imap-") as tmp:
        work = Path(tmp)
        metas = []
        mails = []
        for mail in iter_mails(n):
            mails.append(crlf(mail.raw))
            metas.append(mail)
        megabytes = sum(len(m) for m in mails) / 1e6
        want = expected(metas)
        del metas
        server = DovecotServer().start()
        sink = SmtpSink(port=free_port()).start()
        try:
            t0 = time.perf_counter()
            load(server, mails, (BUGS, SUPPORT))
            print(f"imap: {n} mails ({megabytes:.0f} MB) appended to two mailboxes in {time.perf_counter() - t0:.0f} s "
                  f"(not timed); expecting {want}", flush=True)
            stored = floor(mails, work / "floor.db")  # for reference only: what the target asks, set against it
            del mails
            bare_s, bare_n, bare_bytes = bare_fetch(server, BUGS)
            before = bare_n / bare_s
            print(f"  bare IMAPClient fetch: {bare_n} mails, {bare_bytes / 1e6:.0f} MB in {bare_s:.1f} s = "
                  f"{before:,.0f} msg/s", flush=True)
            config = work / "mailflow.toml"
            config.write_text(config_text(work, imap_section(server, SUPPORT)
                                          + smtp_section(sink, SUPPORT, "timeout = 60\n")))
            seconds, figures, stderr, started = mailflow_poll(config, work)
            arrivals = sorted(r.at - started for r in sink.received)
            again_s, again_n, _ = bare_fetch(server, BUGS)
            after = again_n / again_s
            base = (before + after) / 2
            print(f"  bare IMAPClient fetch again, after mailflow: {after:,.0f} msg/s; the ratio is "
                  f"against their mean, {base:,.0f} msg/s", flush=True)
            stock_s, stock_n, _ = bare_fetch(server, BUGS, trace=True)
            stock = stock_n / stock_s
            received = len(sink.received)
        finally:
            sink.stop()
            server.cleanup()
    ours = n / seconds
    problems = []
    if bare_n != n or again_n != n or stock_n != n:
        problems.append(f"the bare fetch got {bare_n}, {again_n} and {stock_n} mails, not {n}")
    checks = {"fetched": n, "new": want["new"], "follow-ups": want["follow_up"], "staff": want["staff"],
              "skipped automated": want["automated"], "duplicates": 0, "failed": 0}
    problems += [f"{key} {figures.get(key)} (expected {value})" for key, value in checks.items()
                 if figures.get(key) != value]
    if figures.get("sent") != received or not received:
        problems.append(f"sent {figures.get('sent')} but the SMTP server received {received}")
    print(f"  mailflow poll --once: {seconds:.1f} s = {ours:,.1f} msg/s; {figures}")
    first_reply = arrivals[0] if arrivals else None
    if arrivals:
        print(f"  replies reached the SMTP server from {arrivals[0]:.1f} s to {arrivals[-1]:.1f} s after the poll "
              f"started (median {arrivals[len(arrivals) // 2]:.1f} s): how long the first client waited")
    if problems:
        print("  WRONG: " + "; ".join(problems) + "\n" + "\n".join(stderr.strip().splitlines()[-10:]))
    ratio = ours / base
    ok = ratio >= TARGET and not problems
    print(f"  for reference: parsing these mails with the standard library and inserting each into SQLite "
          f"(the ingest ceiling's work: no fetching, threading, rules, replies or sending) runs at "
          f"{stored:,.0f} msg/s, {stored / base:.0%} of the bare fetch; the target asks for {TARGET * base:,.0f} msg/s "
          f"end to end")
    print(f"  for reference: stock IMAPClient (imaplib's trace on, formatted and dropped) fetched the same mails at "
          f"{stock:,.0f} msg/s; against that, mailflow's rate is {ours / stock:.1%}")
    print(f"imap N={n}: bare fetch {base:,.0f} msg/s, mailflow poll --once {ours:,.1f} msg/s (including sending "
          f"{figures.get('sent')} mails), ratio {ratio:.1%} (target >= {TARGET:.0%}) "
          f"{'ok' if ratio >= TARGET else 'MISSED'}" + ("; the run was wrong" if problems else ""))
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cores",
              "python": platform.python_version(), "n": n, "mail_mb": round(megabytes, 1),
              "bare_fetch_msgs_per_s": round(base, 1), "bare_fetch_seconds": round(bare_s, 2),
              "bare_fetch_before_after": [round(before, 1), round(after, 1)],
              "mailflow_msgs_per_s": round(ours, 1), "mailflow_seconds": round(seconds, 1),
              "mailflow_summary": figures,
              "first_reply_seconds": None if first_reply is None else round(first_reply, 2),
              "median_reply_seconds": round(arrivals[len(arrivals) // 2], 2) if arrivals else None,
              "smtp_received": received, "ratio": round(ratio, 4), "target": TARGET,
              "reference_parse_and_insert_msgs_per_s": round(stored, 1),
              "reference_stock_imapclient_msgs_per_s": round(stock, 1),
              "problems": problems, "ok": ok}
    save_result("imap", result, full=n >= DEFAULT_N)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
