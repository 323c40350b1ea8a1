"""Nothing reaches the outbox without passing the gate: the careful-reply rule
end to end, loop and flood protection, internal notices kept internal."""

from __future__ import annotations

import email
import shutil
from email import policy
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow import pipeline
from mailflow.config import Config, DatabaseConfig, GeneralConfig, PathsConfig
from mailflow.outgoing import notify
from mailflow.parse.model import Address
from mailflow.record.plan import confirm_plan, propose_plan
from mailflow.reply.gate import hold_reason
from mailflow.reply.guard import Plan, load_commitment
from mailflow.reply.model import Draft
from mailflow.send.outbox import enqueue, prefetch_recent, recent_external
from mailflow.store.session import open_store
from mailflow.store.tables import Event, Outbox

from conftest import DEMO_INBOX, NOW, ROOT

PROMISE = "我们保证下个版本实现。"


def _runtime(db_url: str, tmp_path: Path, templates: Path | None = None, **general: int) -> pipeline.Runtime:
    config = Config(database=DatabaseConfig(url=db_url),
                    paths=PathsConfig(rules=str(ROOT / "rules"), templates=str(templates or ROOT / "reply_templates"),
                                      attachments=str(tmp_path / "att")),
                    general=GeneralConfig(**general))
    return pipeline.load_runtime(config, open_store(db_url), clock=lambda: NOW)


def _templates_saying(tmp_path: Path, promise: str, *names: str) -> Path:
    """A copy of the shipped templates where an admin added a promise to some of them."""
    copy = tmp_path / "templates"
    shutil.copytree(ROOT / "reply_templates", copy)
    for name in names:
        path = copy / "zh" / f"{name}.txt.j2"
        subject, body = path.read_text(encoding="utf-8").split("\n\n", 1)
        path.write_text(f"{subject}\n\n{promise}\n\n{body}", encoding="utf-8")
    return copy


def _rows(rt: pipeline.Runtime) -> list[Outbox]:
    with rt.store.session() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def _ingest(rt: pipeline.Runtime, number: str) -> pipeline.Outcome:
    path = next(DEMO_INBOX.glob(f"{number}-*.eml"))
    return pipeline.process(path.read_bytes(), path.name, rt)


