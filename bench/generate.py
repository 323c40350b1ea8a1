"""A seeded generator of realistic support mail for benchmarks (and a few tests).

Same seed and count, same bytes: everything random comes from one
``random.Random(seed)``. The mix is what a vendor's support inbox sees in a
month (dates run from 2 to 30 November 2026, Asia/Shanghai, in order):

- **new requests** (~65%) from ~1,500 people at seven customer domains, zh
  and en, bugs / feature asks / improvements / how-to questions, signed with
  a name and phone number; charsets UTF-8, GB2312 (GBK bytes under a gb2312
  label, as Outlook and Foxmail send them), GBK and Big5 (Traditional text
  from a Taiwanese customer), bodies in 8bit, base64 or quoted-printable,
  subjects and names as RFC 2047 encoded-words in the same charset; ~10%
  HTML-only, some multipart/alternative;
- **attachments** on ~16% of client mail (one in five of those carries two):
  PNG screenshots, PDFs, logs, xlsx sheets, 10 KB to 2 MB with most small
  (size = 10 KB x 200^(u^3): ~2/3 under 50 KB, ~9% over 500 KB, ~3% over
  1 MB); binary content is random bytes behind the format's magic number,
  logs are real-looking log lines; file names in Chinese as RFC 2231 or as
  encoded-words (Outlook style);
- **follow-ups** (~15%) from the original sender carrying our subject tag
  ``[REQ-202611-NNN]`` (three in four; the rest thread by In-Reply-To /
  References only), quoting the history (Outlook "-----原始邮件-----",
  Foxmail, Gmail "On … wrote:" with ``>``);
- **staff commands** (~6%) from the staff of ``rules/staff.yaml`` on a tagged
  requirement, e.g. ``Re: [REQ-202611-007] … #priority:high`` from
  li.wei@vendor.example.com, each with the header our border MTA adds:
  ``Authentication-Results: mx.vendor.example.com; dkim=pass
  header.d=vendor.example.com`` (trust ``mx.vendor.example.com`` in
  ``[security] trusted_authserv_ids`` and they are applied);
- **automated mail** (~13%): auto-replies (Auto-Submitted, Outlook's
  X-Auto-Response-Suppress, subject-only "Out of Office"), mostly answering
  our acknowledgements (so tagged), and bounces (multipart/report DSNs from
  MAILER-DAEMON).

Requirement ids: mailflow numbers new requirements ``REQ-YYYYMM-NNN`` in
ingest order within the month of the mail's Date in the desk's time zone
(``mailflow/record/ids.py``), so the n-th *new request* generated here
becomes ``REQ-202611-{n:03d}`` when the mails are ingested in order into an
empty database (files sorted by name, or IMAP UIDs in append order) on a
machine whose clock is past the mails' dates. Follow-ups and staff commands
point at those ids. ``generate_mails`` returns each mail with the outcome and
requirement id mailflow should give it, so a benchmark can check that it
measured what it meant to.

Loaded by file path in tests (no entry in sys.modules), hence no ``from __future__ import
annotations``: dataclasses would look the module up.

API: ``generate(count, seed)`` -> raw mails (bytes, LF line ends);
``generate_mails(count, seed)`` / ``iter_mails`` -> ``Mail`` records;
``write(dir, count, seed)`` -> ``dir/000000.eml`` … (``write_with_meta``: and
the records, without their bytes); ``expected(mails)`` -> outcome counts.
"""


import base64
import quopri
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

__all__ = ["Mail", "generate", "generate_mails", "iter_mails", "write", "write_with_meta", "expected", "PERIOD",
           "STAFF_MX"]

TZ = timezone(timedelta(hours=8))
START = datetime(2026, 11, 2, 9, 0, tzinfo=TZ)
END = datetime(2026, 11, 30, 18, 0, tzinfo=TZ)
PERIOD = "202611"  # the month every generated mail is dated in
SUPPORT = "support@vendor.example.com"
STAFF_MX = "mx.vendor.example.com"  # our border MTA: the authserv-id of the Authentication-Results it adds

# Outcomes, as mailflow's pipeline names them.
NEW, FOLLOW_UP, STAFF, AUTOMATED = "new", "follow_up", "staff", "automated"


@dataclass(frozen=True)
class Mail:
    raw: bytes
    kind: str  # the outcome mailflow should give it: new | follow_up | staff | automated
    requirement: str | None  # the requirement it creates or continues (None: unthreaded automated mail)
    attachments: int = 0
    command: str = ""  # a staff mail's subject commands


@dataclass
class _Thread:
    """A generated new request, as later mail in its thread needs it."""

    requirement: str
    sender: tuple[str, str]  # (display name, address)
    subject: str
    text: str
    zh: bool
    trad: bool
    charset: str
    message_ids: list[str] = field(default_factory=list)
    date: datetime = START


# --- who writes -------------------------------------------------------------------------------------------------

