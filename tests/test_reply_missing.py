"""What an implementation client is asked for: only what they have not told us."""

from __future__ import annotations

from datetime import datetime

import pytest

from mailflow.parse.model import Address
from mailflow.reply.missing import CONTACT, CUSTOMER, PHASE, has_phone, missing_items
from mailflow.reply.model import ReplyContext


def ctx(customer: str | None = "远航物流", partner: str | None = "智联软件") -> ReplyContext:
    return ReplyContext(
        event="received", requirement_id="REQ-202611-004", subject="排班", description="", language="zh",
        stage="implementation", tier="core", customer=customer, partner=partner, type="feature", priority="medium",
        submitter=Address("刘畅", "liu.chang@yuanhang.example"), owner=None, account_owner=None, liaison=None,
        answer_by=datetime(2026, 11, 26), answer_within_days=3, attachments=())


@pytest.mark.parametrize("text", [
    "联系人刘畅 13800138000",
    "手机:138-0013-8000",
    "Mobile: +86 138 0013 8000",
    "+86-13800138000",
    "0086 13800138000",
    "办公电话 010-62345678",
    "座机(021) 6234 5678 转 8012",
    "Tel +86 10 6234 5678",
    "0755-8765432",
    "服务热线 400-800-1234",
    "电话：6234 5678",  # no area code, but labelled as a phone
])
def test_phone_numbers_clients_write(text: str):
    assert has_phone(text)


@pytest.mark.parametrize("text", [
    "需求编号 REQ-202611-001",
    "2026-11-23 上午出现问题",
    "订单号 2026112300015 导入失败",
    "工资条第 12345 行",
    "版本 v5.2.1.20261101",
    "",
])
def test_numbers_that_are_not_phones(text: str):
    assert not has_phone(text)


@pytest.mark.parametrize(("text", "known", "expected"), [
    ("排班时报错。", ctx(), (CONTACT, PHASE)),
    ("排班时报错。", ctx(customer=None, partner=None), (CONTACT, CUSTOMER, PHASE)),
    ("考勤模块已上线，排班还没实施。电话 13800138000", ctx(), ()),
    ("我们是远航物流有限公司，二期正在实施。", ctx(customer=None), (CONTACT,)),
    ("Payroll went live in October; phone +86 21 6234 5678.", ctx(), ()),
    ("Northwind Retail Ltd. — modules done: payroll; remaining: scheduling.", ctx(customer=None), (CONTACT,)),
])
def test_missing_items_are_only_those_not_given(text: str, known: ReplyContext, expected: tuple[str, ...]):
    assert missing_items(text, known) == expected
