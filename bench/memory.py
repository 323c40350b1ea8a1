"""Peak memory of `mailflow ingest`: a 10,000-mail backlog, one mail with a 25 MB attachment, one with 200 MB,
a forwarded mail carrying 50 MB, and 50 MB of log pasted into a mail's text; of `poll --once`; of the
monthly report of the backlog's month.

Target: peak RSS <= 200 MB in each case, whatever the backlog or attachment size.

Each case runs `mailflow ingest` in a fresh interpreter (the click command
itself, ``mailflow.cli.cli.main([... "ingest", PATH])``, in-process in that
child) and reports the larger of the child's VmHWM and the PSS of the child
and the parsing processes it starts, summed and sampled every 50 ms:

- backlog: N generated mails (``bench/generate.py``, seed 7, attachments up
  to 2 MB; N = 10,000, MAILFLOW_BENCH_MEMORY_N to change) in one directory,
  ingested in one run;
- big: one mail carrying a 25 MB attachment (34 MB on the wire in base64;
  MAILFLOW_BENCH_ATTACHMENT_MB to try another size);
- huge: one mail carrying a 200 MB attachment (270 MB on the wire;
  MAILFLOW_BENCH_HUGE_MB): large mail is spooled while it is read
  (``mailflow/fetch/spool.py``), so this costs what the 25 MB one does.
- forwarded: a mail forwarding (``message/rfc822``) a mail that carries a
  50 MB file (MAILFLOW_BENCH_OTHER_MB): the forwarded mail is an attachment
  like any other, stored as it came.
- pasted: a mail whose plain text is 50 MB of server log
  (MAILFLOW_BENCH_OTHER_MB): its first megabyte is read as the mail, the
  whole text is kept as a file.
- imap: `mailflow poll --once` (instead of ingest) of 40 mails of 3.9 MB
  each in a real Dovecot on loopback (``tests/dovecot_server.py``): just
  under the size from which a mail is spooled, so each is fetched whole. It
  sends its replies as it goes to an SMTP server in this process
  (``tests/smtp_sink.py``); until 2026-12-07 it had no relay and sent nothing.
  Until 2026-12-07 a FETCH took up to 32 MiB of them while the pipeline took
  4 MiB a transaction, and this peaked at 207 MB.
- report: `mailflow report --month 2026-11 --format html` on the backlog's
  database (the generated mail all falls in that month: about 6,500
  requirements). Until 2026-12-07 its common needs compared every pair of
  requests, and this took 9 GB and more than seven minutes.

The baseline is the same interpreter after importing mailflow and loading the
runtime (rules, templates), doing nothing, so the figures show what the mail
itself costs. The database schema is created beforehand in its own process,
as `mailflow db upgrade` does before a service starts. Writes
bench/results/memory.json (memory-quick.json when N < 10,000); exits 1 when a
case exceeds the target.
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
from generate import write  # noqa: E402

TARGET_MB = 200
DEFAULT_N = 10_000
HUGE_MB = 200  # "whatever the attachment size": one far past anything held whole
OTHER_MB = 50  # a forwarded mail's file, a pasted text: each stayed whole in memory until 2026-12-07
IMAP_MAILS, IMAP_MAIL_MB = 40, 3.9  # MB on the wire: just under mailflow.fetch.spool.SPOOL_OVER (4 MiB), fetched whole

CHILD = r"""
import os, sys, threading, time
config, what = sys.argv[1], sys.argv[2]

def _pss(pid):  # proportional: pages a forked process shares with its server are counted once
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return next((int(l.split()[1]) for l in fh if l.startswith("Pss:")), 0) / 1024
    except OSError:
        return 0.0

def _descendants(root):
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found

peak_all = [0.0]
done = threading.Event()

def _sample():  # this process and the parsing processes it starts, together, every 50 ms
    while not done.wait(0.05):
        peak_all[0] = max(peak_all[0], _pss(os.getpid()) + sum(_pss(p) for p in _descendants(os.getpid())))

sampler = threading.Thread(target=_sample, daemon=True)
sampler.start()
if what == "upgrade":  # as `mailflow db upgrade` does before the service starts
    from mailflow.config import load_config
    from mailflow.store.session import open_store
    open_store(load_config(config).database_url).close()
elif what == "poll":  # `mailflow --config CONFIG poll --once`
    from mailflow.cli import cli
    cli.main(args=["--config", config, "poll", "--once"], prog_name="mailflow", standalone_mode=False, obj={})
