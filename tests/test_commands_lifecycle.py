"""A requirement's whole life driven only by mail, read off a real SMTP server.

The client asks; the lead assigns; the planner proposes and confirms a plan;
the owner replies naming the version, marks it done with a patch; the
client verifies and rates it. Staff mails are realistic Foxmail replies
under tests/data/mail/lifecycle/ carrying our border MTA's
Authentication-Results; spoofed variants are made from them by changing
only that header.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailflow.cli import cli as mailflow_cli

from conftest import DEMO_INBOX, MAIL, NOW, SHANGHAI
from smtp_sink import Received, SmtpSink

LIFE = MAIL / "lifecycle"
FIRST = DEMO_INBOX / "01-huaxin-mobile-approval.eml"
REQ = "REQ-202611-001"
CLIENT = "zhang.wei@huaxin.example"
TRUSTED = "mx.vendor.example.com"


class Desk:
    """mailflow with its outbox sent to a loopback SMTP server after every mail."""

    def __init__(self, config: Path, sink: SmtpSink, tmp: Path) -> None:
        self.config, self.sink, self.tmp = config, sink, tmp
        self.seen = 0

    def run(self, *args: str, at: datetime = NOW) -> str:
        result = CliRunner().invoke(mailflow_cli, ["--config", str(self.config), *args], obj={},
                                    env={"MAILFLOW_NOW": at.isoformat()})
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        return result.output

    def mail(self, source: Path | bytes, at: datetime = NOW) -> list[Received]:
        """Ingest one mail, send what it queued; what went over the wire."""
        if isinstance(source, bytes):
            path = self.tmp / f"mail-{self.seen}-{len(self.sink.received)}.eml"
            path.write_bytes(source)
            source = path
        self.run("ingest", str(source), at=at)
        self.run("outbox", "send", at=at)
        new = self.sink.received[self.seen:]
        self.seen = len(self.sink.received)
        return new

    def record(self) -> dict:
        return json.loads(self.run("requirements", "show", REQ, "--json"))

    def outbox(self) -> list[dict]:
        return json.loads(self.run("outbox", "list", "--json"))


@pytest.fixture
def desk(config_file: Path, smtp_sink: SmtpSink, tmp_path: Path) -> Desk:
    with config_file.open("a", encoding="utf-8") as fh:
        fh.write(f'host = "127.0.0.1"\nport = {smtp_sink.port}\nsecurity = "none"\ntimeout = 5\n')
    assert f'trusted_authserv_ids = ["{TRUSTED}"]' in config_file.read_text(encoding="utf-8")
    return Desk(config_file, smtp_sink, tmp_path)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11 if day >= 23 else 12, day, hour, minute, tzinfo=SHANGHAI)


def one(mails: list[Received], to: str) -> Received:
    [mail] = [m for m in mails if to in m.rcpt_tos]
    return mail


def text(mail: Received) -> str:
    return mail.message.get_body(("plain",)).get_content()


def kinds(desk: Desk) -> list[str]:
    return [e["kind"] for e in desk.record()["events"]]


def test_a_full_lifecycle_driven_only_by_mail(desk: Desk) -> None:
    # The client asks: a careful acknowledgement, the owner is told.
    sent = desk.mail(FIRST)
    ack = text(one(sent, CLIENT))
    assert "已经收到" in ack and "v2.3" not in ack
    assert one(sent, "wang.fang@vendor.example.com")

    # The product lead hands it to the planner and raises the priority.
    sent = desk.mail(LIFE / "02-lead-assigns.eml", at(23, 10, 20))
    assert "有一条新需求分配给您" in text(one(sent, "liu.yang@vendor.example.com"))
    assert "#assign:liu.yang" in text(one(sent, "wang.fang@vendor.example.com"))  # the command result
    assert all(CLIENT not in m.rcpt_tos for m in sent)
    record = desk.record()
    assert (record["owner"], record["priority"]) == ("liu.yang", "high")

    # A proposed plan goes to the client to confirm the approach, naming no version or date.
    sent = desk.mail(LIFE / "03-planner-proposes.eml", at(23, 11, 5))
    proposal = text(one(sent, CLIENT))
    assert "手机浏览器即可查看待办" in proposal and "尚未确定版本和时间" in proposal
    assert "v2.3" not in proposal and "12月15日" not in proposal

    # Confirmed: now the client may be told the version and the date.
    sent = desk.mail(LIFE / "04-planner-confirms.eml", at(23, 15, 30))
    confirmed = text(one(sent, CLIENT))
    assert "v2.3" in confirmed and "2026年12月15日" in confirmed
    assert desk.record()["status"] == "in_progress"

    # The owner's own words naming the confirmed version pass the guard.
    sent = desk.mail(LIFE / "05-staff-replies-with-version.eml", at(24, 9, 10))
    assert "将在 v2.3 版本中实现" in text(one(sent, CLIENT))

    # Done with a patch: how it was solved, the patch, and a request to verify.
    sent = desk.mail(LIFE / "06-staff-done-with-patch.eml", at(14, 17, 45))
    to_client = [m for m in sent if CLIENT in m.rcpt_tos]
    assert len(to_client) == 2
    resolved, verify = (text(m) for m in to_client)
    assert "KB-1024" in resolved and "手机浏览器打开待办即可审批" in resolved
    assert "通过" in verify
    assert desk.record()["status"] == "pending_verification"

    # The client passes it; we ask how satisfied they are, and the owner hears.
    sent = desk.mail(LIFE / "07-client-verifies-pass.eml", at(16, 9, 31))
    assert "满意" in text(one(sent, CLIENT))
    assert one(sent, "liu.yang@vendor.example.com")
    record = desk.record()
    assert (record["status"], record["verification"]) == ("done", "passed")
    assert record["completed_at"].startswith("2026-12-16")

    # Satisfied: closed, and nobody is mailed again.
    assert desk.mail(LIFE / "08-client-satisfied.eml", at(16, 10, 3)) == []
    record = desk.record()
    assert (record["status"], record["satisfaction"]) == ("closed", "satisfied")

    # The process log tells the story in order, each step with who did it.
    story = [(e["kind"], e["actor"]) for e in record["events"]
             if e["kind"] not in ("classified", "staff_message", "follow_up")]
    assert story == [
        ("created", CLIENT), ("assigned", "mailflow"),
        ("assigned", "wang.fang"), ("priority", "wang.fang"),
        ("plan_proposed", "liu.yang"),
        ("plan_confirmed", "liu.yang"), ("status", "liu.yang"),
        ("reply", "liu.yang"),
        ("patch", "liu.yang"), ("done", "liu.yang"),
        ("verification", CLIENT), ("status", CLIENT),
        ("satisfaction", CLIENT), ("status", CLIENT),
    ]
    # Every mail to the client went through the guard and was sent; none was held.
    assert {row["status"] for row in desk.outbox()} == {"sent"}


def _spoofed(how: str) -> bytes:
    raw = (LIFE / "02-lead-assigns.eml").read_bytes()
    start = raw.index(b"Authentication-Results:")
    end = raw.index(b"Received:", start)
    headers = {
        "no header": b"",
        "dkim and spf fail": (b"Authentication-Results: mx.vendor.example.com;\r\n\tdkim=fail header.d=vendor.example.com;"
                              b"\r\n\tspf=fail smtp.mailfrom=wang.fang@vendor.example.com\r\n"),
        "untrusted authserv-id": (b"Authentication-Results: mx.attacker.example.net;\r\n"
                                  b"\tdkim=pass header.d=vendor.example.com\r\n"),
        "pass for another domain": (b"Authentication-Results: mx.vendor.example.com;\r\n"
                                    b"\tdkim=pass header.d=attacker.example.net;\r\n"
                                    b"\tspf=pass smtp.mailfrom=bounce@attacker.example.net\r\n"),
    }
    return raw[:start] + headers[how] + raw[end:]


@pytest.mark.parametrize("how", ["no header", "dkim and spf fail", "untrusted authserv-id", "pass for another domain"])
def test_a_spoofed_staff_command_executes_nothing(desk: Desk, how: str) -> None:
    desk.mail(FIRST)
    sent = desk.mail(_spoofed(how), at(23, 10, 20))

    record = desk.record()
    assert (record["owner"], record["priority"]) == ("wang.fang", "medium")  # nothing applied
    [refused] = [e for e in record["events"] if e["kind"] == "security:command_refused"]
    assert "could not be authenticated" in refused["detail"] and "wang.fang@vendor.example.com" in refused["actor"]
    # The staff member whose address was used, who is also the owner, is told; nobody else.
    [notice] = sent
    assert notice.rcpt_tos == ("wang.fang@vendor.example.com",)
    assert "命令未执行" in notice.message["Subject"] and "authenticated" in text(notice)


def test_a_clients_subject_with_status_closed_is_just_a_clients_message(desk: Desk) -> None:
    desk.mail(FIRST)
    sent = desk.mail(LIFE / "client-subject-with-status-closed.eml", at(24, 10))

    record = desk.record()
    assert record["status"] == "new"
    assert not any("command" in k for k in kinds(desk))
    # The owner reads the client's words (the account owner copied); the client gets no command result.
    [notice] = sent
    assert notice.rcpt_tos == ("wang.fang@vendor.example.com", "zhou.qing@vendor.example.com"), notice.rcpt_tos
    assert "内部再讨论" in text(notice)


def test_a_committal_reply_before_the_plan_is_confirmed_is_held_and_its_author_told_why(desk: Desk) -> None:
    desk.mail(FIRST)
    desk.mail(LIFE / "02-lead-assigns.eml", at(23, 10, 20))
    sent = desk.mail(LIFE / "05-staff-replies-with-version.eml", at(24, 9, 10))

    assert all(CLIENT not in m.rcpt_tos for m in sent)
    notice = one(sent, "liu.yang@vendor.example.com")
    assert "命令未执行" in notice.message["Subject"]
    body = text(notice)
    assert "commitment guard" in body and "将在 v2.3 版本中实现" in body
    held = [row for row in desk.outbox() if row["status"] == "blocked"]
    assert [row["template"] for row in held] == ["zh/staff_reply"]
    assert "reply" not in kinds(desk)  # all or nothing: the #reply was not applied


def test_a_failed_verification_goes_back_to_the_owner_with_the_clients_words(desk: Desk) -> None:
    desk.mail(FIRST)
    desk.mail(LIFE / "02-lead-assigns.eml", at(23, 10, 20))
    desk.mail(LIFE / "06-staff-done-with-patch.eml", at(14, 17, 45))
    sent = desk.mail(LIFE / "client-verifies-fail.eml", at(16, 9, 30))

    notice = one(sent, "liu.yang@vendor.example.com")
    assert "验证未通过" in notice.message["Subject"] and "华为手机上点审批按钮还是没有反应" in text(notice)
    assert all(CLIENT not in m.rcpt_tos for m in sent)
    record = desk.record()
    assert (record["status"], record["verification"]) == ("in_progress", "failed")


def test_a_scope_change_after_a_plan_is_a_change_request_back_to_evaluation(desk: Desk) -> None:
    desk.mail(FIRST)
    desk.mail(LIFE / "02-lead-assigns.eml", at(23, 10, 20))
    desk.mail(LIFE / "03-planner-proposes.eml", at(23, 11, 5))
    desk.mail(LIFE / "04-planner-confirms.eml", at(23, 15, 30))
    sent = desk.mail(LIFE / "client-changes-scope.eml", at(25, 14))

    notice = one(sent, "liu.yang@vendor.example.com")
    assert "需求变更" in notice.message["Subject"] and "手写签名" in text(notice)
    record = desk.record()
    assert record["status"] == "new" and record["plan"]["confirmed"] is False
    assert "change_request" in kinds(desk)


def test_a_merged_duplicate_tells_its_client_and_its_later_mail_lands_on_the_other(desk: Desk) -> None:
    desk.mail(FIRST)
    desk.mail(DEMO_INBOX / "14-prospect-sso-no-message-id.eml", at(23, 10, 5))
    merge = (LIFE / "02-lead-assigns.eml").read_bytes().replace(
        b"Subject: Re: [REQ-202611-001] \xe6\x96\xb0\xe9\x9c\x80\xe6\xb1\x82", b"Subject: Re: [REQ-202611-002] x"
    ).replace(b"#assign:liu.yang #priority:high", b"#merge:REQ-202611-001").replace(b"fox-assign-0001", b"fox-merge-0009")
    sent = desk.mail(merge, at(23, 10, 30))

    second = json.loads(desk.run("requirements", "show", "REQ-202611-002", "--json"))
    assert second["status"] == "closed"
    client = second["submitter"]["email"] if isinstance(second["submitter"], dict) else second["submitter"]
    told = [m for m in sent if any(a in client for a in m.rcpt_tos)]
    assert told and REQ in text(told[0])
    assert "merged_from" in kinds(desk)


def test_a_service_stage_client_writing_directly_is_redirected_once_and_their_contact_told(desk: Desk) -> None:
    northwind = "emily.carter@northwind.example.com"
    first = desk.mail(DEMO_INBOX / "06-northwind-payroll-export-500.eml")
    assert "service contact" in text(one(first, northwind)).lower()
    assert one(first, "zhang.min@vendor.example.com")  # the account owner is notified

    again = desk.mail(DEMO_INBOX / "15-northwind-truncated-log.eml", at(23, 11))
    assert all(northwind not in m.rcpt_tos for m in again)  # redirected once per thread, not at every mail
    [told] = again
    assert "zhang.min@vendor.example.com" in told.rcpt_tos


def _staff_mail(sender: str, name_b64: str, subject: str, body: str, n: int) -> bytes:
    """A copy of the lead's Foxmail reply, from someone else, with another subject and text."""
    raw = (LIFE / "02-lead-assigns.eml").read_text(encoding="utf-8")
    head, _, rest = raw.partition("\n\n")
    quote = rest[rest.index("------------------ 原始邮件"):]
    head = head.replace("wang.fang@vendor.example.com", sender).replace("=?utf-8?B?546L6Iqz?=", name_b64)
    head = head.replace("fox-assign-0001", f"fox-test-{n:04d}")
    head = "\n".join(f"Subject: {subject}" if line.startswith("Subject:") else line for line in head.split("\n"))
    return f"{head}\n\n{body}\n\n{quote}".encode()


