"""Sandboxed template rendering: strict, one-line errors, and never a committal word."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from conftest import ROOT, SHANGHAI
from mailflow.classify.model import STAGES, TYPES, Origin, Staff
from mailflow.errors import TemplateError
from mailflow.parse.model import Address
from mailflow.reply import Templates, drafts_for
from mailflow.reply.model import EVENTS, ReplyContext
from mailflow.reply import render
from mailflow.reply.engine import COMMITTAL_TEMPLATES, REQUIRED
from mailflow.reply.render import date_words, is_short, quote


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


GREETING = """Subject: 关于“{{ subject }}”

{{ name }},您好!
{% if items %}

请补充:
{% for item in items %}
{{ loop.index }}. {{ item }}
{% endfor %}
{% endif %}

{% include "zh/_footer.txt.j2" %}
"""


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    return write(tmp_path / "reply_templates", {
        "zh/greeting.txt.j2": GREETING,
        "zh/_footer.txt.j2": "需求编号:{{ rid }}\n",
        "en/greeting.txt.j2": "Subject: About {{ subject }}\n\nDear {{ name }},\n",
        "en/greeting.html.j2": "<p>Dear {{ name }},</p>\n",
        "README.md": "not a template\n",
    })


def test_render_splits_subject_and_body_and_trims_blocks(tdir: Path):
    subject, text, html = Templates(tdir).render(
        "greeting", "zh", {"subject": "手机\n审批", "name": "王经理", "items": ["电话", "模块"], "rid": "REQ-202611-001"})
    assert subject == "关于“手机 审批”"  # a newline in a variable can never start a new header
    assert text == "王经理,您好!\n\n请补充:\n1. 电话\n2. 模块\n\n需求编号:REQ-202611-001\n"
    assert html is None


def test_html_part_is_autoescaped_and_text_is_not(tdir: Path):
    subject, text, html = Templates(tdir).render("greeting", "en", {"subject": "a<b>", "name": "<script>x</script>"})
    assert subject == "About a<b>"
    assert text == "Dear <script>x</script>,\n"
    assert html == "<p>Dear &lt;script&gt;x&lt;/script&gt;,</p>\n"


def test_templates_are_read_once_not_per_mail(tdir: Path):
    templates = Templates(tdir)
    (tdir / "en" / "greeting.txt.j2").write_text("Subject: changed\n\nchanged\n", encoding="utf-8")
    assert templates.render("greeting", "en", {"subject": "s", "name": "n"})[0] == "About s"
    assert templates.names() == {"zh/greeting", "en/greeting"}


def test_the_same_files_loaded_again_are_not_compiled_again_but_a_changed_file_is(tdir: Path):
    """Compiling is nearly all of loading; a process that loads the same directory twice does it once."""
    first, again = Templates(tdir), Templates(tdir)
    assert again._compiled["en/greeting"][1] is first._compiled["en/greeting"][1]
    (tdir / "en" / "greeting.txt.j2").write_text("Subject: Re {{ subject }}\n\nHello {{ name }},\n", encoding="utf-8")
    changed = Templates(tdir)
    assert changed.render("greeting", "en", {"subject": "s", "name": "n"})[:2] == ("Re s", "Hello n,\n")
    assert first.render("greeting", "en", {"subject": "s", "name": "n"})[:2] == ("About s", "Dear n,\n")
    (tdir / "en" / "greeting.txt.j2").write_text("Subject: x\n\n{% if name %}\n", encoding="utf-8")
    for _ in range(2):  # a broken file is refused each time, not only when it was first compiled
        with pytest.raises(TemplateError, match=r"en/greeting\.txt\.j2:\d+: Unexpected end of template"):
            Templates(tdir)


def test_undefined_variable_names_file_and_line(tdir: Path):
    templates = Templates(tdir)
    with pytest.raises(TemplateError) as err:
        templates.render("greeting", "zh", {"subject": "s", "name": "n", "items": []})
    assert str(err.value) == f"{tdir}/zh/_footer.txt.j2:1: 'rid' is undefined"
    with pytest.raises(TemplateError) as err:
        templates.render("greeting", "zh", {"subject": "s", "items": [], "rid": "r"})
    assert str(err.value) == f"{tdir}/zh/greeting.txt.j2:3: 'name' is undefined"


def test_error_in_the_subject_line_points_at_line_one(tdir: Path):
    with pytest.raises(TemplateError, match=r"zh/greeting\.txt\.j2:1: 'subject' is undefined$"):
        Templates(tdir).render("greeting", "zh", {})


def test_relative_directory_shows_in_the_message_as_configured(tdir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tdir.parent)
    with pytest.raises(TemplateError) as err:
        Templates("reply_templates").render("greeting", "zh", {"subject": "s", "items": [], "rid": "r"})
    assert str(err.value) == "reply_templates/zh/greeting.txt.j2:3: 'name' is undefined"


def test_syntax_error_stops_loading_with_file_and_line(tdir: Path):
    write(tdir, {"zh/broken.txt.j2": "Subject: x\n\n第一行\n{% if ctx.stage %}\n没有结束\n"})
    with pytest.raises(TemplateError, match=r"zh/broken\.txt\.j2:\d+: Unexpected end of template"):
        Templates(tdir)


def test_check_templates_reports_every_problem(tdir: Path):
    write(tdir, {
        "zh/broken.txt.j2": "Subject: x\n\n{{ ctx. }}\n",
        "en/no_subject.txt.j2": "Hello\n",
        "en/no_blank.txt.j2": "Subject: x\nbody\n",
        "en/orphan.html.j2": "<p>x</p>\n",
        "en/bad_include.txt.j2": 'Subject: x\n\n{% include "en/_nope.txt.j2" %}\n',
    })
    problems = render.check_templates(tdir, required=["en/greeting", "en/ack_presales"])
    assert problems == [
        f"{tdir}/en/bad_include.txt.j2: includes 'en/_nope.txt.j2', which does not exist",
        f"{tdir}/en/no_blank.txt.j2:2: the line after the Subject line must be empty",
        f"{tdir}/en/no_subject.txt.j2:1: the first line must be 'Subject: ...'",
        f"{tdir}/en/orphan.html.j2:1: HTML part without a .txt.j2 template beside it",
        f"{tdir}/zh/broken.txt.j2:3: expected name or number",
        f"{tdir}/en/ack_presales.txt.j2: missing (the reply engine needs this template)",
    ]
    assert render.check_templates(tdir / "nowhere") == [f"{tdir / 'nowhere'}: template directory not found"]


def test_missing_template_is_a_template_error(tdir: Path):
    with pytest.raises(TemplateError, match=r"en/nothing\.txt\.j2: template not found"):
        Templates(tdir).render("nothing", "en", {})


@pytest.mark.parametrize("expression", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ctx.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ ctx.attachments.append('x') }}",
    "{{ items.pop() }}",
])
def test_sandbox_refuses_reaching_outside(tmp_path: Path, expression: str):
    templates = Templates(write(tmp_path, {"en/evil.txt.j2": f"Subject: x\n\n{expression}\n"}))
    with pytest.raises(TemplateError, match=r"evil\.txt\.j2:3: .*(unsafe|has no attribute)"):
        templates.render("evil", "en", {"ctx": _ctx("presales", "en", "feature"), "items": [1]})


def test_a_failing_html_part_returns_nothing_at_all(tmp_path: Path):
    templates = Templates(write(tmp_path, {"en/x.txt.j2": "Subject: ok\n\nfine\n",
                                           "en/x.html.j2": "<p>\n{{ 1 // 0 }}</p>\n"}))
    with pytest.raises(TemplateError, match=r"x\.html\.j2:2: ZeroDivisionError"):
        templates.render("x", "en", {})


def test_date_filter_speaks_each_language():
    day = datetime(2026, 11, 26, 18, 30, tzinfo=SHANGHAI)
    assert date_words({"language": "zh"}, day) == "2026年11月26日"
    assert date_words({"language": "en"}, day) == "26 Nov 2026"
    assert date_words({}, date(2027, 1, 4), "zh") == "2027年1月4日"
    with pytest.raises(TypeError):
        date_words({}, "2026-11-26")


def test_quote_keeps_words_and_cuts_very_long_text_with_a_note():
    assert quote({}, "第一行\r\n\r\n第二行  \n") == "> 第一行\n>\n> 第二行"
    long = "\n".join(f"第{i}行" + "字" * 50 for i in range(100))
    cut = quote({"language": "zh"}, long, 200)
    assert cut.splitlines()[:3] == [f"> 第{i}行" + "字" * 50 for i in range(3)]
    assert cut.splitlines()[-2:] == ["> …", "(原文较长,这里只引用了开头部分;完整原文已记录。)"]
    assert quote({"language": "en"}, "x" * 5000).endswith(
        "…\n(Only the beginning is quoted here; the full text is recorded.)")
    assert quote({}, long, 0).count("\n") == 99  # limit 0: everything, for internal mail


def test_short_test_decides_inline_or_block():
    assert is_short("能否增加移动端审批?")
    assert not is_short("第一行\n第二行")
    assert not is_short("字" * 101)


# --- the careful-reply rule, as a table --------------------------------------------

COMMITTAL = [
    r"will be (?:fixed|implemented|delivered|released|added|included|resolved|available|done)",
    r"\bguarantee", r"\bpromise", r"\bdefinitely\b", r"\bcertainly\b", r"next (?:release|version) will",
    r"保证", r"承诺", r"一定", r"肯定会", r"将于.{0,20}(?:上线|修复|发布|完成)", r"下个?版本会", r"下一版本会",
    r"会(?:修复|上线|实现|解决|发布|开发)", r"马上(?:修复|解决)",
]


def _ctx(stage: str, language: str, type_: str, *, event: str = "received", full: bool = True,
         owner: bool = True) -> ReplyContext:
    def staff(handle: str, name: str) -> Staff:
        return Staff(handle, name, f"{handle}@vendor.example.com", (), None, None, Origin("rules/staff.yaml", 1))

    return ReplyContext(
        event=event, requirement_id="REQ-202611-009", subject="报表导出" if full else "",
        description="导出报表的时候很慢。" if full else "Line one\nline two", language=language, stage=stage,
        tier="core", customer="远航物流" if full else None, partner="智联软件" if full else None, type=type_,
        priority="high", submitter=Address("刘畅", "liu.chang@yuanhang.example"),
        owner=staff("li.wei", "李伟") if owner else None,
        account_owner=staff("chen.jie", "陈杰") if full else None,
        liaison=staff("zhang.min", "张敏") if full and stage == "service" else None,
        answer_by=datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI) if full else None, answer_within_days=3,
        attachments=("a.png",), owner_reason="rule bugs")


# The facts each event cannot go without (engine.missing_facts), worded neutrally.
NEEDS: dict[str, dict[str, object]] = {
    "need_info": {"items": ("联系人电话",)},
    "declined": {"message": "与现有权限模型冲突。", "workaround": "可先导出后在 Excel 中处理。"},
    "plan_confirmed": {"plan_confirmed": True, "plan_version": "v2.3", "plan_date": date(2026, 12, 15)},
    "resolved": {"resolution": "调整了导出查询的索引。", "plan_patch": "KB-1024"},
    "staff_reply": {"message": "我们正在分析导出慢的原因。"},
    "merged": {"merged_into": "REQ-202611-002"},
    "command_result": {"recipient": Staff("zhao.lei", "赵磊", "zhao.lei@vendor.example.com", (), None, None,
                                          Origin("rules/staff.yaml", 1)), "command_lines": ("#help",)},
    "command_refused": {"recipient": Staff("zhao.lei", "赵磊", "zhao.lei@vendor.example.com", (), None, None,
                                           Origin("rules/staff.yaml", 1)), "command_lines": ("#status:x: 未知",)},
    "blocked_notice": {"blocked_reason": "commitment guard: sample", "blocked_text": "示例文字。"},
    "sla_reminder": {"deadline": "feedback", "deadline_at": datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)},
    "sla_escalation": {"deadline": "plan", "deadline_at": datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)},
}


def test_no_shipped_template_ever_renders_a_committal_phrase():
    """Except the two that exist to name a confirmed plan (see test_reply_events for what they may name)."""
    templates = Templates(ROOT / "reply_templates")
    seen: set[str] = set()
    for stage, language, type_, event, full, owner, internal in itertools.product(
            STAGES, ("zh", "en"), TYPES, EVENTS, (True, False), (True, False), ("zh", "en")):
        ctx = replace(_ctx(stage, language, type_, event=event, full=full, owner=owner), **NEEDS.get(event, {}))
        for draft in drafts_for(ctx, templates, internal_language=internal):
            seen.add(draft.template)
            if draft.template.split("/")[1] in COMMITTAL_TEMPLATES:
                continue
            for pattern in COMMITTAL:
                hit = re.search(pattern, f"{draft.subject}\n{draft.text}\n{draft.html or ''}", re.IGNORECASE)
                assert hit is None, f"{draft.template} ({stage}/{type_}/{event}) says {hit.group(0)!r}"
    assert seen == set(REQUIRED)


def test_tidying_a_render_collapses_blank_runs_exactly_as_the_regex_it_replaced():
    """``_tidy`` runs on every render; it was ``re.sub(r"\\n{3,}", "\\n\\n", …)`` and must give the same text."""
    def by_regex(text: str) -> str:
        lines = [line.rstrip() for line in text.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"

    pieces = ["\n", " \n", "\t\n", "您好，", "Dear Ms. Chen,", "  ", "\r\n", "x"]
    for size in range(1, 7):
        for combo in itertools.product(pieces, repeat=size) if size <= 4 else itertools.islice(
                itertools.product(pieces, repeat=size), 0, None, 97):
            text = "".join(combo)
            assert render._tidy(text) == by_regex(text), repr(text)
    assert render._tidy("a\n\n\n\n\n\n\nb   \n") == "a\n\nb\n"
