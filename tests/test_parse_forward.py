"""Forwards from staff: whose mail it was and what the client wrote."""

from __future__ import annotations

import pytest

from mailflow.parse.forward import Forward, find_forward
from mailflow.parse.model import Address


@pytest.mark.parametrize(
    ("subject", "text", "forward"),
    [
        # Gmail
        ("Fwd: Barcode labels",
         "Please log this.\n\n---------- Forwarded message ---------\n"
         "From: Tom Baker <tom.baker@northwind.example.com>\nDate: Thu, Nov 19, 2026 at 4:05 PM\n"
         "Subject: Barcode labels\nTo: Zhang Min <zhang.min@vendor.example.com>\n\n\n"
         "Could you add barcode labels?\n\nThanks,\nTom\n",
         Forward(Address("Tom Baker", "tom.baker@northwind.example.com"), "Could you add barcode labels?")),
        # Outlook FW: the separator alone does not say "forward"; the subject does.
        ("FW: 报表导出",
         "李工，请看下面客户的问题。\n\n-----Original Message-----\n"
         "From: 何静 [mailto:he.jing@yuanhang.example]\nSent: Monday, November 23, 2026 10:05 AM\n"
         "To: 陈杰 <chen.jie@vendor.example.com>\nSubject: 报表导出\n\n导出月度报表时报错，请尽快处理。\n",
         Forward(Address("何静", "he.jing@yuanhang.example"), "导出月度报表时报错，请尽快处理。")),
        # Foxmail 转发
        ("转发: 移动端审批",
         "\n\n------------------ 原始邮件 ------------------\n"
         "发件人: \"钱伟\"<qian.wei@yuanhang.example>;\n发送时间: 2026年11月23日(星期一) 下午4:20\n"
         "收件人: \"陈杰\"<chen.jie@vendor.example.com>;\n主题: 移动端审批\n\n请问能否支持移动端审批？\n",
         Forward(Address("钱伟", "qian.wei@yuanhang.example"), "请问能否支持移动端审批？")),
        # A reply quoting our own mail is not a forward.
        ("Re: 报表导出",
         "收到。\n\n------------------ 原始邮件 ------------------\n发件人: \"support\"<support@vendor.example.com>;\n"
         "发送时间: 2026年11月20日\n主题: 报表导出\n\n您好\n",
         None),
    ],
)
def test_find_forward(subject: str, text: str, forward: Forward | None) -> None:
    assert find_forward(text, subject, "zh") == forward
