"""Ingest throughput: `mailflow ingest DIR` vs. the ceiling, on the same files, in the same run.

ceiling  = standard-library ``email`` parse + one SQLite insert per message
           (message-id, subject, from, first text part, raw bytes), all in
           one transaction: the floor of work any ingester must do.
mailflow = what ``mailflow ingest DIR`` does, in this process: the config is
           read by ``mailflow.config.load_config`` from a TOML file, the
           runtime built by ``mailflow.cli.runtime_for`` and the directory
           ingested by ``mailflow.cli.ingest_paths`` -- the two functions the
           ``ingest`` command calls (``mailflow/cli/mail.py``). Timed: the
           ``ingest_paths`` call (reading, parsing, threading, classifying,
           recording, rendering and queueing the replies, one transaction per
           mail) on SQLite, schema already created; the runtime's load time
           (rules, templates, Alembic check) is printed beside it, not counted,
           as the ceiling's table creation is not.

The mail: ``bench/generate.py`` (seed 7), N = 10,000 by default
(MAILFLOW_BENCH_N), written as DIR/000000.eml … and ingested in that order.
The config trusts ``mx.vendor.example.com``'s Authentication-Results, so the
staff commands in the mix are applied, not refused. The outcome of every
mail is checked against what the generator meant (new / follow-up / staff /
automated, and the REQ id): a mismatch means the benchmark measured
something else, and fails it.

The ceiling and mailflow alternate for ROUNDS rounds (MAILFLOW_BENCH_ROUNDS,
3 by default): ceiling, mailflow, ceiling, mailflow, ..., ceiling. Each
round's ratio is taken against the mean of the two ceilings around it, and
the median round is the result: this machine's speed drifts by a quarter
within minutes, and one pair of runs moved by ±5 points between identical
runs. Every round's figures are printed and kept in the JSON. Each mailflow
round ingests into a database and attachment store of its own.

Prints each round's rates and the median ratio against the target (>= 40% of the ceiling);
writes bench/results/ingest.json (ingest-quick.json when N < 10,000); exits 1
when the target is missed or the outcomes are wrong.
"""

from __future__ import annotations

import email
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from common import config_text, save_result  # noqa: E402
from generate import expected, write_with_meta  # noqa: E402

TARGET = 0.40
DEFAULT_N = 10_000
DEFAULT_ROUNDS = 3


def ceiling(paths: list[Path], db: Path) -> float:
    return floor((p.read_bytes() for p in paths), db)  # reading each file is inside the timing


def floor(raws: Iterable[bytes], db: Path) -> float:
    """Messages/s of the least any ingester does: parse with the standard library, insert, one transaction."""
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, message_id TEXT, subject TEXT, sender TEXT, body TEXT, raw BLOB)")
    count = 0
    t0 = time.perf_counter()
    with conn:
        for raw in raws:
            msg = email.message_from_bytes(raw)
            part = next((p for p in msg.walk() if p.get_content_maintype() == "text"), msg)
            text = (part.get_payload(decode=True) or b"").decode(part.get_content_charset() or "utf-8", "replace")
            conn.execute("INSERT INTO m (message_id, subject, sender, body, raw) VALUES (?,?,?,?,?)",
                         (msg["Message-ID"], str(msg["Subject"]), str(msg["From"]), text, raw))
            count += 1
    elapsed = time.perf_counter() - t0
    conn.close()
    return count / elapsed


def mailflow_ingest(directory: Path, config: Path) -> tuple[float, float, list]:
    """(seconds ingesting, seconds loading the runtime, outcomes): the `mailflow ingest DIR` code path."""
    from mailflow.cli import ingest_paths, runtime_for
    from mailflow.config import load_config
    from mailflow.store.session import open_store

    cfg = load_config(str(config))
    open_store(cfg.database_url).close()  # the schema, as `mailflow db upgrade` makes it before the service starts
    t0 = time.perf_counter()
    rt = runtime_for(cfg)
    t1 = time.perf_counter()
    outcomes: list = []  # each one, for the check against what the generator meant
    _, unreadable = ingest_paths(rt, [str(directory)], verbose=False, on_outcome=outcomes.append)
    t2 = time.perf_counter()
    if unreadable:
        raise SystemExit(f"{unreadable} file(s) could not be read")
    return t2 - t1, t1 - t0, outcomes