def test_nothing_of_a_subject_applies_when_one_command_cannot(desk: Desk) -> None:
    desk.mail(FIRST)
    sent = desk.mail(_staff_mail("wang.fang@vendor.example.com", "=?utf-8?B?546L6Iqz?=",
                                 f"Re: [{REQ}] #priority:high #confirm #statuss:done", "先提高优先级。", 1))
    record = desk.record()
    assert (record["priority"], record["plan"]["confirmed"]) == ("medium", False)
    [notice] = sent
    body = text(notice)
    assert "#statuss:done: unknown command" in body  # every problem, in one mail
    assert "#plan:版本@YYYY-MM-DD" in body  # with the valid forms

    sent = desk.mail(_staff_mail("wang.fang@vendor.example.com", "=?utf-8?B?546L6Iqz?=",
                                 f"Re: [{REQ}] #priority:high #confirm", "先提高优先级。", 2))
    assert "there is no plan to confirm" in text(sent[0])
    assert desk.record()["priority"] == "medium"


def test_a_developer_may_not_confirm_a_plan_and_the_refusal_is_a_security_event(desk: Desk) -> None:
    desk.mail(FIRST)
    desk.mail(LIFE / "03-planner-proposes.eml", at(23, 11, 5))
    sent = desk.mail(_staff_mail("zhao.lei@vendor.example.com", "=?utf-8?B?6LW156OK?=",
                                 f"Re: [{REQ}] #confirm", "我确认一下。", 3), at(23, 12))
    assert desk.record()["plan"]["confirmed"] is False
    assert any(e["kind"] == "security:command_refused" and "needs a planner" in e["detail"]
               for e in desk.record()["events"])
    [notice] = sent
    assert notice.rcpt_tos == ("zhao.lei@vendor.example.com", "wang.fang@vendor.example.com")  # sender, owner


