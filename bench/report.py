"""The benchmarks' figures side by side, from bench/results/*.json.

    python bench/report.py           # print one line per benchmark: figure, target, met or missed
    python bench/report.py --readme  # also merge them into the Results table of bench/README.md

The README's table sits between ``<!-- results:start -->`` and
``<!-- results:end -->``, one row per (date, benchmark): ``--readme`` replaces
the rows of the same date and benchmark with the figures in results/ and
keeps every other row (older runs stay as history), newest first. Nothing is
measured here; run the benchmarks first (``make bench``).
Exits 1 when a result in results/ missed its target.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
HEADER = ("| date | benchmark | N | baseline | mailflow | ratio | target | met | machine |\n"
          "|---|---|---|---|---|---|---|---|---|")
ORDER = ["ingest", "imap", "latency", "memory: backlog", "memory: 25 MB attachment", "memory: 200 MB attachment",
         "memory: forwarded mail carrying 50 MB", "memory: pasted text of 50 MB", "memory: poll --once, mails of 3.9 MB",
         "memory: the backlog month's report"]


def _machine(r: dict) -> str:
    return f"{r.get('machine', '?')}, Python {r.get('python', '?')}"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def rows() -> list[tuple[str, str, list[str], bool]]:
    """(date, benchmark, cells after the first two, met) for each result file present."""
    out = []
    results = HERE / "results"

    def load(name: str) -> dict | None:
        path = results / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    if r := load("ingest"):
        ok = r["ratio"] >= r["target"]
        out.append((r["date"], "ingest", [
            f"{r['n']:,}", f"{r['ceiling_msgs_per_s']:,.0f} msg/s", f"{r['mailflow_msgs_per_s']:,.1f} msg/s",
            f"{r['ratio']:.1%}", f"≥ {r['target']:.0%}", _met(ok), _machine(r)], ok))
    if r := load("imap"):
        ok = r["ratio"] >= r["target"]
        out.append((r["date"], "imap", [
            f"{r['n']:,}", f"{r['bare_fetch_msgs_per_s']:,.0f} msg/s" + (
                f" (stock IMAPClient, trace on: {stock:,.0f})" if (stock := r.get("reference_stock_imapclient_msgs_per_s"))
                else ""),
            f"{r['mailflow_msgs_per_s']:,.1f} msg/s", f"{r['ratio']:.1%}", f"≥ {r['target']:.0%}", _met(ok),
            _machine(r)], ok))
    if r := load("latency"):
        ok = r["p95_ms"] <= r["target_p95_ms"]
        bare95 = r.get("bare_idle_p95_ms")
        out.append((r["date"], "latency", [
            f"{r['n']:,}", f"bare IDLE p50 {r['bare_idle_p50_ms']:,.0f} ms" + (f", p95 {bare95:,.0f} ms" if bare95 else ""),
            f"p50 {r['p50_ms']:,.0f} ms, p95 {r['p95_ms']:,.0f} ms",
            f"p95 {r['p95_ms'] / bare95:.2f}× bare" if bare95 else "—",
            f"p95 ≤ {r['target_p95_ms'] / 1000:g} s", _met(ok), _machine(r)], ok))
    if r := load("memory"):
        target = r["target_mb"]
        if "backlog_peak_rss_mb" in r:
            ok = r["backlog_peak_rss_mb"] <= target
            out.append((r["date"], "memory: backlog", [
                f"{r['backlog_n']:,}", f"idle {r['baseline_rss_mb']:.0f} MB", f"peak {r['backlog_peak_rss_mb']:.0f} MB",
                "—", f"≤ {target} MB", _met(ok), _machine(r)], ok))
        ok = r.get("big_peak_rss_mb", r.get("peak_rss_mb", 0)) <= target
        out.append((r["date"], "memory: 25 MB attachment", [
            "1", f"idle {r['baseline_rss_mb']:.0f} MB", f"peak {r.get('big_peak_rss_mb', r.get('peak_rss_mb')):.0f} MB",
            "—", f"≤ {target} MB", _met(ok), _machine(r)], ok))
        if "huge_peak_rss_mb" in r:
            ok = r["huge_peak_rss_mb"] <= target
            out.append((r["date"], f"memory: {r['huge_attachment_mb']} MB attachment", [
                "1", f"idle {r['baseline_rss_mb']:.0f} MB", f"peak {r['huge_peak_rss_mb']:.0f} MB",
                "—", f"≤ {target} MB", _met(ok), _machine(r)], ok))
        for key, what in (("forwarded_peak_rss_mb", "forwarded mail carrying"), ("pasted_peak_rss_mb", "pasted text of")):
            if key in r:
                ok = r[key] <= target
                out.append((r["date"], f"memory: {what} {r['other_mb']} MB", [
                    "1", f"idle {r['baseline_rss_mb']:.0f} MB", f"peak {r[key]:.0f} MB",
                    "—", f"≤ {target} MB", _met(ok), _machine(r)], ok))
        if "imap_peak_rss_mb" in r:
            ok = r["imap_peak_rss_mb"] <= target
            out.append((r["date"], f"memory: poll --once, mails of {r['imap_mail_mb']:.1f} MB", [
                f"{r['imap_mails']:,}", f"idle {r['baseline_rss_mb']:.0f} MB", f"peak {r['imap_peak_rss_mb']:.0f} MB",
                "—", f"≤ {target} MB", _met(ok), _machine(r)], ok))
        if "report_peak_rss_mb" in r:
            ok = r["report_peak_rss_mb"] <= target
            out.append((r["date"], "memory: the backlog month's report", [
                f"{r['backlog_n']:,} mails", f"idle {r['baseline_rss_mb']:.0f} MB",
                f"peak {r['report_peak_rss_mb']:.0f} MB in {r['report_seconds']:.0f} s",
                "—", f"≤ {target} MB", _met(ok), _machine(r)], ok))
    return out


def merge_readme(new: list[tuple[str, str, list[str], bool]]) -> None:
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{README}: no {START} … {END} block to write the results into")
    head, rest = text.split(START, 1)
    block, tail = rest.split(END, 1)
    table: dict[tuple[str, str], str] = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| 2") and len(cells) >= 2:  # a dated row
            table[(cells[0], cells[1])] = line
    for when, name, cells, _ok in new:
        table[(when, name)] = "| " + " | ".join([when, name, *cells]) + " |"

    def key(item: tuple[tuple[str, str], str]) -> tuple[str, int]:
        (when, name), _ = item
        return when, -ORDER.index(name) if name in ORDER else -len(ORDER)

    lines = [line for _, line in sorted(table.items(), key=key, reverse=True)]
    README.write_text(head + START + "\n" + HEADER + "\n" + "\n".join(lines) + "\n" + END + tail)


def main(argv: list[str]) -> int:
    found = rows()
    width = max((len(name) for _, name, _, _ in found), default=0)
    for when, name, cells, _ok in found:
        print(f"{when}  {name:<{width}} baseline {cells[1]:<32} mailflow {cells[2]:<30} ratio {cells[3]:<14} "
              f"target {cells[4]:<10} met {cells[5].strip('*')}")
    if "--readme" in argv:
        merge_readme(found)
        print(f"{README.relative_to(HERE.parent)}: results table updated")
    return 0 if all(ok for *_, ok in found) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
