"""Latency: a mail appended while `mailflow run` idles -> its acknowledgement at the SMTP server.

Real Dovecot, real SMTP server on loopback (the test suite's), `mailflow run`
as its own process on SQLite. Prints p50 / p95 over N mails (default 30,
MAILFLOW_BENCH_LATENCY_N); target p95 <= 1 s. The baseline printed beside it
is the same path without mailflow: APPEND to the IMAP server and a bare
IMAPClient IDLE seeing it, so the ratio shows what mailflow adds.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from dovecot_server import SUPPORT, DovecotServer, free_port  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402

TARGET_P95 = 1.0


def mail(n: int) -> bytes:
    return (f"From: Sam Doe <sam{n}@gmail.example>\r\nTo: {SUPPORT}\r\nSubject: SSO question {n}\r\n"
            f"Message-ID: <lat-{n}@gmail.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Could you add single sign-on? ({n})\r\n").encode()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def bare_idle(server: DovecotServer, n: int) -> list[float]:
    """APPEND -> a plain IMAPClient in IDLE sees EXISTS: the floor of any IDLE-based desk."""
    from imapclient import IMAPClient

    out = []
    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(SUPPORT, server.users[SUPPORT])
        client.select_folder("INBOX")
        for i in range(n):
            client.idle()
            start = time.perf_counter()
            server.append("INBOX", mail(10_000 + i))
            while not client.idle_check(timeout=5):
                pass
            out.append(time.perf_counter() - start)
            client.idle_done()
    return out


def main() -> int:
    n = int(os.environ.get("MAILFLOW_BENCH_LATENCY_N", "30"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = DovecotServer().start()
        sink = SmtpSink(port=free_port()).start()
        try:
            baseline = bare_idle(server, n)
            config = work / "mailflow.toml"
            config.write_text(f"""
[database]
url = "sqlite:///{work / 'mf.db'}"
[paths]
rules = "{ROOT / 'rules'}"
templates = "{ROOT / 'reply_templates'}"
attachments = "{work / 'att'}"
[smtp]
host = "127.0.0.1"
port = {sink.port}
security = "none"
from_address = "support@vendor.example.com"
[imap]
host = "127.0.0.1"
port = {server.port}
security = "none"
username = "{SUPPORT}"
password = "{server.users[SUPPORT]}"
""")
            proc = subprocess.Popen([sys.executable, "-m", "mailflow.cli", "--config", str(config), "run"],
                                    stderr=subprocess.PIPE, text=True, cwd=ROOT)
            try:
                for line in proc.stderr:
                    if ": connected" in line:
                        break
                time.sleep(0.5)
                got = []
                for i in range(n):
                    start = time.perf_counter()
                    server.append("INBOX", mail(i))
                    address = f"sam{i}@gmail.example"
                    while not any(address in r.rcpt_tos for r in sink.received):
                        if time.perf_counter() - start > 30:
                            raise SystemExit(f"no acknowledgement for mail {i} within 30 s")
                        time.sleep(0.005)
                    got.append(time.perf_counter() - start)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        finally:
            sink.stop()
            server.stop()
            server.cleanup()
    p50, p95 = statistics.median(got), pct(got, 0.95)
    b50 = statistics.median(baseline)
    print(f"latency N={n}: IDLE->ack p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (target p95 <= "
          f"{TARGET_P95 * 1000:.0f} ms); bare IMAP IDLE p50 {b50 * 1000:.1f} ms")
    result = {"date": date.today().isoformat(), "n": n, "p50_ms": round(p50 * 1000, 1),
              "p95_ms": round(p95 * 1000, 1), "bare_idle_p50_ms": round(b50 * 1000, 2),
              "target_p95_ms": TARGET_P95 * 1000}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if p95 <= TARGET_P95 else 1


if __name__ == "__main__":
    sys.exit(main())