def test_an_admins_promise_in_the_ack_is_held_and_the_owner_told(db_url: str, tmp_path: Path) -> None:
    rt = _runtime(db_url, tmp_path, _templates_saying(tmp_path, PROMISE, "ack_presales"))
    outcome = _ingest(rt, "01")
    rows = _rows(rt)
    [ack] = [r for r in rows if r.template == "zh/ack_presales"]
    assert ack.status == "blocked"
    assert ack.reason == 'commitment guard: committal wording "保证" before a confirmed plan'
    [notice] = [r for r in rows if r.template == "zh/blocked_notice"]
    assert notice.status == "pending" and notice.to_addrs[0].endswith("@vendor.example.com")
    notice_text = email.message_from_bytes(notice.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert PROMISE in notice_text and "保证" in notice_text  # the owner sees what was held, and why
    assert outcome.queued == 2  # the owner's new_requirement note and the blocked notice; not the ack
    with rt.store.session() as s:
        held = s.scalars(select(Event).where(Event.kind == "mail_held")).all()
    assert len(held) == 1 and "zh/ack_presales" in held[0].detail


def test_the_same_promise_is_allowed_once_the_plan_is_confirmed(db_url: str, tmp_path: Path) -> None:
    rt = _runtime(db_url, tmp_path, _templates_saying(tmp_path, PROMISE, "progress"))
    rid = _ingest(rt, "01").requirement_id
    assert notify(rt, rid, "progress", message="需求分析已完成。") == 1  # only the blocked notice went
    [progress] = [r for r in _rows(rt) if r.template == "zh/progress"]
    assert progress.status == "blocked"

    with rt.store.session() as s:
        propose_plan(s, rid, version="v2.3", planned=date(2026, 12, 15), actor="liu.yang", now=NOW)
    notify(rt, rid, "progress", message="需求分析已完成。")
    assert [r.status for r in _rows(rt) if r.template == "zh/progress"] == ["blocked", "blocked"]  # proposed only

    with rt.store.session() as s:
        confirm_plan(s, rid, actor="wang.fang", now=NOW)
    notify(rt, rid, "progress", message="需求分析已完成。")
    assert [r.status for r in _rows(rt) if r.template == "zh/progress"] == ["blocked", "blocked", "pending"]


def _plan_confirmed_mail(rt: pipeline.Runtime) -> Outbox:
    """Mail 01's requirement gets plan v2.3 @ 2026-12-15, confirmed; the mail announcing it."""
    rid = _ingest(rt, "01").requirement_id
    with rt.store.session() as s:
        propose_plan(s, rid, version="v2.3", planned=date(2026, 12, 15), actor="liu.yang", now=NOW)
        confirm_plan(s, rid, actor="wang.fang", now=NOW)
    notify(rt, rid, "plan_confirmed")  # the plan comes from the record itself
    [mail] = [r for r in _rows(rt) if r.template == "zh/plan_confirmed"]
    return mail


def test_a_confirmed_plan_mail_may_name_only_the_confirmed_version(db_url: str, tmp_path: Path) -> None:
    rt = _runtime(db_url, tmp_path, _templates_saying(tmp_path, "另外 v3.0 也会包含该功能。", "plan_confirmed"))
    mail = _plan_confirmed_mail(rt)
    assert mail.status == "blocked"
    assert "v3.0" in mail.reason and "v2.3" in mail.reason


def test_the_shipped_plan_confirmed_mail_goes_out_naming_version_and_date(db_url: str, tmp_path: Path) -> None:
    mail = _plan_confirmed_mail(_runtime(db_url, tmp_path))
    assert (mail.status, mail.kind, mail.to_addrs) == ("pending", "external", ["zhang.wei@huaxin.example"])
    text = email.message_from_bytes(mail.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "v2.3" in text and "2026年12月15日" in text


def test_flood_protection_holds_automatic_replies_past_the_hourly_limit(db_url: str, tmp_path: Path) -> None:
    rt = _runtime(db_url, tmp_path, max_auto_replies_per_hour=2)
    for n in range(4):
        raw = (f"From: bot@gmail.example\r\nTo: support@vendor.example.com\r\nSubject: ask {n}\r\n"
               f"Message-ID: <flood{n}@gmail.example>\r\n\r\nHow do I reset the password? ({n})\r\n").encode()
        pipeline.process(raw, f"flood{n}", rt)
    acks = [r for r in _rows(rt) if r.kind == "external"]
    assert [r.status for r in acks] == ["pending", "pending", "blocked", "blocked"]
    assert acks[2].reason == ("flood protection: 2 automatic replies to bot@gmail.example in the last hour "
                              "(limit 2)")
    later = NOW + timedelta(hours=1, minutes=1)
    rt.clock = lambda: later
    raw = (b"From: bot@gmail.example\r\nTo: support@vendor.example.com\r\nSubject: ask 5\r\n"
           b"Message-ID: <flood5@gmail.example>\r\n\r\nAnd the username?\r\n")
    pipeline.process(raw, "flood5", rt)
    assert [r for r in _rows(rt) if r.kind == "external"][-1].status == "pending"  # the hour has passed



def test_the_flood_count_counts_each_mail_once_whether_written_out_yet_or_not(db_url: str, tmp_path: Path) -> None:
    """A transaction's own mails are counted from the transaction, stored ones from the database,
    each once, whether the batch asked before it queued them or after a flush."""
    rt = _runtime(db_url, tmp_path)
    raw = (b"From: bot@gmail.example\r\nTo: support@vendor.example.com\r\nSubject: ask\r\n"
           b"Message-ID: <count0@gmail.example>\r\n\r\nHow do I reset the password?\r\n")
    rid = pipeline.process(raw, "count0", rt).requirement_id  # its acknowledgement: one mail, stored
    assert rid is not None
    since = NOW - timedelta(hours=1)
    reply = Draft(kind="external", template="zh/staff_reply", to=("Bot@gmail.example",), cc=(), subject="s",
                  text="您好", html=None, language="zh")
    sender = Address("Vendor Support", "support@vendor.example.com")
    for flush_before_asking in (False, True):
        with rt.store.session() as s:
            if not flush_before_asking:
                prefetch_recent(s, ["BOT@gmail.example"], since)  # asked first, as a batch does
            enqueue(s, rid, reply, sender=sender, in_reply_to=None, references=(), now=NOW)
            enqueue(s, rid, reply, sender=sender, in_reply_to=None, references=(), now=NOW)
            enqueue(s, rid, reply, sender=sender, in_reply_to=None, references=(), now=NOW, status="blocked",
                    reason="held")  # held: never counted
            if flush_before_asking:
                s.flush()
            assert recent_external(s, ["bot@gmail.example"], since) == {"bot@gmail.example": 3}
            assert recent_external(s, ["bot@gmail.example"], NOW + timedelta(seconds=1)) == {}
            s.rollback()


COMMITMENT = load_commitment(ROOT / "rules" / "commitment.yaml")
STAFF = frozenset({"li.wei@vendor.example.com"})
OWN = frozenset({"support@vendor.example.com"})


def _draft(kind: str, to: str, text: str = "您好,已收到。", template: str = "zh/ack_presales") -> Draft:
    return Draft(kind=kind, template=template, to=(to,), cc=(), subject="s", text=text, html=None, language="zh")


@pytest.mark.parametrize(
    ("draft", "reason"),
    [
        (_draft("internal", "client@huaxin.example", template="zh/new_requirement"),
         "internal notice addressed outside our staff: client@huaxin.example"),
        (_draft("external", "support@vendor.example.com"),
         "addressed to our own address support@vendor.example.com: would loop"),
        (_draft("external", "client@huaxin.example", "我们一定会在下个版本修复。"),
         'commitment guard: committal wording "一定" before a confirmed plan'),
        # words our staff are to pass on to a service-stage client are guarded too
        (_draft("internal", "li.wei@vendor.example.com", "我们保证下周上线。", template="zh/progress"),
         'commitment guard: committal wording "保证" before a confirmed plan'),
        (_draft("internal", "li.wei@vendor.example.com", "我们保证下周上线。", template="zh/blocked_notice"), None),
        (_draft("external", "client@huaxin.example"), None),
    ],
)
def test_the_gate(draft: Draft, reason: str | None) -> None:
    assert hold_reason(draft, plan=Plan(None, None, None, False), commitment=COMMITMENT, staff_emails=STAFF,
                       own_addresses=OWN, recent_auto_replies={}, max_auto_replies_per_hour=5) == reason


def test_quoting_the_clients_own_promise_back_is_not_our_promise(db_url: str, tmp_path: Path) -> None:
    rt = _runtime(db_url, tmp_path)
    raw = ("From: 张伟 <zhang.wei@huaxin.example>\r\nTo: support@vendor.example.com\r\n"
           "Subject: =?utf-8?b?" + __import__("base64").b64encode("你们上次保证过的移动审批什么时候有".encode()).decode()
           + "?=\r\nMessage-ID: <promise@huaxin.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "你们上次保证过的移动审批功能,现在有进展吗?\r\n").encode()
    pipeline.process(raw, "promise", rt)
    [ack] = [r for r in _rows(rt) if r.kind == "external"]
    assert ack.status == "pending", ack.reason


def test_notify_needs_an_existing_requirement(db_url: str, tmp_path: Path) -> None:
    from mailflow.errors import MailflowError

    rt = _runtime(db_url, tmp_path)
    with pytest.raises(MailflowError, match="no requirement REQ-202611-404"):
        notify(rt, "REQ-202611-404", "progress")


def test_our_sender_address_is_part_of_the_loop_check(db_url: str, tmp_path: Path) -> None:
    rt = _runtime(db_url, tmp_path)
    assert rt.sender == Address("Support", "support@vendor.example.com")


def test_a_template_that_fails_to_render_costs_the_reply_not_the_record(db_url: str, tmp_path: Path) -> None:
    templates = _templates_saying(tmp_path, "{{ ctx.no_such_field }}", "ack_presales")
    rt = _runtime(db_url, tmp_path, templates)
    outcome = _ingest(rt, "01")
    assert outcome.kind == "new" and outcome.queued == 0
    assert _rows(rt) == []  # nothing half-rendered was queued
    with rt.store.session() as s:
        [failed] = s.scalars(select(Event).where(Event.kind == "reply_failed")).all()
    assert failed.detail.startswith("received: ") and "ack_presales.txt.j2:" in failed.detail
    assert "no_such_field" in failed.detail


def test_the_stored_copy_of_each_reply_carries_the_sha256_of_its_bytes(db_url: str, tmp_path: Path) -> None:
    """Hashed in pieces (so the hash never lets go of the interpreter lock), the same digest as at once,
    for replies shorter and many times longer than a piece."""
    import hashlib

    from mailflow.store.tables import Message

    rt = _runtime(db_url, tmp_path)
    raw = (b"From: Ann Lee <ann@acme-retail.example>\r\nTo: support@vendor.example.com\r\nSubject: ask\r\n"
           b"Message-ID: <hash0@acme-retail.example>\r\n\r\nHow do I reset the password?\r\n")
    rid = pipeline.process(raw, "hash0", rt).requirement_id
    sender = Address("Vendor Support", "support@vendor.example.com")
    with rt.store.session() as s:
        for size in (10, 2000, 2047, 2048, 9000):
            draft = Draft(kind="internal", template="zh/staff_reply", to=("li.wei@vendor.example.com",), cc=(),
                          subject="s", text="x" * size, html=None, language="zh")
            enqueue(s, rid, draft, sender=sender, in_reply_to=None, references=(), now=NOW)
    with rt.store.session() as s:
        stored = s.execute(select(Message.raw, Message.content_hash).where(Message.direction == "out")).all()
    assert len(stored) >= 6 and min(len(raw) for raw, _ in stored) < 2047 < 9000 < max(len(raw) for raw, _ in stored)
    assert all(digest == hashlib.sha256(raw).hexdigest() for raw, digest in stored)
