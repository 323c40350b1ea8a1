"""``rules/needs.yaml``: the words, in Chinese and English, that mean one concept.

The only bridge between a Chinese request and an English one in the common
needs (``report.needs``): "手机", "移动端" and "mobile" are one concept. The
file is optional (the built-in glossary below is the shipped file's content,
kept equal by a test); every mistake is one ``file:line: reason``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mailflow.classify.source import LineDict, Problems, Where, check_keys, expect_mapping, get_texts, kind, read_mapping
from mailflow.errors import RuleError

NEEDS_FILE = "needs.yaml"
KEYS = ("threshold", "concepts")
DEFAULT_THRESHOLD = 0.3


@dataclass(frozen=True)
class Glossary:
    """Concept names and the words (zh and en) that mean each, plus the grouping threshold."""

    threshold: float
    concepts: tuple[tuple[str, tuple[str, ...]], ...]  # (concept, terms) in file order


# The same content as the shipped rules/needs.yaml (a test keeps them equal).
DEFAULT_GLOSSARY = Glossary(DEFAULT_THRESHOLD, (
    ("mobile", ("手机", "手机端", "移动端", "移动办公", "移动应用", "移动设备", "移动审批", "app", "mobile",
                "ios", "iphone", "ipad", "android", "安卓", "phone", "smartphone", "tablet", "平板",
                "小程序", "mini program", "h5")),
    ("export", ("导出", "报表导出", "export", "download report")),
    ("import", ("导入", "批量导入", "import", "bulk upload", "batch upload")),
    ("sso", ("单点登录", "sso", "ldap", "ad域", "域账号", "域账户", "统一认证", "统一身份认证",
             "single sign-on", "single sign on", "saml", "oauth", "active directory")),
    ("password", ("密码", "重置密码", "忘记密码", "找回密码", "账号锁定", "账号被锁", "password",
                  "reset password", "locked out", "unlock")),
    ("invoice", ("发票", "开票", "电子发票", "增值税", "税票", "红冲", "invoice", "invoicing", "vat",
                 "e-invoice", "tax invoice")),
    ("approval", ("审批", "审核", "工作流", "会签", "approval", "approve", "workflow", "sign-off")),
    ("dashboard", ("仪表盘", "看板", "驾驶舱", "图表", "可视化", "dashboard", "chart", "visualization",
                   "kpi")),
    ("payroll", ("工资", "工资条", "薪资", "薪酬", "个税", "社保", "payroll", "salary", "payslip",
                 "pay slip", "wage")),
    ("attendance", ("考勤", "打卡", "排班", "请假", "加班", "attendance", "clock in", "clock-in",
                    "timesheet", "shift", "leave request", "overtime")),
    ("integration", ("接口", "集成", "对接", "企业微信", "钉钉", "飞书", "api", "webhook", "integration",
                     "integrate", "wecom", "dingtalk", "feishu")),
    ("permission", ("权限", "角色", "授权", "permission", "role", "access right", "access control")),
))


# --- loading ------------------------------------------------------------------------------

def load_glossary(path: Path | str) -> Glossary:
    """The file's glossary, the built-in one when there is no file; RuleError on the first problem."""
    glossary, problems = _load(Path(path))
    if problems:
        raise RuleError(problems[0])
    return glossary or DEFAULT_GLOSSARY


def check_glossary(path: Path | str) -> list[str]:
    """Every problem in the file, one ``file:line: reason`` each; [] when fine or absent."""
    return _load(Path(path))[1]


def _load(path: Path) -> tuple[Glossary | None, list[str]]:
    if not path.exists():
        return None, []  # optional: the built-in glossary applies
    problems = Problems()
    where = Where(str(path), problems)
    if not path.is_file():
        where.error(None, "not a file")
        return None, problems.lines()
    top = read_mapping(path, where)
    if top is None:
        return None, problems.lines()
    check_keys(where, top, KEYS, required=("concepts",))
    threshold = _threshold(where, top)
    concepts = _concepts(where, top)
    if problems.found:
        return None, problems.lines()
    return Glossary(threshold, concepts), []


def _threshold(where: Where, top: LineDict) -> float:
    value = top.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        shown = value if isinstance(value, (int, float)) and not isinstance(value, bool) else kind(value)
        where.error(top.key_line("threshold"),
                    f'"threshold" must be a number between 0 and 1 (exclusive), got {shown}')
        return DEFAULT_THRESHOLD
    return float(value)


def _concepts(where: Where, top: LineDict) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if "concepts" not in top or top["concepts"] is None:
        return ()
    mapping = expect_mapping(where, top["concepts"], top.key_line("concepts"), '"concepts"')
    if mapping is None:
        return ()
    if not mapping:
        where.error(top.key_line("concepts"), '"concepts" is empty: Chinese and English requests '
                                              "could never be grouped together")
    owner: dict[str, tuple[str, int]] = {}
    concepts = []
    for name, _ in mapping.items():
        line = mapping.key_line(name)
        if not isinstance(name, str) or not name.strip():
            where.error(line, f"a concept name must be a text, got {kind(name)}")
            continue
        inner = where.inside(f'concept "{name}": ')
        items = get_texts(inner, mapping, name)
        value = mapping[name]
        if value is None or value == "" or (isinstance(value, list) and not value):
            inner.error(line, "no words (list the words, in Chinese and English, that mean it)")
        terms = []
        for text, term_line in items:
            term = fold(text)
            if not any(ch.isalnum() for ch in term):
                inner.error(term_line, f'"{text}" has no letters')
            elif term.isascii() and len(term) < 2:
                inner.error(term_line, f'"{text}" is too short: it would match stray letters')
            elif term in owner:
                other, other_line = owner[term]
                inner.error(term_line, f'"{text}" is already a word of concept "{other}" '
                                       f"(line {other_line}); a word can mean one concept only")
            else:
                owner[term] = (name.strip(), term_line)
                terms.append(term)
        concepts.append((name.strip(), tuple(terms)))
    return tuple(concepts)


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().strip()