def check(metas: list, outcomes: list) -> tuple[list[str], Counter]:
    """Mismatches between what the generator meant and what mailflow did; staff commands applied/refused."""
    problems = []
    for meta, outcome in zip(metas, outcomes, strict=True):
        if outcome.kind != meta.kind or (meta.requirement and outcome.requirement_id != meta.requirement):
            problems.append(f"{outcome.source}: expected {meta.kind} {meta.requirement or ''}, got {outcome.kind} "
                            f"{outcome.requirement_id or ''} {outcome.reason}".rstrip())
    commands = Counter("refused" if o.reason.startswith("commands refused") else "applied"
                       for o in outcomes if o.kind == "staff")
    return problems, commands


def main() -> int:
    n = int(os.environ.get("MAILFLOW_BENCH_N", str(DEFAULT_N)))
    rounds = max(1, int(os.environ.get("MAILFLOW_BENCH_ROUNDS", str(DEFAULT_ROUNDS))))
    runs = []  # (ceiling before, mailflow msg/s, ceiling after, seconds, load seconds, outcomes)
    with tempfile.TemporaryDirectory(prefix="mailflow-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        paths, metas = write_with_meta(work / "mail", n)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        print(f"ingest: generated {n} mails ({megabytes:.0f} MB, {sum(m.attachments for m in metas)} attachments) "
              f"in {time.perf_counter() - t0:.0f} s; expecting {expected(metas)}; {rounds} round(s)", flush=True)
        before = ceiling(paths, work / "ceiling-0.db")
        for number in range(1, rounds + 1):
            own = work / f"round-{number}"
            own.mkdir()
            (own / "mail").symlink_to(work / "mail")
            config = own / "mailflow.toml"
            config.write_text(config_text(own))
            seconds, load, outcomes = mailflow_ingest(own / "mail", config)
            after = ceiling(paths, work / f"ceiling-{number}.db")
            runs.append((before, n / seconds, after, seconds, load, outcomes))
            print(f"  round {number}: ceiling {before:,.0f} msg/s, mailflow {n / seconds:,.1f} msg/s "
                  f"({seconds:.1f} s; runtime load {load:.2f} s not counted), ceiling {after:,.0f} msg/s: "
                  f"{n / seconds / ((before + after) / 2):.1%}", flush=True)
            shutil.rmtree(own)  # a round's database and attachments: some hundreds of MB
            (work / f"ceiling-{number - 1}.db").unlink()
            before = after
    ratios = [ours / ((first + last) / 2) for first, ours, last, *_ in runs]
    middle = sorted(range(len(runs)), key=lambda i: ratios[i])[len(runs) // 2]
    first, ours, last, seconds, load, outcomes = runs[middle]
    base = (first + last) / 2
    ratio = ratios[middle]
    kinds = Counter(o.kind for o in outcomes)
    problems: list[str] = []
    for *_, round_outcomes in runs:  # every round must have done what the generator meant
        more, commands = check(metas, round_outcomes)
        problems.extend(line for line in more if line not in problems)
    _, commands = check(metas, outcomes)
    print(f"  median round {middle + 1}: outcomes {dict(kinds)}; staff commands {dict(commands)}")
    for line in problems[:10]:
        print(f"  WRONG OUTCOME {line}")
    ok = ratio >= TARGET and not problems
    print(f"ingest N={n}: ceiling {base:,.0f} msg/s, mailflow {ours:,.1f} msg/s, ratio {ratio:.1%} "
          f"(median of {len(runs)} round(s): {', '.join(f'{r:.1%}' for r in ratios)}; "
          f"target >= {TARGET:.0%}) {'ok' if ratio >= TARGET else 'MISSED'}"
          + (f"; {len(problems)} mail(s) with the wrong outcome" if problems else ""))
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cores",
              "python": platform.python_version(), "n": n, "mail_mb": round(megabytes, 1),
              "how": "in-process: mailflow.cli.runtime_for + mailflow.cli.ingest_paths (the `mailflow ingest DIR` path); "
                     "ceiling and mailflow alternate, the median round is the result",
              "ceiling_msgs_per_s": round(base, 1), "ceiling_before_after": [round(first, 1), round(last, 1)],
              "mailflow_msgs_per_s": round(ours, 1),
              "mailflow_seconds": round(seconds, 1), "runtime_load_seconds": round(load, 2),
              "ratio": round(ratio, 4), "target": TARGET,
              "rounds": [{"ceiling_before": round(b, 1), "mailflow": round(m, 1), "ceiling_after": round(a, 1),
                          "ratio": round(r, 4)} for (b, m, a, *_), r in zip(runs, ratios)],
              "outcomes": dict(kinds), "expected": expected(metas),
              "wrong_outcomes": len(problems), "staff_commands": dict(commands), "ok": ok}
    save_result("ingest", result, full=n >= DEFAULT_N)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