elif what == "report":  # `mailflow --config CONFIG report --month 2026-11 --format html` of the backlog's month
    from mailflow.cli import cli
    cli.main(args=["--config", config, "report", "--month", "2026-11", "--format", "html", "-o", os.devnull],
             prog_name="mailflow", standalone_mode=False, obj={})
elif what == "-":  # idle: imports, config, rules and templates loaded
    from mailflow.cli import runtime_for
    from mailflow.config import load_config
    runtime_for(load_config(config))
else:  # `mailflow --config CONFIG ingest PATH`, the click command itself
    from mailflow.cli import cli
    cli.main(args=["--config", config, "ingest", what], prog_name="mailflow", standalone_mode=False, obj={})
done.set()
sampler.join()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so a child of a
# big parent would report the parent's peak.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print("VmHWM", int(hwm.split()[1]) / 1024)
print("PEAKALL", peak_all[0])
"""


def big_mail(path: Path, megabytes: int) -> None:
    """One client mail carrying a zip of ``megabytes`` MB, written as it is encoded (the bench holds none of it)."""
    head = ("From: wang.zhe@yuanhang.example\r\nTo: support@vendor.example.com\r\n"
            "Subject: =?utf-8?b?57O757uf5pel5b+XKOWOi+e8qeWMhSk=?=\r\n"  # 系统日志(压缩包)
            f"Message-ID: <bench-big-{megabytes}@yuanhang.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0800\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_big\"\r\n\r\n"
            "--=_big\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "附件是服务器日志,请帮忙分析报错原因。\r\n\r\n王喆\r\n139-0000-5678\r\n"
            "--=_big\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"server-logs.zip\"\r\n\r\n")
    _with_random_file(path, head, megabytes, "--=_big--\r\n")


def _with_random_file(path: Path, head: str, megabytes: int, tail: str) -> None:
    """``head``, ``megabytes`` MB of random bytes in base64, ``tail``: written as encoded, never held."""
    import base64

    with path.open("wb") as fh:
        fh.write(head.encode("utf-8"))
        left = megabytes * 1024 * 1024
        while left:
            block = os.urandom(min(left, 57 * 16384))  # whole base64 lines
            left -= len(block)
            fh.write(base64.encodebytes(block).replace(b"\n", b"\r\n"))
        fh.write(tail.encode("ascii"))


def forwarded_mail(path: Path, megabytes: int) -> None:
    """A customer's mail with a zip of ``megabytes`` MB, forwarded by our client as message/rfc822."""
    head = ("From: li.na@huaxin.example\r\nTo: support@vendor.example.com\r\nSubject: Fwd: server logs\r\n"
            f"Message-ID: <bench-fwd-{megabytes}@huaxin.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0800\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_out\"\r\n\r\n"
            "--=_out\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n转发客户的邮件，日志在附件里。\r\n"
            "--=_out\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n"
            "From: wang.zhe@yuanhang.example\r\nTo: li.na@huaxin.example\r\nSubject: logs\r\n"
            "Message-ID: <bench-fwd-inner@yuanhang.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"=_in\"\r\n\r\n--=_in\r\nContent-Type: text/plain\r\n\r\nsee zip\r\n"
            "--=_in\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"logs.zip\"\r\n\r\n")
    _with_random_file(path, head, megabytes, "--=_in--\r\n--=_out--\r\n")