# (domain, company, language: zh | en | tw)
DOMAINS = [
    ("huaxin.example", "华信制造", "zh"),
    ("yuanhang.example", "远航物流", "zh"),
    ("northwind.example.com", "Northwind Retail", "en"),
    ("jinqiao.example", "金桥医药", "zh"),
    ("formosa.example", "福爾摩沙科技", "tw"),
    ("gmail.example", "", "mixed"),
    ("qq.example", "", "zh"),
]
DOMAIN_WEIGHTS = [22, 22, 16, 12, 8, 12, 8]
ZH_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
ZH_GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "强", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "建华",
            "志强", "海燕", "晓东", "文博", "子涵", "雨萱", "浩然"]
TW_SURNAMES = "陳林黃張李王吳劉蔡楊許鄭謝郭洪"
TW_GIVEN = ["志明", "淑芬", "雅婷", "家豪", "怡君", "俊傑", "美玲", "建宏", "宗翰", "佩珊"]
EN_FIRST = ["Bob", "Alice", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Irene", "Jack", "Karen", "Liam",
            "Mia", "Noah", "Olivia", "Paul", "Quinn", "Rachel", "Sam", "Tina"]
EN_LAST = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Thomas", "Roberts", "Walker", "Wright",
           "Hughes", "Green", "Hall", "Wood", "Clarke"]
PINYIN = {"王": "wang", "李": "li", "张": "zhang", "刘": "liu", "陈": "chen", "杨": "yang", "黄": "huang",
          "赵": "zhao", "吴": "wu", "周": "zhou", "徐": "xu", "孙": "sun", "马": "ma", "朱": "zhu", "胡": "hu",
          "郭": "guo", "何": "he", "高": "gao", "林": "lin", "罗": "luo", "郑": "zheng", "梁": "liang", "谢": "xie",
          "宋": "song", "唐": "tang", "许": "xu", "韩": "han", "冯": "feng", "邓": "deng", "曹": "cao",
          "彭": "peng", "曾": "zeng", "陳": "chen", "黃": "huang", "張": "zhang", "吳": "wu", "劉": "liu",
          "蔡": "tsai", "楊": "yang", "許": "hsu", "鄭": "cheng", "謝": "hsieh", "洪": "hung"}

# Staff who write commands, and what each may write (rules/staff.yaml; mailflow/commands/permissions.py).
STAFF_COMMANDS = [
    ("李伟", "li.wei@vendor.example.com", ["#priority:high", "#priority:low", "#assign:zhao.lei", "#type:bug",
                                          "#priority:high #assign:zhao.lei", "#note"]),
    ("王芳", "wang.fang@vendor.example.com", ["#priority:medium", "#assign:liu.yang", "#type:feature", "#note"]),
    ("孙浩", "sun.hao@vendor.example.com", ["#priority:high", "#stage:service", "#note"]),
    ("赵磊", "zhao.lei@vendor.example.com", ["#assign:zhao.lei", "#note"]),
    ("张敏", "zhang.min@vendor.example.com", ["#note", "#assign:zhang.min"]),
]
STAFF_WEIGHTS = [45, 20, 15, 12, 8]
STAFF_NOTES = {
    "#note": "内部备注：已和客户电话沟通，复现步骤见下，先不要回复客户。",
    "#priority:high": "客户是重点项目，影响月底结算，请优先处理。",
    "#priority:low": "不影响使用，排到下个迭代。",
    "#priority:medium": "按正常优先级排期。",
    "#type:bug": "这是缺陷，不是新需求。",
    "#type:feature": "这是新功能需求，进入产品评估。",
    "#stage:service": "客户已上线，转入服务阶段。",
}

# --- what they write --------------------------------------------------------------------------------------------

