"""Common needs (BRIEF §6): the same wish from several customers, in Chinese and English, is one group.

The requests below are written the way clients write (greetings, contact
lines, "Sent from my iPhone"); the mobile wish from three customers must come
out as one group, and unrelated wishes must neither join it nor each other.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import ROOT
from mailflow.errors import RuleError
from mailflow.report.model import Item
from mailflow.report.glossary import DEFAULT_GLOSSARY, NEEDS_FILE, Glossary, check_glossary, load_glossary
from mailflow.report.needs import concepts_of, group_needs

SH = ZoneInfo("Asia/Shanghai")
SHIPPED = ROOT / "rules" / NEEDS_FILE


def ask(id: str, customer: str | None, email: str, language: str, subject: str, description: str,
        name: str = "某人") -> Item:
    return Item(id=id, status="new", type="feature", priority="medium", customer=customer,
                customer_key=customer.lower() if customer else None, stage="implementation", tier="core",
                submitter_name=name, submitter_email=email, language=language, subject=subject,
                description=description, submitted_at=datetime(2026, 10, 12, 10, tzinfo=SH),
                acknowledged_at=None, planned_at=None, closed_at=None)


MOBILE = [
    ask("REQ-202610-001", "Acme", "wang@acme.cn", "zh", "希望系统支持手机端访问",
        "您好，\n我们的销售人员经常出差，希望能在外面随时查看客户资料。\n联系人：王小明\n手机：13800138000\n谢谢！\n王小明",
        name="王小明"),
    ask("REQ-202610-002", "Beta", "li@beta.cn", "zh", "能否出一个移动端 APP？",
        "现在只能在电脑上用，领导不在办公室的时候就没办法处理单据，能否出一个移动端APP？"),
    ask("REQ-202610-003", "Gamma", "john.smith@gamma.com", "en", "Please add support for mobile phones",
        "Hi,\nOur field engineers need to log their work from a phone (iOS and Android) while on site.\n"
        "Best regards,\nJohn Smith\nPhone: +1 555 0100", name="John Smith"),
]
UNRELATED = [
    ask("REQ-202610-004", "Delta", "zhao@delta.cn", "zh", "开票时报错：发票金额不一致",
        "开具增值税发票时，系统提示金额与订单不一致，无法开票。\n发自我的iPhone"),
    ask("REQ-202610-005", "Acme", "chen@acme.cn", "en", "Please reset the password for 张伟",
        "张伟 forgot the password and the account is locked. Please reset it.\nMobile: 13900000000"),
    ask("REQ-202610-006", "Epsilon", "liu@eps.cn", "zh", "希望报表可以导出Excel",
        "月度销售报表目前只能在页面上看，希望能导出成Excel，方便我们做进一步分析。"),
    ask("REQ-202610-007", "Zeta", "anna@zeta.de", "en", "Login with our Active Directory (SSO)",
        "We would like our staff to sign in with their Windows domain accounts via LDAP / single sign-on "
        "instead of separate passwords."),
]
SECOND_OF_A_KIND = [
    ask("REQ-202610-008", "Eta", "sun@eta.cn", "zh", "希望支持LDAP单点登录",
        "希望系统支持LDAP单点登录，员工用域账号登录，不用再记一套密码。"),
    ask("REQ-202610-009", "Theta", "mark@theta.com", "en", "Export employee list to Excel",
        "Please allow exporting the employee list to Excel (xlsx) so HR can work on it offline."),
    ask("REQ-202610-010", "Iota", "qian@iota.cn", "zh", "批量导入员工数据",
        "希望支持从Excel批量导入员工信息，现在一个一个录入太慢了。"),
]


def ids(group) -> set[str]:
    return set(group.ids)


def test_mobile_from_three_customers_in_two_languages_is_one_group():
    groups = group_needs(MOBILE + UNRELATED)
    assert len(groups) == 1
    mobile = groups[0]
    assert mobile.customers == 3 and mobile.requirements == 3
    assert ids(mobile) == {"REQ-202610-001", "REQ-202610-002", "REQ-202610-003"}
    assert mobile.label == "mobile"
    assert mobile.customer_names == ("Acme", "Beta", "Gamma")
    assert dict(mobile.samples) == {"zh": "希望系统支持手机端访问", "en": "Please add support for mobile phones"}
    assert mobile.share == pytest.approx(3 / 6)  # Acme, Beta, Gamma of six customers who wrote


def test_unrelated_requests_stay_apart_and_find_their_own_kind():
    groups = group_needs(MOBILE + UNRELATED + SECOND_OF_A_KIND)
    assert [(g.label, ids(g)) for g in groups] == [
        ("mobile", {"REQ-202610-001", "REQ-202610-002", "REQ-202610-003"}),
        ("export", {"REQ-202610-006", "REQ-202610-009"}),  # not the Excel *import*
        ("sso", {"REQ-202610-007", "REQ-202610-008"}),     # not the password reset
    ]
    grouped = set().union(*(ids(g) for g in groups))
    assert not grouped & {"REQ-202610-004", "REQ-202610-005", "REQ-202610-010"}


def test_signatures_and_contact_lines_are_not_needs():
    assert concepts_of("开票时报错\n发自我的iPhone", DEFAULT_GLOSSARY) == ["invoice"]
    assert concepts_of("Please reset my password.\nMobile: 13900000000", DEFAULT_GLOSSARY) == ["password"]
    assert concepts_of("无法打印。\n联系人：王小明\n手机：13800138000", DEFAULT_GLOSSARY) == []
    assert concepts_of("> 能否支持手机？\n导出报错", DEFAULT_GLOSSARY) == ["export"]  # a quoted line
    assert concepts_of("We apply for an approval.", DEFAULT_GLOSSARY) == ["approval"]  # "apply" is no "app"
    assert concepts_of("ＡＰＰ 闪退；Exporting fails", DEFAULT_GLOSSARY) == ["mobile", "export"]


def test_one_customer_asking_twice_is_one_customer():
    twice = [MOBILE[0], ask("REQ-202610-011", "Acme", "zhou@acme.cn", "zh", "手机上能审批吗",
                            "出差时想用手机审批报销单。")]
    (group,) = group_needs(twice)
    assert (group.requirements, group.customers) == (2, 1)


def test_unknown_senders_count_by_their_domain():
    unknown = [ask("REQ-1", None, "a@shop.example", "en", "Mobile app please", "An iPhone app for our team."),
               ask("REQ-2", None, "b@shop.example", "en", "Android support", "We use Android phones."),
               ask("REQ-3", None, "c@other.example", "zh", "手机端", "希望有手机端。")]
    (group,) = group_needs(unknown)
    assert (group.requirements, group.customers) == (3, 2)
    assert group.customer_names == ("other.example", "shop.example")


def test_free_mail_senders_are_each_their_own_asker():
    strangers = [ask("REQ-1", None, "zhang.san@qq.com", "zh", "希望有手机APP", "手机上用。"),
                 ask("REQ-2", None, "li.si@qq.com", "zh", "手机端访问", "希望支持手机端。"),
                 ask("REQ-3", None, "wu@qq.com", "zh", "移动端", "移动端APP。")]
    (group,) = group_needs(strangers)
    assert group.customers == 3
    assert group.customer_names == ("l***@qq.com", "w***@qq.com", "z***@qq.com")  # masked, never the address


def test_names_in_sample_subjects_are_masked():
    reset = [ask("REQ-1", "Acme", "zhang.wei@acme.cn", "zh", "张伟的密码忘了", "请重置张伟的密码。", name="张伟"),
             ask("REQ-2", "Beta", "li@beta.cn", "en", "Password reset for li@beta.cn", "I forgot my password.")]
    (group,) = group_needs(reset)
    assert dict(group.samples) == {"zh": "张*的密码忘了", "en": "Password reset for l***@beta.cn"}


def test_requests_without_a_concept_group_by_their_words():
    same = [ask("REQ-1", "Acme", "a@acme.cn", "zh", "打印凭证时表格错位", "打印记账凭证时表格错位，金额列跑到下一页。"),
            ask("REQ-2", "Beta", "b@beta.cn", "zh", "凭证打印表格错位", "凭证打印出来表格错位了。"),
            ask("REQ-3", "Gamma", "c@gamma.cn", "zh", "合同到期提醒", "希望合同到期前自动提醒。")]
    (group,) = group_needs(same)
    assert ids(group) == {"REQ-1", "REQ-2"}
    assert group.label in ("打印凭证时表格错位", "凭证打印表格错位")  # the most central subject


def test_groups_order_by_customers_then_requirements():
    many = MOBILE + [ask("REQ-202610-012", "Acme", "a2@acme.cn", "zh", "导出Excel", "导出成Excel。"),
                     ask("REQ-202610-013", "Acme", "a3@acme.cn", "zh", "导出报表", "希望可以导出报表。"),
                     ask("REQ-202610-014", "Acme", "a4@acme.cn", "en", "Export", "Export to CSV please."),
                     ask("REQ-202610-015", "Beta", "b2@beta.cn", "zh", "单点登录", "支持单点登录。"),
                     ask("REQ-202610-016", "Gamma", "g2@gamma.com", "en", "SSO", "SAML single sign-on.")]
    assert [(g.label, g.customers, g.requirements) for g in group_needs(many)] == [
        ("mobile", 3, 3), ("sso", 2, 2), ("export", 1, 3)]
    assert len(group_needs(many, min_size=4)) == 0


def test_nothing_to_group():
    assert group_needs([]) == ()
    assert group_needs(MOBILE[:1]) == ()


# --- a busy desk's month -------------------------------------------------------------------

KINDS = {"mobile": ("001", "002", "003"), "invoice": ("004",), "password": ("005",), "export": ("006", "009"),
         "sso": ("007", "008"), "import": ("010",)}
KIND_OF = {number: kind for kind, numbers in KINDS.items() for number in numbers}


def busy_month(size: int) -> list[Item]:
    """``size`` requests written like the ten above, by 37 customers (so every kind of request comes from all of them), each with its own reference."""
    month = []
    for n in range(size):
        like = (MOBILE + UNRELATED + SECOND_OF_A_KIND)[n % 10]
        customer = f"Customer{n % 37:02d}"
        month.append(ask(f"REQ-202610-{n:05d}-{like.id[-3:]}", customer, f"buyer{n}@c{n % 37}.example",
                         like.language, like.subject, f"{like.description}\n工单参考号 HU-{n:06d}",
                         name=like.submitter_name))
    return month


def kinds_of(groups) -> list[tuple[str, set[str], int]]:
    return sorted((g.label, {KIND_OF[i[-3:]] for i in g.ids}, g.requirements) for g in groups)


def test_a_month_too_large_to_compare_pair_by_pair_still_finds_every_need():
    """1,200 requests: past EXACT_LIMIT, grouped from a sample; every request still lands in its group."""
    from mailflow.report.needs import EXACT_LIMIT
    month = busy_month(1_200)
    assert len(month) > EXACT_LIMIT
    groups = group_needs(month)
    assert kinds_of(groups) == [("export", {"export"}, 240), ("import", {"import"}, 120),
                                ("invoice", {"invoice"}, 120), ("mobile", {"mobile"}, 360),
                                ("password", {"password"}, 120), ("sso", {"sso"}, 240)]
    mobile = next(g for g in groups if g.label == "mobile")
    assert mobile.customers == 37 and mobile.share == 1.0
    assert dict(mobile.samples)["en"] == "Please add support for mobile phones"


def test_the_sampled_grouping_agrees_with_the_pairwise_one(monkeypatch):
    import mailflow.report.needs as needs
    month = busy_month(120)
    pairwise = group_needs(month)
    monkeypatch.setattr(needs, "EXACT_LIMIT", 60)
    sampled = group_needs(month)
    assert [(g.label, g.ids, g.customers) for g in sampled] == [(g.label, g.ids, g.customers) for g in pairwise]


# --- the glossary file --------------------------------------------------------------------

def test_the_shipped_glossary_loads_and_is_the_built_in_one():
    assert check_glossary(SHIPPED) == []
    glossary = load_glossary(SHIPPED)
    assert glossary == DEFAULT_GLOSSARY  # the built-in copy and the file say the same
    assert glossary.threshold == 0.3
    assert 8 <= len(glossary.concepts) <= 12


def test_a_missing_file_means_the_built_in_glossary(tmp_path: Path):
    assert load_glossary(tmp_path / "needs.yaml") == DEFAULT_GLOSSARY
    assert check_glossary(tmp_path / "needs.yaml") == []
    (tmp_path / "dir.yaml").mkdir()
    assert check_glossary(tmp_path / "dir.yaml") == [f"{tmp_path / 'dir.yaml'}: not a file"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "needs.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_glossary_problems_name_file_and_line(tmp_path: Path):
    path = write(tmp_path, "threshold: 1.5\n"          # 1
                           "concepts:\n"               # 2
                           "  mobile: [手机, app]\n"    # 3
                           "  tablet:\n"               # 4
                           "    - ipad\n"              # 5
                           "    - APP\n"               # 6  (already mobile's, case aside)
                           "    - 12\n"                # 7
                           "  empty: []\n"             # 8
                           "  short: [x]\n"            # 9
                           "colour: blue\n")           # 10
    assert check_glossary(path) == [
        f"{path}:1: \"threshold\" must be a number between 0 and 1 (exclusive), got 1.5",
        f'{path}:6: concept "tablet": "APP" is already a word of concept "mobile" (line 3); '
        "a word can mean one concept only",
        f'{path}:7: concept "tablet": "tablet" must be a list of texts; item 3 is a number',
        f'{path}:8: concept "empty": no words (list the words, in Chinese and English, that mean it)',
        f'{path}:9: concept "short": "x" is too short: it would match stray letters',
        f'{path}:10: unknown key "colour" (expected one of threshold, concepts)',
    ]
    with pytest.raises(RuleError, match=rf"^{path}:1: \"threshold\""):
        load_glossary(path)


@pytest.mark.parametrize("text, line, reason", [
    ("concepts: [mobile]\n", 1, '"concepts" must be a mapping'),
    ("threshold: 0.4\n", 1, 'missing "concepts"'),
    ("threshold: yes\nconcepts:\n  a: [bb]\n", 1, "got true/false"),
    ("concepts:\n  mobile: [手机\n", 3, "YAML syntax error"),
    ("concepts:\n  mobile: [手机]\n  mobile: [app]\n", 3, 'duplicate key "mobile"'),
    ("concepts: {}\n", 1, '"concepts" is empty'),
    ("concepts:\n  mobile: [手机, '...']\n", 2, '"..." has no letters'),
])
def test_each_problem_is_reported_with_its_line(tmp_path: Path, text: str, line: int, reason: str):
    path = write(tmp_path, text)
    problems = check_glossary(path)
    assert problems and problems[0].startswith(f"{path}:{line}: ") and reason in problems[0], problems
    with pytest.raises(RuleError):
        load_glossary(path)


def test_the_file_is_what_groups(tmp_path: Path):
    kiosks = [ask("REQ-1", "Acme", "a@acme.cn", "zh", "希望支持自助终端", "门店想放自助终端给员工查询。"),
              ask("REQ-2", "Beta", "b@beta.com", "en", "Kiosk mode", "A kiosk mode for the shop floor.")]
    assert group_needs(kiosks) == ()
    glossary = load_glossary(write(tmp_path, "concepts:\n  kiosk: [自助终端, kiosk]\n"))
    assert glossary == Glossary(0.3, (("kiosk", ("自助终端", "kiosk")),))
    (group,) = group_needs(kiosks, glossary)
    assert (group.label, group.customers) == ("kiosk", 2)


def test_the_threshold_is_what_merges(tmp_path: Path):
    strict = load_glossary(write(tmp_path, "threshold: 0.95\nconcepts:\n  mobile: [手机, 移动端, app, mobile, phone]\n"))
    assert group_needs(MOBILE, strict) == ()
    assert len(group_needs(MOBILE, Glossary(0.3, strict.concepts))) == 1


@pytest.mark.parametrize("limit", [500, 60])
def test_descriptions_asked_for_a_few_at_a_time_group_as_the_items_own(limit: int,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy month is read without its descriptions (most of its memory); the needs ask for them in batches."""
    import dataclasses

    import mailflow.report.needs as needs

    monkeypatch.setattr(needs, "EXACT_LIMIT", limit)
    monkeypatch.setattr(needs, "DESCRIBE_PER", 7)
    month = busy_month(120)
    texts = {item.id: item.description for item in month}
    asked: list[list[str]] = []

    def describe(ids: list[str]) -> dict[str, str]:
        asked.append(ids)
        return {i: texts[i] for i in ids}

    bare = [dataclasses.replace(item, description="") for item in month]
    assert group_needs(bare, describe=describe) == group_needs(month)
    assert max(map(len, asked)) == 7
    assert sorted(i for ids in asked for i in ids) == sorted(texts)  # each description asked for, once