def pasted_mail(path: Path, megabytes: int) -> None:
    """``megabytes`` MB of server log pasted into the text of a mail, no attachment."""
    head = ("From: wang.zhe@yuanhang.example\r\nTo: support@vendor.example.com\r\nSubject: export fails, log below\r\n"
            f"Message-ID: <bench-pasted-{megabytes}@yuanhang.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0800\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
    with path.open("wb") as fh:
        fh.write(head.encode("utf-8"))
        n, left = 0, megabytes * 1024 * 1024
        while left > 0:
            block = "".join(f"2026-11-23 10:00:00 错误 工资导出失败 row={n + i} HTTP 500\r\n" for i in range(10_000))
            data = block.encode("utf-8")[:left]
            fh.write(data)
            n, left = n + 10_000, left - len(data)


def medium_mail(n: int, megabytes: float) -> bytes:
    """A client mail of about ``megabytes`` MB (10^6 bytes) on the wire: a zip of random bytes, in base64."""
    import base64

    head = (f"From: wang.zhe@yuanhang.example\r\nTo: support@vendor.example.com\r\nSubject: server logs {n}\r\n"
            f"Message-ID: <bench-medium-{n}@yuanhang.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0800\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_m\"\r\n\r\n"
            "--=_m\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n日志在附件里。\r\n"
            "--=_m\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment; filename=\"logs-{n}.zip\"\r\n\r\n")
    binary = int(megabytes * 1e6 * 3 / 4 * 76 / 78)  # base64 is 4 characters for 3 bytes, in lines of 76 + CRLF
    body = base64.encodebytes(os.urandom(binary)).replace(b"\n", b"\r\n")
    return head.encode("utf-8") + body + b"--=_m--\r\n"


def imap_case(work: Path, mails: int, megabytes: float) -> tuple[float, float, str, float]:
    """``poll --once`` of ``mails`` mails of ``megabytes`` MB in a Dovecot of its own; the last figure is
    the largest mail's size in MB."""
    from dovecot_server import SUPPORT, DovecotServer, free_port
    from smtp_sink import SmtpSink

    (work / "imap").mkdir()
    server = DovecotServer().start()
    sink = SmtpSink(port=free_port()).start()  # the poll sends its replies as it goes: part of its peak
    try:
        largest = 0
        for n in range(mails):  # one at a time: this process need not hold them
            raw = medium_mail(n, megabytes)
            largest = max(largest, len(raw))
            server.append("INBOX", raw)
        config = work / "imap" / "mailflow.toml"
        config.write_text(config_text(work / "imap", imap_section(server, SUPPORT) + smtp_section(sink, SUPPORT)))
        child(config, "upgrade")
        own, together, out = child(config, "poll")
    finally:
        sink.stop()
        server.cleanup()
    return own, together, out, largest / 1e6


def child(config: Path, what: str) -> tuple[float, float, str]:
    """(peak RSS of the process, peak of it and its parsing processes together, in MB; the command's output).

    A backlog is parsed in a second process (``mailflow/parse/ahead.py``):
    what the service costs is both, so the target is held against the sum of
    their proportional set sizes (PSS: memory a forked worker shares with its
    server counted once), sampled every 50 ms; the process's own peak is
    exact (VmHWM), and the larger of the two is reported.
    """
    out = subprocess.run([sys.executable, "-c", CHILD, str(config), what], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    lines = out.stdout.strip().splitlines()
    own = float(next(line for line in reversed(lines) if line.startswith("VmHWM")).split()[1])
    together = float(next(line for line in reversed(lines) if line.startswith("PEAKALL")).split()[1])
    return own, max(own, together), "\n".join(line for line in lines if not line.startswith(("VmHWM", "PEAKALL")))


def case(work: Path, name: str, path: Path | None) -> tuple[float, float, str]:
    """A fresh database (schema made in its own process), then the measured process."""
    (work / name).mkdir()
    config = work / name / "mailflow.toml"
    config.write_text(config_text(work / name))
    child(config, "upgrade")
    return child(config, str(path) if path else "-")


def main() -> int:
    n = int(os.environ.get("MAILFLOW_BENCH_MEMORY_N", str(DEFAULT_N)))
    attachment_mb = int(os.environ.get("MAILFLOW_BENCH_ATTACHMENT_MB", "25"))
    huge_mb = int(os.environ.get("MAILFLOW_BENCH_HUGE_MB", str(HUGE_MB)))
    other_mb = int(os.environ.get("MAILFLOW_BENCH_OTHER_MB", str(OTHER_MB)))
    with tempfile.TemporaryDirectory(prefix="mailflow-bench-mem-") as tmp:
        work = Path(tmp)
        big_mail(work / "big.eml", attachment_mb)
        size_mb = (work / "big.eml").stat().st_size / 1024 / 1024
        big_mail(work / "huge.eml", huge_mb)
        huge_size_mb = (work / "huge.eml").stat().st_size / 1024 / 1024
        forwarded_mail(work / "forwarded.eml", other_mb)
        pasted_mail(work / "pasted.eml", other_mb)
        write(work / "backlog", n)
        backlog_mb = sum(p.stat().st_size for p in (work / "backlog").iterdir()) / 1e6
        base, _, _ = case(work, "idle", None)
        big_own, big, big_out = case(work, "big", work / "big.eml")
        _, huge, huge_out = case(work, "huge", work / "huge.eml")
        _, fwd, fwd_out = case(work, "forwarded", work / "forwarded.eml")
        _, pasted, pasted_out = case(work, "pasted", work / "pasted.eml")
        _, imap, imap_out, imap_largest = imap_case(work, IMAP_MAILS, IMAP_MAIL_MB)
        t0 = time.perf_counter()
        many_own, many, many_out = case(work, "backlog-db", work / "backlog")
        took = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, report, _ = child(work / "backlog-db" / "mailflow.toml", "report")
        report_took = time.perf_counter() - t0
    print(f"  idle baseline (imports, rules, templates loaded): {base:.0f} MB")
    print(f"  one mail of {size_mb:.0f} MB ({attachment_mb} MB attachment): {big:.0f} MB ({big_out.strip()})")
    print(f"  backlog of {n} mails ({backlog_mb:.0f} MB) in {took:.0f} s: {many:.0f} MB with its parsing process "
          f"(the process alone {many_own:.0f} MB) ({many_out.strip()})")
    print(f"  one mail of {huge_size_mb:.0f} MB ({huge_mb} MB attachment): {huge:.0f} MB ({huge_out.strip()})")
    print(f"  a forwarded mail carrying {other_mb} MB: {fwd:.0f} MB ({fwd_out.strip()})")
    print(f"  {other_mb} MB of log pasted into a mail's text: {pasted:.0f} MB ({pasted_out.strip()})")
    print(f"  poll --once of {IMAP_MAILS} mails of up to {imap_largest:.1f} MB each (each fetched whole): {imap:.0f} MB "
          f"({imap_out.strip().splitlines()[-1] if imap_out.strip() else ''})")
    print(f"  the monthly report (HTML) of the backlog's month, in {report_took:.0f} s: {report:.0f} MB")
    ok_big, ok_many, ok_huge = big <= TARGET_MB, many <= TARGET_MB, huge <= TARGET_MB
    ok_other = fwd <= TARGET_MB and pasted <= TARGET_MB and imap <= TARGET_MB and report <= TARGET_MB
    print(f"memory: peak RSS {many:.0f} MB ingesting {n} mails {'ok' if ok_many else 'MISSED'}, "
          f"{big:.0f} MB for a {attachment_mb} MB attachment {'ok' if ok_big else 'MISSED'}, "
          f"{huge:.0f} MB for a {huge_mb} MB attachment {'ok' if ok_huge else 'MISSED'}, "
          f"{fwd:.0f} MB forwarded / {pasted:.0f} MB pasted {other_mb} MB / {imap:.0f} MB polling {IMAP_MAILS} mails "
          f"of {IMAP_MAIL_MB} MB / {report:.0f} MB for the month's report {'ok' if ok_other else 'MISSED'} "
          f"(idle {base:.0f} MB); target <= {TARGET_MB} MB each")
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cores",
              "python": platform.python_version(), "baseline_rss_mb": round(base, 1),
              "attachment_mb": attachment_mb, "big_mail_mb": round(size_mb, 1), "big_peak_rss_mb": round(big, 1),
              "backlog_n": n, "backlog_mb": round(backlog_mb, 1), "backlog_peak_rss_mb": round(many, 1),
              "backlog_peak_rss_own_mb": round(many_own, 1), "big_peak_rss_own_mb": round(big_own, 1),
              "huge_attachment_mb": huge_mb, "huge_mail_mb": round(huge_size_mb, 1),
              "huge_peak_rss_mb": round(huge, 1), "other_mb": other_mb,
              "forwarded_peak_rss_mb": round(fwd, 1), "pasted_peak_rss_mb": round(pasted, 1),
              "imap_mails": IMAP_MAILS, "imap_mail_mb": round(imap_largest, 1), "imap_peak_rss_mb": round(imap, 1),
              "report_peak_rss_mb": round(report, 1), "report_seconds": round(report_took, 1),
              "peak": "max(VmHWM of the process, PSS of it and its parsing processes together sampled every 50 ms)",
              "target_mb": TARGET_MB, "ok": ok_big and ok_many and ok_huge and ok_other}
    save_result("memory", result, full=n >= DEFAULT_N and attachment_mb == 25 and huge_mb == HUGE_MB
                and other_mb == OTHER_MB)
    return 0 if ok_big and ok_many and ok_huge and ok_other else 1


if __name__ == "__main__":
    sys.exit(main())