# (subject, body) — the body's first paragraph; details and signatures are added around it.
ZH_ASKS = [
    ("导出报表报错", "系统导出月度报表时报错，提示“内部错误 500”，从上周升级后一直这样，请尽快处理。"),
    ("希望支持移动端审批", "希望系统能支持移动端审批，我们的销售经常出差，电脑不在身边时没法审批报销单。"),
    ("个税计算结果不对", "薪资模块计算个税时结果不对，和税务局的算法有差异，差额在几块钱到几十块钱之间。"),
    ("考勤同步太慢", "考勤数据同步太慢，每天早上要等半个小时，希望优化一下同步速度。"),
    ("如何重置管理员密码", "请问如何重置管理员密码？之前的管理员离职了，密码没有交接。"),
    ("登录页面打不开", "今天早上开始登录页面打不开，浏览器一直转圈，所有同事都无法登录，生产环境，紧急！"),
    ("能否增加批量导入功能", "能否增加员工信息批量导入功能？我们有三百多名新员工要录入，一个个填太费时间。"),
    ("排班功能咨询", "请问排班模块是否可以按门店设置不同的班次？我们有十几家门店，营业时间都不一样。"),
    ("审批流程卡住", "报销审批流程卡在财务节点，财务那边看不到待办，已经有二十多张单子积压了。"),
    ("接口调用失败", "我们的 ERP 调用你们的人员同步接口失败，返回 401，令牌是刚刚重新申请的。"),
    ("报表数据和明细对不上", "部门汇总报表的数据和明细导出的数据对不上，汇总比明细多了三个人。"),
    ("建议优化页面加载速度", "人员列表页面加载很慢，一千人的部门要等十几秒，建议优化一下体验。"),
]
TW_ASKS = [
    ("系統匯出報表錯誤", "系統匯出月報表時出現錯誤，顯示「內部錯誤 500」，請協助處理。"),
    ("是否支援行動裝置簽核", "請問系統是否支援行動裝置簽核？我們的業務經常出差，無法使用電腦。"),
    ("薪資計算問題", "薪資模組計算勞健保時結果不正確，和我們自己的試算表有差異。"),
    ("如何重設管理員密碼", "請問如何重設管理員密碼？原本的管理員已經離職了。"),
]
EN_ASKS = [
    ("Payroll export fails with error 500",
     "The monthly payroll export fails with error 500 since the last update. Nobody in HR can run it."),
    ("Single sign-on with Azure AD",
     "Could you add single sign-on with our Azure AD? Our IT policy requires it for every SaaS tool by Q1."),
    ("Leave approval is slow", "Leave approval is slow when the team has more than 50 people; please improve it."),
    ("Password reset", "How do I reset the password of the admin account? The previous admin has left."),
    ("Timesheet import not working",
     "The timesheet import is not working: the file uploads, then nothing happens and no error is shown."),
    ("Feature request: custom fields",
     "Would it be possible to add custom fields to the employee profile? We need to track badge numbers."),
    ("Dashboard numbers look wrong",
     "The headcount on the dashboard does not match the employee list: 412 vs 409. Which one is right?"),
]
ZH_DETAILS = [
    "操作步骤：登录后进入“报表中心”，选择上个月，点击导出。",
    "涉及的账号是 hr_admin，浏览器是 Chrome 最新版。",
    "我们这边大概有两百个用户受影响。",
    "附件是相关截图和日志，请查收。",
    "之前的版本没有这个问题。",
    "麻烦尽快给个答复，谢谢。",
]
TW_DETAILS = ["操作步驟：登入後進入「報表中心」，選擇上個月，按下匯出。", "附件是相關截圖，請查收。", "麻煩盡快回覆，謝謝。"]
EN_DETAILS = [
    "Steps: log in as hr_admin, open Reports, pick last month, click Export.",
    "About 200 users are affected on our side.",
    "Screenshots and the log are attached.",
    "This worked fine in the previous release.",
    "We are on the cloud edition, tenant NW-EU-2.",
]
ZH_FOLLOWUPS = ["补充一下：今天又试了一次，还是同样的问题。", "请问现在进度如何？我们这边比较着急。",
                "补充信息：出问题的是华东区的三个门店，其他门店正常。", "附上新的截图，麻烦看一下。",
                "领导在催了，麻烦帮忙看看什么时候能有结果。"]
TW_FOLLOWUPS = ["補充一下：今天又試了一次，還是一樣的問題。", "請問目前處理進度如何？"]
EN_FOLLOWUPS = ["Quick update: it happened again this morning, same error.", "Any news on this one?",
                "Adding more detail: only users in the Berlin office are affected.",
                "Attached a new screenshot, hope it helps."]
ACK_ZH = ("您好，\n\n我们已收到您的邮件，需求编号 {req}。我们会在 3 个工作日内给您答复。\n"
          "回复本邮件时请保留主题中的编号。\n\n客服中心")
ACK_TW = ("您好：\n\n我們已收到您的郵件，需求編號 {req}。我們會在 3 個工作天內回覆您。\n"
          "回覆本郵件時請保留主旨中的編號。\n\n客服中心")
ACK_EN = ("Hello,\n\nWe have received your mail and filed it as {req}. We will get back to you within 3 working "
          "days.\nPlease keep the number in the subject when you reply.\n\nSupport")
LOG_LINES = [
    "{ts} INFO  [http-nio-8080-exec-{n}] c.v.hr.web.RequestLog - GET /api/v2/employees?page={n} 200 {ms}ms",
    "{ts} WARN  [scheduler-{n}] c.v.hr.sync.AttendanceSync - batch {n} took {ms}ms (threshold 5000ms)",
    "{ts} ERROR [http-nio-8080-exec-{n}] c.v.hr.report.ExportService - export failed for tenant {n}",
    "java.lang.NullPointerException: Cannot invoke \"BigDecimal.add()\" because \"total\" is null",
    "\tat com.vendor.hr.report.ExportService.sum(ExportService.java:{n})",
    "\tat com.vendor.hr.report.ExportService.export(ExportService.java:{ms})",
    "{ts} DEBUG [pool-3-thread-{n}] c.v.hr.payroll.TaxCalc - bracket={n} taxable={ms}.00",
]
# kind -> (Content-Type, file names, magic bytes); "log" is text, the others random bytes behind the magic.
ATTACHMENT_KINDS = {
    "png": ("image/png", ["报错截图.png", "screenshot.png", "截图1.png", "error.png"], b"\x89PNG\r\n\x1a\n"),
    "pdf": ("application/pdf", ["需求说明.pdf", "requirements.pdf", "合同附件.pdf", "invoice-2026-11.pdf"],
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
    "log": ("text/plain", ["server.log", "app-2026-11.log", "错误日志.log"], b""),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             ["工资表-11月.xlsx", "headcount.xlsx", "考勤明细.xlsx"], b"PK\x03\x04\x14\x00\x06\x00"),
}
ATTACHMENT_WEIGHTS = {"png": 35, "pdf": 25, "log": 25, "xlsx": 15}
MIN_ATTACHMENT, MAX_ATTACHMENT = 10_000, 2_000_000


