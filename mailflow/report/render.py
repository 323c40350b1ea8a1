"""The report as text (a terminal or a mail), JSON (programs) and CSV (spreadsheets).

Every renderer reads the finished ``Report``; none computes a figure, so the
formats cannot disagree. Headings are bilingual because the readers are
(product planning in China, partners abroad).

CSV is long format, ``section,key,value``, one row per figure, so a
spreadsheet can pivot months side by side. Rows of one table share a dotted
section ("top_customers.requirements", key = the customer). Text cells that
a spreadsheet would take for a formula (=, +, -, @) get a leading apostrophe:
subjects and customer names are client-written.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence

from mailflow.record.workflow import LABELS as STATUS_LABELS
from mailflow.report.model import COUNT_SECTIONS, DURATION_SECTIONS, Report, report_to_dict

HEADINGS = {
    "by_status": "按状态 / By status",
    "by_type": "按类型 / By type",
    "by_customer": "按客户 / By customer",
    "by_stage": "按阶段 / By stage",
    "by_tier": "按客户级别 / By tier",
    "by_priority": "按优先级 / By priority",
    "time_to_acknowledge": "确认收到 / To acknowledge",
    "time_to_plan": "给出计划 / To plan",
    "time_to_close": "完成 / To close",
}

# Values as a reader sees them (text and HTML); JSON and CSV keep the keys.
LABELS = {
    "by_status": {key: f"{zh} / {key.replace('_', ' ')}" for key, zh in STATUS_LABELS.items()},
    "by_type": {"bug": "问题修复 / bug", "feature": "新功能 / feature", "improvement": "功能优化 / improvement",
                "service": "服务支持 / service", "other": "其他 / other"},
    "by_stage": {"presales": "售前 / presales", "implementation": "实施中 / implementation",
                 "service": "已验收 / service"},
    "by_tier": {"strategic": "战略 / strategic", "core": "核心 / core", "standard": "普通 / standard"},
    "by_priority": {"high": "高 / high", "medium": "中 / medium", "low": "低 / low"},
}


def label(section: str, key: str) -> str:
    """A category value with its Chinese name ("bug" -> "问题修复 / bug"); unknown ones as they are."""
    return LABELS.get(section, {}).get(key, key)


def render_json(report: Report) -> str:
    return json.dumps(report_to_dict(report), ensure_ascii=False, indent=2)


# --- text ---------------------------------------------------------------------------------

def render_text(report: Report) -> str:
    """Aligned tables, widest cell per column, Chinese characters counted double wide."""
    out = [f"需求月报 / Monthly requirements report — {report.month}",
           f"期间 / Period: {report.start.isoformat()} – {report.end.isoformat()} ({report.timezone})",
           f"需求总数 / Requirements: {report.total}", ""]

    def section(title: str, headers: Sequence[str], rows: list[Sequence[object]]) -> None:
        out.append(title)
        out.extend("  " + line for line in table(headers, rows) if rows)
        if not rows:
            out.append("  无数据 / no data")
        out.append("")

    for key in COUNT_SECTIONS:
        rows = [(label(key, k), n) for k, n in getattr(report, key)]
        section(HEADINGS[key], ("", "数量 / count"), rows)

    section("处理时长（工作小时）/ Time taken (working hours)",
            ("", "n", "中位数 / median", "P90"),
            [(HEADINGS[key], getattr(report, attr).n, _num(getattr(report, attr).median),
              _num(getattr(report, attr).p90)) for key, attr in DURATION_SECTIONS])

    sla, ver, sat = report.sla, report.verification, report.satisfaction
    section("服务水平与质量 / SLA and quality", ("", "", ""), [
        ("超时需求 / SLA breached", f"{sla.breached} / {sla.total}", _pct(sla.rate)),
        ("超时次数 / Deadlines missed", sla.deadlines_missed, ""),
        ("验证通过 / Verification passed", f"{ver.passed} / {ver.passed + ver.failed}", _pct(ver.rate)),
        ("满意 / Satisfied", f"{sat.satisfied} / {sat.answered}", _pct(sat.share_satisfied)),
        ("一般 / Neutral", sat.neutral, ""),
        ("不满意 / Unsatisfied", sat.unsatisfied, ""),
    ])
    section("主要客户 / Top customers", ("客户 / customer", "需求 / reqs", "提交人 / submitters",
                                        "超时 / breached"),
            [(c.name, c.requirements, c.submitters, c.breached) for c in report.top_customers])
    section("主要提交人 / Top submitters", ("姓名 / name", "邮箱 / email", "客户 / customer", "需求 / reqs"),
            [(s.name, s.email, s.customer, s.requirements) for s in report.top_submitters])
    section("每周新增 / Weekly intake", ("周 / week", "起 / from", "数量 / count"),
            [(w.week, w.start.isoformat(), w.count) for w in report.weekly_intake])
    section("给出计划用时分布 / Time to plan (working hours)", ("小时 / hours", "数量 / count"),
            [(b.label, b.count) for b in report.plan_histogram])
    section("共性需求 / Common needs", ("需求 / need", "客户 / customers", "占比 / share", "需求数 / reqs",
                                      "示例 / sample"),
            [(g.label, g.customers, _pct(g.share), g.requirements,
              " | ".join(subject for _, subject in g.samples)) for g in report.common_needs])
    return "\n".join(out).rstrip() + "\n"


def table(headers: Sequence[str], rows: list[Sequence[object]]) -> list[str]:
    """Lines of an aligned table; numbers to the right, text to the left."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) or _cell(row[i]) in ("—", "")
                   for row in rows) for i in range(len(headers))]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        parts = [_pad(text, widths[i], right=numeric[i]) for i, text in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
        if index == 0 and any(headers):
            lines.append("  ".join("-" * w for w in widths))
    if not any(headers):
        lines = lines[1:]
    return lines


def width(text: str) -> int:
    """Columns a terminal gives the text: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, size: int, right: bool) -> str:
    gap = " " * (size - width(text))
    return gap + text if right else text + gap


def _cell(value: object) -> str:
    if value is None:
        return "—"
    return " ".join(str(value).split())  # a client's subject never breaks a table line


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


# --- CSV ----------------------------------------------------------------------------------

def render_csv(report: Report) -> str:
    """``section,key,value``, one row per figure (see the module docstring)."""
    data = report_to_dict(report)
    rows: list[tuple[str, str, object]] = [
        ("summary", "month", data["month"]),
        ("summary", "start", data["period"]["start"]),
        ("summary", "end", data["period"]["end"]),
        ("summary", "timezone", data["period"]["timezone"]),
        ("summary", "total", data["total"]),
    ]
    for section in COUNT_SECTIONS:
        rows += [(section, row["key"], row["count"]) for row in data[section]]
    for section, _ in DURATION_SECTIONS:
        rows += [(section, key, value) for key, value in data[section].items()]
    for section in ("sla", "verification", "satisfaction"):
        rows += [(section, key, value) for key, value in data[section].items()]
    for row in data["top_customers"]:
        rows += [(f"top_customers.{k}", row["name"], row[k]) for k in ("requirements", "submitters", "breached")]
    for row in data["top_submitters"]:
        who = f'{row["name"]} <{row["email"]}>'
        rows += [("top_submitters.requirements", who, row["requirements"]),
                 ("top_submitters.customer", who, row["customer"])]
    rows += [("weekly_intake", f'{w["week"]} ({w["start"]})', w["count"]) for w in data["weekly_intake"]]
    rows += [("plan_histogram", b["label"], b["count"]) for b in data["plan_histogram"]]
    for group in data["common_needs"]:
        label = group["label"]
        rows += [("common_needs.customers", label, group["customers"]),
                 ("common_needs.share", label, group["share"]),
                 ("common_needs.requirements", label, group["requirements"]),
                 ("common_needs.customer_names", label, "; ".join(group["customer_names"])),
                 ("common_needs.ids", label, " ".join(group["ids"]))]
        rows += [(f"common_needs.sample_{lang}", label, subject) for lang, subject in group["samples"].items()]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("section", "key", "value"))
    writer.writerows((section, _safe(key), _safe("" if value is None else value)) for section, key, value in rows)
    return buffer.getvalue()


def _safe(value: object) -> object:
    """Client-written text must not run as a spreadsheet formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