def test_help_answers_with_every_command(desk: Desk) -> None:
    desk.mail(FIRST)
    [answer] = desk.mail(_staff_mail("zhao.lei@vendor.example.com", "=?utf-8?B?6LW156OK?=",
                                     f"Re: [{REQ}] #help", "", 4))
    body = text(answer)
    assert "命令已执行" in answer.message["Subject"]
    for form in ("#assign:", "#plan:", "#confirm", "#done", "#decline", "#reply", "#note", "#merge:"):
        assert form in body
    assert "可用的命令" in body and "Commands (in the subject of your reply" in body  # zh and en


def test_show_prints_the_plan_the_verdicts_and_one_line_per_step_newest_first(desk: Desk) -> None:
    desk.mail(FIRST)
    desk.mail(LIFE / "02-lead-assigns.eml", at(23, 10, 20))
    desk.mail(LIFE / "03-planner-proposes.eml", at(23, 11, 5))
    desk.mail(LIFE / "04-planner-confirms.eml", at(23, 15, 30))
    shown = desk.run("requirements", "show", REQ)

    assert "plan: v2.3 @ 2026-12-15 (confirmed by liu.yang)   verification: -" in shown
    log = shown.split("process log (newest first):\n", 1)[1].splitlines()
    assert len(log) == len(desk.record()["events"])  # a multi-line mail text stays on its step's line
    assert "plan_confirmed: v2.3 @ 2026-12-15" in log[1] and "created:" in log[-1]