# --- MIME by hand: charsets and encodings as real clients write them ---------------------------------------------

def _codec(charset: str) -> str:
    """Bytes under a gb2312 label are GBK in practice (Outlook, Foxmail)."""
    return {"gb2312": "gbk", "gbk": "gbk", "big5": "big5"}.get(charset, "utf-8")


def _ew(text: str, charset: str) -> str:
    """RFC 2047 B encoded-words, each under 76 characters, folded; plain ASCII stays as it is."""
    if text.isascii():
        return text
    words, chunk = [], ""
    for ch in text:
        if len(base64.b64encode((chunk + ch).encode(_codec(charset)))) > 60 - len(charset):
            words.append(chunk)
            chunk = ""
        chunk += ch
    words.append(chunk)
    return "\n ".join(f"=?{charset}?B?{base64.b64encode(w.encode(_codec(charset))).decode()}?=" for w in words)


def _address(name: str, email: str, charset: str) -> str:
    if not name:
        return email
    shown = _ew(name, charset)
    return f'"{shown}" <{email}>' if shown == name and " " in name else f"{shown} <{email}>"


def _body(text: str, charset: str, cte: str) -> tuple[str, bytes]:
    data = text.encode(_codec(charset))
    if cte == "base64":
        return cte, base64.encodebytes(data)
    if cte == "quoted-printable":
        return cte, quopri.encodestring(data)
    return ("7bit" if data.isascii() else "8bit"), data + (b"" if data.endswith(b"\n") else b"\n")


def _part(content_type: str, cte: str, payload: bytes, extra: str = "") -> bytes:
    head = f"Content-Type: {content_type}\nContent-Transfer-Encoding: {cte}\n{extra}"
    return head.encode() + b"\n" + payload


def _html(text: str, rnd: random.Random) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    body = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>\n" for p in paragraphs)
    style = rnd.choice(['font-family:"Microsoft YaHei",sans-serif;font-size:14px', "font-family:Calibri,Arial",
                        "font-size:10.5pt"])
    return (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>\n'
            f'<body><div style=\'{style}\'>\n{body}</div></body></html>\n')


def _attachment(rnd: random.Random, stamp: datetime) -> tuple[bytes, int]:
    """One attachment part (headers and base64 body) and its decoded size."""
    kind = rnd.choices(list(ATTACHMENT_WEIGHTS), weights=list(ATTACHMENT_WEIGHTS.values()))[0]
    ctype, names, magic = ATTACHMENT_KINDS[kind]
    size = int(MIN_ATTACHMENT * (MAX_ATTACHMENT / MIN_ATTACHMENT) ** (rnd.random() ** 3))
    if kind == "log":
        lines, total, n = [], 0, 0
        while total < size:
            n += 1
            ts = (stamp - timedelta(seconds=size - total)).strftime("%Y-%m-%d %H:%M:%S.") + f"{n % 1000:03d}"
            line = rnd.choice(LOG_LINES).format(ts=ts, n=rnd.randrange(1, 400), ms=rnd.randrange(3, 9000))
            lines.append(line)
            total += len(line) + 1
        data = ("\n".join(lines) + "\n").encode()[:size]
        ctype += "; charset=utf-8"
    else:
        data = magic + rnd.randbytes(size - len(magic))
    name = rnd.choice(names)
    if name.isascii():
        disp = f'attachment; filename="{name}"'
        ctype += f'; name="{name}"'
    elif rnd.random() < 0.5:  # RFC 2231 (Thunderbird, Apple Mail, Gmail)
        disp = f"attachment; filename*=UTF-8''{quote(name)}"
        ctype += f"; name*=UTF-8''{quote(name)}"
    else:  # an encoded-word in a quoted parameter (Outlook, Foxmail): not standard, everywhere
        word = _ew(name, "utf-8").replace("\n ", "")
        disp = f'attachment; filename="{word}"'
        ctype += f'; name="{word}"'
    return _part(ctype, "base64", base64.encodebytes(data), f"Content-Disposition: {disp}\n"), size


def _assemble(headers: list[tuple[str, str]], parts: list[bytes], content_type: str, rnd: random.Random) -> bytes:
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    if len(parts) == 1 and not content_type:
        return head.encode() + b"MIME-Version: 1.0\n" + parts[0]
    boundary = f"----=_Part_{rnd.randrange(10**9)}_{rnd.randrange(10**9)}"
    out = [head.encode(), f'MIME-Version: 1.0\nContent-Type: {content_type}; boundary="{boundary}"\n\n'.encode(),
           b"This is a multi-part message in MIME format.\n"]
    for part in parts:
        out.append(f"\n--{boundary}\n".encode())
        out.append(part if part.endswith(b"\n") else part + b"\n")
    out.append(f"\n--{boundary}--\n".encode())
    return b"".join(out)


