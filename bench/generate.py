"""A seeded generator of realistic support mail for benchmarks.

zh and en, UTF-8 / GBK-labelled-gb2312 / Big5, plain and HTML-only, some
with attachments and follow-ups quoting history, some automated — the mix
a vendor's support inbox sees. Same seed, same bytes.
"""

from __future__ import annotations

import random
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

CUSTOMERS = ["huaxin.example", "yuanhang.example", "northwind.example.com", "gmail.example"]
ZH = [
    "系统导出报表时报错,提示“内部错误 500”,请尽快处理。",
    "希望系统能支持移动端审批,我们的销售经常出差。",
    "薪资模块计算个税时结果不对,和税务局的算法有差异。",
    "考勤数据同步太慢,每天早上要等半个小时,希望优化。",
    "请问如何重置管理员密码?",
]
EN = [
    "The monthly payroll export fails with error 500 since the last update.",
    "Could you add single sign-on with our Azure AD?",
    "Leave approval is slow when the team has more than 50 people; please improve it.",
    "How do I reset the password of the admin account?",
]


def generate(count: int, seed: int = 7) -> list[bytes]:
    rnd = random.Random(seed)
    start = datetime(2026, 11, 2, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    out: list[bytes] = []
    sent_ids: list[str] = []
    for i in range(count):
        domain = rnd.choice(CUSTOMERS)
        zh = domain != "northwind.example.com" and rnd.random() < 0.7
        body = rnd.choice(ZH if zh else EN) + f"\n\n编号 {i}\n" + ("张三\n138-0000-0001\n" if zh else "Bob\n555-0100\n")
        msg = EmailMessage()
        msg["From"] = f"user{rnd.randrange(50)}@{domain}"
        msg["To"] = "support@vendor.example.com"
        msg["Date"] = format_datetime(start + timedelta(minutes=7 * i))
        mid = f"<bench.{seed}.{i}@{domain}>"
        msg["Message-ID"] = mid
        kind = rnd.random()
        subject = (body.split("\n")[0][:20]) if zh else body.split("\n")[0][:40]
        if kind < 0.15 and sent_ids:
            parent = rnd.choice(sent_ids)
            msg["In-Reply-To"] = parent
            msg["References"] = parent
            subject = "Re: " + subject
            body += "\n\n-----原始邮件-----\n发件人: support@vendor.example.com\n发送时间: 2026年11月2日\n主题: 旧\n\n" + "旧内容\n" * 20
        elif kind < 0.20:
            msg["Auto-Submitted"] = "auto-replied"
            subject = "自动回复: " + subject
        msg["Subject"] = subject
        charset = "utf-8"
        if zh and rnd.random() < 0.4:
            charset = "gb2312" if rnd.random() < 0.8 else "big5"
        if rnd.random() < 0.1:
            msg.set_content(f"<html><body><p>{body.replace(chr(10), '<br>')}</p></body></html>", subtype="html",
                            charset="utf-8")
        else:
            text = body if charset != "big5" else body.replace("系统", "系統").replace("请", "請")
            try:
                text.encode("gb18030" if charset == "gb2312" else charset)
            except UnicodeEncodeError:
                charset = "utf-8"
            msg.set_content(text, charset="utf-8")
            if charset != "utf-8":
                msg.set_payload(text.encode("gb18030" if charset == "gb2312" else charset), charset=None)
                msg.replace_header("Content-Type", f'text/plain; charset="{charset}"')
                del msg["Content-Transfer-Encoding"]
                msg["Content-Transfer-Encoding"] = "8bit"
        if rnd.random() < 0.1:
            size = rnd.choice([10_000, 100_000, 500_000])
            msg.add_attachment(rnd.randbytes(size), maintype="application", subtype="octet-stream",
                               filename=f"log-{i}.bin")
        sent_ids.append(mid)
        out.append(msg.as_bytes())
    return out


def write(directory: Path, count: int, seed: int = 7) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, raw in enumerate(generate(count, seed)):
        path = directory / f"{i:06d}.eml"
        path.write_bytes(raw)
        paths.append(path)
    return paths
