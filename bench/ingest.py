"""Ingest throughput: mailflow vs. the ceiling, measured in the same run.

ceiling  = standard-library email parse + one SQLite insert per message,
           all in one transaction (no routing, no replies: the floor of work)
mailflow = the full pipeline per mail (parse, thread, classify, record,
           render replies, one transaction per mail) on SQLite

Prints messages/s for both, the ratio, and peak RSS; writes
bench/results/ingest.json. N defaults to 2000 (MAILFLOW_BENCH_N to change).
"""

from __future__ import annotations

import email
import json
import os
import platform
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import write  # noqa: E402

ROOT = HERE.parent


def ceiling(paths: list[Path], db: Path) -> float:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, message_id TEXT, subject TEXT, sender TEXT, body TEXT, raw BLOB)")
    t0 = time.perf_counter()
    with conn:
        for p in paths:
            raw = p.read_bytes()
            msg = email.message_from_bytes(raw)
            part = next((p for p in msg.walk() if p.get_content_maintype() == "text"), msg)
            text = (part.get_payload(decode=True) or b"").decode(part.get_content_charset() or "utf-8", "replace")
            conn.execute("INSERT INTO m (message_id, subject, sender, body, raw) VALUES (?,?,?,?,?)",
                         (msg["Message-ID"], str(msg["Subject"]), str(msg["From"]), text, raw))
    elapsed = time.perf_counter() - t0
    conn.close()
    return len(paths) / elapsed


def mailflow_rate(paths: list[Path], work: Path) -> float:
    from mailflow import pipeline
    from mailflow.config import Config, DatabaseConfig, PathsConfig
    from mailflow.store.session import open_store

    config = Config(database=DatabaseConfig(url=f"sqlite:///{work / 'mf.db'}"),
                    paths=PathsConfig(rules=str(ROOT / "rules"), templates=str(ROOT / "reply_templates"),
                                      attachments=str(work / "att")))
    rt = pipeline.load_runtime(config, open_store(config.database_url))
    t0 = time.perf_counter()
    kinds: dict[str, int] = {}
    for p in paths:
        outcome = pipeline.process(p.read_bytes(), p.name, rt)
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
    elapsed = time.perf_counter() - t0
    print(f"  mailflow outcomes: {kinds}")
    return len(paths) / elapsed


def main() -> int:
    n = int(os.environ.get("MAILFLOW_BENCH_N", "2000"))
    target = 0.40
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = write(work / "mail", n)
        base = ceiling(paths, work / "ceiling.db")
        ours = mailflow_rate(paths, work)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ratio = ours / base
    print(f"ingest N={n}: ceiling {base:,.0f} msg/s, mailflow {ours:,.0f} msg/s, "
          f"ratio {ratio:.1%} (target >= {target:.0%}); peak RSS {rss_mb:.0f} MB")
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cores",
              "python": platform.python_version(), "n": n, "ceiling_msgs_per_s": round(base, 1),
              "mailflow_msgs_per_s": round(ours, 1), "ratio": round(ratio, 4), "target": target,
              "peak_rss_mb": round(rss_mb, 1)}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ratio >= target else 1


if __name__ == "__main__":
    sys.exit(main())