def _received(rnd: random.Random, domain: str, when: datetime) -> list[tuple[str, str]]:
    ip = f"203.0.113.{rnd.randrange(1, 255)}"
    queue = "".join(rnd.choices("0123456789ABCDEFGHJKLMNPQRSTVWXYZ", k=12))
    return [("Received", f"from mail.{domain} (mail.{domain} [{ip}])\n\tby {STAFF_MX} (Postfix) with ESMTPS id "
                         f"{queue}\n\tfor <{SUPPORT}>; {format_datetime(when)}")]


def _auth_results(domain: str, rnd: random.Random) -> tuple[str, str]:
    """What our border MTA stamps on every mail it accepts."""
    if domain.endswith("vendor.example.com"):
        return ("Authentication-Results", f"{STAFF_MX}; dkim=pass header.d=vendor.example.com;\n"
                                          f"\tspf=pass smtp.mailfrom=vendor.example.com")
    verdict = rnd.choice(["dkim=pass header.d={d}; spf=pass smtp.mailfrom={d}", "spf=pass smtp.mailfrom={d}",
                          "dkim=none; spf=softfail smtp.mailfrom={d}"]).format(d=domain)
    return ("Authentication-Results", f"{STAFF_MX}; {verdict}")


# --- the generator ----------------------------------------------------------------------------------------------