def test_two_workers_with_the_same_command_at_once_apply_it_once(desk: Desk, db_url: str) -> None:
    """Two leads raise the priority in the same minute and two workers take the mails at once: the
    requirement's row lock puts one after the other, so the second sees the first's change and is
    refused as setting the priority to what it already is. Without the lock both would apply."""
    import threading

    from mailflow.config import load_config
    from mailflow.pipeline import load_runtime, process
    from mailflow.store.session import open_store

    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole writers")
    desk.mail(FIRST)
    mails = [_staff_mail("wang.fang@vendor.example.com", "=?utf-8?B?546L6Iqz?=", f"Re: [{REQ}] #priority:high",
                         f"客户催得急，先提高优先级。({n})", 10 + n) for n in range(2)]
    config = load_config(str(desk.config))
    runtimes = [load_runtime(config, open_store(config.database_url), clock=lambda: at(23, 11)) for _ in mails]
    barrier = threading.Barrier(len(mails))
    outcomes = []

    def work(rt, raw: bytes) -> None:  # noqa: ANN001
        barrier.wait()
        outcomes.append(process(raw, "staff.eml", rt))

    threads = [threading.Thread(target=work, args=pair) for pair in zip(runtimes, mails)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(o.reason.startswith("commands refused") for o in outcomes) == [False, True]
    assert "it is high already" in next(o.reason for o in outcomes if o.reason.startswith("commands refused"))
    record = desk.record()
    assert record["priority"] == "high"
    assert [e["kind"] for e in record["events"]].count("priority") == 1
