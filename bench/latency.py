"""Latency: a mail appended while `mailflow run` idles -> its acknowledgement at the SMTP server.

Real Dovecot, real SMTP server on loopback (the test suite's), `mailflow run`
as its own process on SQLite. Prints p50 / p95 over N mails (default 100,
MAILFLOW_BENCH_LATENCY_N), appended one at a time, each once the previous
one's acknowledgement has arrived; target p95 <= 1 s. Exits 1 when missed;
writes bench/results/latency.json (latency-quick.json when N < 100). The
baseline printed beside it is the same path without mailflow: APPEND to the
IMAP server and a bare IMAPClient IDLE seeing it, so the ratio shows what
mailflow adds.
"""

from __future__ import annotations

import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from dovecot_server import SUPPORT, DovecotServer, free_port  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402

sys.path.insert(0, str(HERE))
from common import save_result  # noqa: E402

TARGET_P95 = 1.0
DEFAULT_N = 100


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
    n = int(os.environ.get("MAILFLOW_BENCH_LATENCY_N", str(DEFAULT_N)))
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
            log: list[str] = []
            try:
                for line in proc.stderr:
                    log.append(line)
                    if ": connected" in line:
                        break
                else:
                    raise SystemExit(f"mailflow run exited before connecting:\n{''.join(log[-20:])}")
                # Keep reading its log so a full pipe can never block the daemon.
                threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()
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
    b50, b95 = statistics.median(baseline), pct(baseline, 0.95)
    print(f"latency N={n}: bare IMAP IDLE (APPEND -> EXISTS) p50 {b50 * 1000:.0f} ms, p95 {b95 * 1000:.0f} ms; "
          f"mailflow IDLE->ack p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (p95 {p95 / b95:.2f}x the bare "
          f"IDLE's); target p95 <= {TARGET_P95 * 1000:.0f} ms {'ok' if p95 <= TARGET_P95 else 'MISSED'}")
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cores",
              "python": platform.python_version(), "n": n, "p50_ms": round(p50 * 1000, 1),
              "p95_ms": round(p95 * 1000, 1), "bare_idle_p50_ms": round(b50 * 1000, 2),
              "bare_idle_p95_ms": round(b95 * 1000, 2),
              "target_p95_ms": TARGET_P95 * 1000, "ok": p95 <= TARGET_P95}
    save_result("latency", result, full=n >= DEFAULT_N)
    return 0 if p95 <= TARGET_P95 else 1


if __name__ == "__main__":
    sys.exit(main())