class _Generator:
    def __init__(self, count: int, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.seed = seed
        self.count = count
        self.step = (END - START) / max(count, 1)
        self.threads: list[_Thread] = []
        self.people: dict[str, list[tuple[str, str]]] = {}
        self.new_count = 0

    def person(self, domain: str, lang: str) -> tuple[str, str, str]:
        """(name, address, language) from a pool of ~200 people per domain."""
        pool = self.people.setdefault(domain, [])
        rnd = self.rnd
        if len(pool) < 220 and (not pool or rnd.random() < 0.7):
            if lang == "mixed":
                lang = "zh" if rnd.random() < 0.6 else "en"
            if lang == "en":
                first, last = rnd.choice(EN_FIRST), rnd.choice(EN_LAST)
                name, local = f"{first} {last}", f"{first}.{last}".lower()
            elif lang == "tw":
                sur, given = rnd.choice(TW_SURNAMES), rnd.choice(TW_GIVEN)
                name, local = sur + given, f"{PINYIN[sur]}{len(pool)}"
            else:
                sur, given = rnd.choice(ZH_SURNAMES), rnd.choice(ZH_GIVEN)
                name, local = sur + given, f"{PINYIN[sur]}.{len(pool)}"
            if domain in ("gmail.example", "qq.example"):
                local = f"{local.replace('.', '')}{rnd.randrange(100, 999)}"
            pool.append((name, f"{local}@{domain}", lang))
        return rnd.choice(pool)

    def date(self, i: int) -> datetime:
        return START + self.step * i + timedelta(seconds=self.rnd.randrange(int(self.step.total_seconds() // 2) + 1))

    def mail(self, i: int) -> Mail:
        r = self.rnd.random()
        if self.threads and r < 0.15:
            return self.follow_up(i)
        if self.threads and r < 0.21:
            return self.staff(i)
        if self.threads and r < 0.31:
            return self.auto_reply(i)
        if r > 0.965:
            return self.bounce(i)
        return self.new_request(i)

    def common(self, address: str, when: datetime) -> list[tuple[str, str]]:
        """The trace headers our border MTA prepends: Authentication-Results on top, then Received."""
        domain = address.rpartition("@")[2]
        return [("Return-Path", f"<{address}>"), _auth_results(domain, self.rnd), *_received(self.rnd, domain, when)]

    def new_request(self, i: int) -> Mail:
        rnd = self.rnd
        domain, company, lang = rnd.choices(DOMAINS, weights=DOMAIN_WEIGHTS)[0]
        name, address, lang = self.person(domain, lang)
        when = self.date(i)
        zh, trad = lang in ("zh", "tw"), lang == "tw"
        subject, text = rnd.choice(TW_ASKS if trad else ZH_ASKS if zh else EN_ASKS)
        details = rnd.sample(TW_DETAILS if trad else ZH_DETAILS if zh else EN_DETAILS, k=rnd.randrange(1, 3))
        ref = f"{domain.split('.')[0][:2].upper()}-{i:06d}"
        phone = f"1{rnd.randrange(30, 90)}-{rnd.randrange(10**4):04d}-{rnd.randrange(10**4):04d}"
        if zh:
            greeting = "您好，" if not trad else "您好："
            sign = f"{name}\n{company}\n電話：{phone}" if trad else f"{name}\n{company or '个人用户'}\n电话：{phone}"
            ref_word, thanks = ("工單參考號", "謝謝！") if trad else ("工单参考号", "谢谢！")
            body = f"{greeting}\n\n{text}\n\n{''.join(details)}\n\n{ref_word} {ref}\n\n{thanks}\n{sign}\n"
        else:
            body = f"Hello,\n\n{text}\n\n{' '.join(details)}\n\nOur reference: {ref}\n\nBest regards,\n{name}\n" \
                   f"{company}\nTel. +86 {phone}\n"
        charset = "utf-8"
        if trad:
            charset = "big5" if rnd.random() < 0.6 else "utf-8"
        elif zh and rnd.random() < 0.45:
            charset = "gb2312" if rnd.random() < 0.65 else "gbk"
        try:
            (body + subject + name).encode(_codec(charset))
        except UnicodeEncodeError:
            charset = "utf-8"
        mid = f"<{when.strftime('%Y%m%d%H%M%S')}.{self.seed}.{i}@{domain}>"
        headers = [*self.common(address, when), ("From", _address(name, address, charset)),
                   ("To", f"{_ew('客服中心', charset) if zh else 'Support'} <{SUPPORT}>"),
                   ("Subject", _ew(subject, charset)), ("Date", format_datetime(when)), ("Message-ID", mid)]
        if rnd.random() < 0.3:
            headers.append(("X-Mailer", rnd.choice(["Microsoft Outlook 16.0", "Foxmail 7.2.25.228",
                                                    "Apple Mail (2.3774.300.61)"])))
        parts, sizes = self.text_parts(body, charset, rnd)
        n_attach = 0
        if rnd.random() < 0.16:
            n_attach = 2 if rnd.random() < 0.2 else 1
            for _ in range(n_attach):
                part, _size = _attachment(rnd, when)
                parts.append(part)
        raw = self.finish(headers, parts, sizes)
        self.new_count += 1
        req = f"REQ-{PERIOD}-{self.new_count:03d}"
        self.threads.append(_Thread(req, (name, address), subject, text, zh, trad, charset, [mid], when))
        return Mail(raw, NEW, req, n_attach)

    def text_parts(self, body: str, charset: str, rnd: random.Random) -> tuple[list[bytes], str]:
        """The text of a mail as parts, and how they are wrapped: "" (one part), "alternative"."""
        cte = rnd.choices(["8bit", "base64", "quoted-printable"],
                          weights=[5, 3, 2] if charset == "utf-8" else [3, 6, 1])[0]
        r = rnd.random()
        if r < 0.10:  # HTML only
            return [_part(f'text/html; charset="{charset}"', *_body(_html(body, rnd), charset, cte))], ""
        plain = _part(f'text/plain; charset="{charset}"', *_body(body, charset, cte))
        if r < 0.25:  # multipart/alternative, as Outlook and Gmail send by default
            html = _part(f'text/html; charset="{charset}"', *_body(_html(body, rnd), charset, cte))
            alt = f"----=_Alt_{rnd.randrange(10**9)}"
            wrapped = (f'Content-Type: multipart/alternative; boundary="{alt}"\n\n--{alt}\n').encode() + plain + \
                      f"\n--{alt}\n".encode() + html + f"\n--{alt}--\n".encode()
            return [wrapped], "alternative"
        return [plain], ""

    def finish(self, headers: list[tuple[str, str]], parts: list[bytes], wrapped: str) -> bytes:
        if len(parts) == 1:
            if wrapped == "alternative":  # the part already carries its multipart/alternative header
                return "".join(f"{n}: {v}\n" for n, v in headers).encode() + b"MIME-Version: 1.0\n" + parts[0]
            return _assemble(headers, parts, "", self.rnd)
        return _assemble(headers, parts, "multipart/mixed", self.rnd)

    def quoted(self, thread: _Thread, when: datetime, style: str) -> str:
        ack = (ACK_TW if thread.trad else ACK_ZH if thread.zh else ACK_EN).format(req=thread.requirement)
        acked = thread.date + timedelta(minutes=3)
        if style == "gmail":
            head = f"On {format_datetime(acked)}, Support <{SUPPORT}> wrote:\n"
            inner = ack + f"\n\n> {thread.text}"
            return head + "".join(f"> {line}\n" if line else ">\n" for line in inner.splitlines())
        if thread.trad:  # Outlook in Traditional Chinese
            sep, sender, sent, to, subj, details = ("-----原始郵件-----", "寄件者", "傳送時間", "收件者", "主旨",
                                                    TW_DETAILS)
        else:
            sep = "-----原始邮件-----" if style == "outlook" else "------------------ 原始邮件 ------------------"
            sender, sent, to, subj, details = "发件人", "发送时间", "收件人", "主题", ZH_DETAILS
        return (f"{sep}\n{sender}: 客服中心 <{SUPPORT}>\n{sent}: {acked.year}年{acked.month}月{acked.day}日 "
                f"{acked.strftime('%H:%M')}\n{to}: {thread.sender[1]}\n{subj}: Re: [{thread.requirement}] "
                f"{thread.subject}\n\n{ack}\n\n{sep}\n{sender}: {thread.sender[1]}\n{subj}: {thread.subject}\n\n"
                f"{thread.text}\n" + "\n".join(details[: 2 + len(thread.text) % 3]) + "\n")

    def follow_up(self, i: int) -> Mail:
        rnd = self.rnd
        thread = rnd.choice(self.threads[-400:])  # people follow up on recent requests
        when = max(self.date(i), thread.date + timedelta(minutes=5))
        name, address = thread.sender
        domain = address.rpartition("@")[2]
        words = rnd.choice(TW_FOLLOWUPS if thread.trad else ZH_FOLLOWUPS if thread.zh else EN_FOLLOWUPS)
        style = "gmail" if not thread.zh else rnd.choice(["outlook", "foxmail", "gmail"])
        tagged = rnd.random() < 0.75
        prefix = rnd.choice(["Re: ", "RE: ", "回复: "] if thread.zh else ["Re: ", "RE: "])
        subject = prefix + (f"[{thread.requirement}] " if tagged else "") + thread.subject
        body = f"{words}\n\n{name}\n\n{self.quoted(thread, when, style)}"
        charset = thread.charset
        try:
            (body + subject + name).encode(_codec(charset))
        except UnicodeEncodeError:
            charset = "utf-8"
        mid = f"<{when.strftime('%Y%m%d%H%M%S')}.{self.seed}.{i}.re@{domain}>"
        our_ack = f"<{thread.requirement}.{rnd.randrange(16**8):08x}@vendor.example.com>"
        if tagged:  # an answer to our acknowledgement (whose Message-ID we cannot know here)
            refs = [*thread.message_ids, our_ack]
        else:  # a reply to their own earlier mail: threads by References alone
            refs = list(thread.message_ids)
        headers = [*self.common(address, when), ("From", _address(name, address, charset)),
                   ("To", f"<{SUPPORT}>"), ("Subject", _ew(subject, charset)), ("Date", format_datetime(when)),
                   ("Message-ID", mid), ("In-Reply-To", refs[-1]), ("References", "\n ".join(refs[-8:]))]
        parts, wrapped = self.text_parts(body, charset, rnd)
        n_attach = 0
        if rnd.random() < 0.15:
            n_attach = 1
            parts.append(_attachment(rnd, when)[0])
        thread.message_ids.append(mid)
        return Mail(self.finish(headers, parts, wrapped), FOLLOW_UP, thread.requirement, n_attach)

    def staff(self, i: int) -> Mail:
        rnd = self.rnd
        thread = rnd.choice(self.threads[-300:])
        when = max(self.date(i), thread.date + timedelta(minutes=10))
        name, address, commands = rnd.choices(STAFF_COMMANDS, weights=STAFF_WEIGHTS)[0]
        command = rnd.choice(commands)
        note = " ".join(STAFF_NOTES.get(c, "收到，我来跟进。") for c in command.split())
        subject = f"Re: [{thread.requirement}] {thread.subject} {command}"
        body = (f"{note}\n\n{name}\n\n-----原始邮件-----\n发件人: mailflow <{SUPPORT}>\n主题: [{thread.requirement}] "
                f"新需求 / new requirement: {thread.subject}\n\n{thread.text}\n")
        mid = f"<{when.strftime('%Y%m%d%H%M%S')}.{self.seed}.{i}@vendor.example.com>"
        notice = f"<{thread.requirement}.{rnd.randrange(16**8):08x}@vendor.example.com>"
        headers = [("Return-Path", f"<{address}>"), _auth_results("vendor.example.com", rnd),
                   *_received(rnd, "vendor.example.com", when), ("From", _address(name, address, "utf-8")),
                   ("To", SUPPORT), ("Subject", _ew(subject, "utf-8")), ("Date", format_datetime(when)),
                   ("Message-ID", mid), ("In-Reply-To", notice), ("References", notice),
                   ("X-Mailer", "Microsoft Outlook 16.0")]
        cte = rnd.choice(["base64", "quoted-printable"])
        raw = _assemble(headers, [_part('text/plain; charset="utf-8"', *_body(body, "utf-8", cte))], "", rnd)
        return Mail(raw, STAFF, thread.requirement, 0, command)

    def auto_reply(self, i: int) -> Mail:
        rnd = self.rnd
        thread = rnd.choice(self.threads[-50:])  # out-of-office answers come right after our acknowledgement
        when = max(self.date(i), thread.date + timedelta(minutes=4))
        name, address = thread.sender
        domain = address.rpartition("@")[2]
        style = rnd.random()
        topic = f"Re: [{thread.requirement}] {thread.subject}"
        extra: list[tuple[str, str]] = []
        if thread.zh:
            subject = f"自动回复: {topic}"
            body = f"您好，我正在休假，11月{when.day + 2 if when.day < 28 else 30}日回来，期间邮件可能无法及时回复。\n{name}\n"
        else:
            subject = f"Automatic reply: {topic}" if style < 0.7 else f"Out of Office: {topic}"
            body = f"I am out of the office until Monday with limited access to e-mail.\n{name}\n"
        if style < 0.5:
            extra.append(("Auto-Submitted", "auto-replied"))
        elif style < 0.8:
            extra += [("X-Auto-Response-Suppress", "All"), ("X-MS-Exchange-Inbox-Rules-Loop", address)]
        elif thread.zh:
            extra.append(("Auto-Submitted", "auto-replied"))  # subject alone would still say 自动回复
        our_ack = f"<{thread.requirement}.{rnd.randrange(16**8):08x}@vendor.example.com>"
        mid = f"<{when.strftime('%Y%m%d%H%M%S')}.{self.seed}.{i}.auto@{domain}>"
        charset = "utf-8" if thread.charset == "big5" else thread.charset
        headers = [*self.common(address, when), ("From", _address(name, address, charset)), ("To", SUPPORT),
                   ("Subject", _ew(subject, charset)), ("Date", format_datetime(when)), ("Message-ID", mid),
                   ("In-Reply-To", our_ack), *extra]
        raw = _assemble(headers, [_part(f'text/plain; charset="{charset}"', *_body(body, charset, "base64"))], "",
                        rnd)
        return Mail(raw, AUTOMATED, thread.requirement)

    def bounce(self, i: int) -> Mail:
        rnd = self.rnd
        when = self.date(i)
        domain, _company, lang = rnd.choices(DOMAINS, weights=DOMAIN_WEIGHTS)[0]
        name, address, _lang = self.person(domain, lang)
        queue = "".join(rnd.choices("0123456789ABCDEFGHJKLMNPQRSTVWXYZ", k=12))
        notice = (f"This is the mail system at host {STAFF_MX}.\n\nI'm sorry to have to inform you that your message "
                  f"could not\nbe delivered to one or more recipients. It's attached below.\n\n"
                  f"                   The mail system\n\n<{address}>: host mail.{domain}[203.0.113.25] said: 550\n"
                  f"    5.1.1 <{address}>: Recipient address rejected: User unknown\n")
        status = (f"Reporting-MTA: dns; {STAFF_MX}\nX-Postfix-Queue-ID: {queue}\nArrival-Date: "
                  f"{format_datetime(when)}\n\nFinal-Recipient: rfc822; {address}\nAction: failed\nStatus: 5.1.1\n"
                  f"Remote-MTA: dns; mail.{domain}\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n")
        original = (f"From: Support <{SUPPORT}>\nTo: {address}\nSubject: Re: {_ew('您的邮件已收到', 'utf-8')}\n"
                    f"Date: {format_datetime(when)}\nMessage-ID: <REQ-{PERIOD}-x.{queue}@vendor.example.com>\n"
                    f"Auto-Submitted: auto-replied\n")
        headers = [("Return-Path", "<>"), *_received(rnd, STAFF_MX, when),
                   ("From", f"MAILER-DAEMON@{STAFF_MX} (Mail Delivery System)"), ("To", SUPPORT),
                   ("Subject", "Undelivered Mail Returned to Sender"), ("Date", format_datetime(when)),
                   ("Message-ID", f"<{when.strftime('%Y%m%d%H%M%S')}.{queue}.{i}@{STAFF_MX}>"),
                   ("Auto-Submitted", "auto-replied")]
        parts = [_part("text/plain; charset=us-ascii", "7bit", notice.encode(), "Content-Description: Notification\n"),
                 b"Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n" + status.encode(),
                 b"Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n"
                 + original.encode()]
        raw = _assemble(headers, parts, "multipart/report; report-type=delivery-status", rnd)
        return Mail(raw, AUTOMATED, None)


def iter_mails(count: int, seed: int = 7) -> Iterator[Mail]:
    """``count`` mails in date order, one at a time (a big backlog need not be held in memory)."""
    gen = _Generator(count, seed)
    for i in range(count):
        yield gen.mail(i)


def generate_mails(count: int, seed: int = 7) -> list[Mail]:
    """``count`` mails in date order, each with the outcome mailflow should give it."""
    return list(iter_mails(count, seed))


def generate(count: int, seed: int = 7) -> list[bytes]:
    """``count`` raw mails (LF line ends), deterministic for a given seed."""
    return [m.raw for m in generate_mails(count, seed)]


def expected(mails: list[Mail]) -> dict[str, int]:
    """How many of each outcome ingesting ``mails`` in order into an empty store should give."""
    counts = Counter(m.kind for m in mails)
    return {k: counts.get(k, 0) for k in (NEW, FOLLOW_UP, STAFF, AUTOMATED)}


def write(directory: Path, count: int, seed: int = 7, mails: Iterable[Mail] | None = None) -> list[Path]:
    """Write the mails as ``directory/000000.eml`` …, in the order mailflow ingests them (sorted names)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, mail in enumerate(mails if mails is not None else iter_mails(count, seed)):
        path = directory / f"{i:06d}.eml"
        path.write_bytes(mail.raw)
        paths.append(path)
    return paths


def write_with_meta(directory: Path, count: int, seed: int = 7) -> tuple[list[Path], list[Mail]]:
    """``write``, returning each mail's expected outcome too (``Mail`` records without their bytes)."""
    metas: list[Mail] = []

    def light() -> Iterator[Mail]:
        for mail in iter_mails(count, seed):
            metas.append(replace(mail, raw=b""))
            yield mail

    return write(directory, count, seed, mails=light()), metas


if __name__ == "__main__":  # python bench/generate.py DIR [COUNT [SEED]]: write a sample to look at
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-mail")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    made = generate_mails(n, int(sys.argv[3]) if len(sys.argv) > 3 else 7)
    write(target, n, mails=made)
    total = sum(len(m.raw) for m in made)
    print(f"{n} mails, {total / 1e6:.1f} MB in {target}: {expected(made)}, "
          f"{sum(m.attachments for m in made)} attachments")
