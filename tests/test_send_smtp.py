"""The outbox sender against a real SMTP server on loopback (aiosmtpd).

Real mail goes in through the pipeline, the queued rows are sent with
aiosmtplib, and the tests read what the server received: the exact bytes,
the envelope, the headers that thread and stop loops, the language. Then
the server has bad days — down, greylisting, refusing, going away in the
middle of a batch — and nothing is lost and nothing goes out twice.
"""

from __future__ import annotations

import email
import logging
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from email import policy
from email.utils import format_datetime
from pathlib import Path

import pytest
from conftest import DEMO_INBOX, NOW, ROOT
from smtp_sink import HOST, SmtpSink, free_port
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from mailflow.config import Config, DatabaseConfig, PathsConfig, SmtpConfig
from mailflow.errors import ConfigError
from mailflow.parse.model import Address
from mailflow.pipeline import Runtime, load_runtime, process
from mailflow.record.directory import sync_directory
from mailflow.reply.model import Draft
from mailflow.send import sender as sender_module
from mailflow.send import smtp as smtp_module
from mailflow.send.outbox import Queued, enqueue, list_outbox, stream_outbox
from mailflow.send.sender import DEFERRED_IN_A_ROW, LEASE, SendReport, backoff, send_pending
from mailflow.send.smtp import ConnectionFailure, check_security, deliver
from mailflow.store.session import Store, StoreError, open_store
from mailflow.store.tables import Outbox

SUPPORT = "support@vendor.example.com"
PASSWORD = "correct horse battery staple"
INBOX = {p.name[:2]: p for p in DEMO_INBOX.glob("*.eml")}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


class Desk:
    """A store with mail ingested through the real pipeline, and a clock to move."""

    def __init__(self, runtime: Runtime, db_url: str) -> None:
        self.clock = Clock(NOW)
        self.store: Store = open_store(db_url)
        # The shipped rules and templates, loaded once per module (load_runtime
        # takes a third of a second); the directory sync is what it does per store.
        self.runtime = replace(runtime, store=self.store, clock=self.clock)
        with self.store.session() as session:
            sync_directory(session, runtime.rules)

    def ingest(self, *numbers: str) -> None:
        for number in numbers:
            outcome = process(INBOX[number].read_bytes(), INBOX[number].name, self.runtime)
            assert outcome.kind == "new", outcome.line()

    def queue(self, draft: Draft, *, status: str = "pending", reason: str = "") -> Queued:
        """A hand-made mail for an existing requirement, queued as the pipeline would."""
        with self.store.session() as session:
            return enqueue(session, "REQ-202611-001", draft, sender=Address("Vendor Support", SUPPORT),
                           in_reply_to=None, references=(), now=self.clock(), status=status, reason=reason)

    def rows(self) -> list[Outbox]:
        with self.store.session() as session:
            return list(session.scalars(select(Outbox).order_by(Outbox.id)))

    def send(self, config: SmtpConfig, **kwargs: object) -> SendReport:
        return send_pending(self.store, config, PASSWORD, now=self.clock, **kwargs)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    d = tmp_path_factory.mktemp("shipped")
    url = f"sqlite:///{d / 'unused.db'}"
    config = Config(database=DatabaseConfig(url),
                    paths=PathsConfig(rules=str(ROOT / "rules"), templates=str(ROOT / "reply_templates"),
                                      attachments=str(d / "attachments")),
                    smtp=SmtpConfig(from_address=SUPPORT, from_name="Vendor Support"))
    store = open_store(url)
    yield load_runtime(config, store)
    store.close()


@pytest.fixture
def desk(shipped: Runtime, db_url: str) -> Iterator[Desk]:
    desk = Desk(shipped, db_url)
    yield desk
    desk.store.close()


def plain(sink: SmtpSink, **overrides: object) -> SmtpConfig:
    """A loopback relay without TLS, as a local Postfix would be."""
    return replace(SmtpConfig(host=HOST, port=sink.port, security="none", timeout=3, from_address=SUPPORT,
                              from_name="Vendor Support"), **overrides)


def draft(to: tuple[str, ...], cc: tuple[str, ...] = (), text: str = "Your request is recorded.") -> Draft:
    return Draft(kind="external", template="en/ack_presales", to=to, cc=cc, subject="Mobile approval",
                 text=text, html=None, language="en")


def demo_message_id(number: str) -> str:
    return email.message_from_bytes(INBOX[number].read_bytes(), policy=policy.default)["Message-ID"].strip()


# --- what leaves: bytes, envelope, headers, language, recipients ---------------------------------------------------


def test_every_queued_mail_reaches_the_server_byte_for_byte_on_its_envelope(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01", "06", "03")
    queued = desk.rows()
    smtp_sink.latency = 0.01  # the first connection cannot finish the batch before the others are up

    report = desk.send(plain(smtp_sink))

    assert (report.sent, report.deferred, report.failed, report.stopped) == (len(queued), 0, 0, "")
    got = {str(r.message["Message-ID"]): r for r in smtp_sink.received}
    assert set(got) == {row.message_id for row in queued}
    for row in queued:
        received = got[row.message_id]
        assert received.data == row.raw  # sent unchanged: what the record says went out, went out
        assert received.mail_from == SUPPORT
        assert list(received.rcpt_tos) == row.to_addrs + row.cc_addrs
    for row in desk.rows():
        assert row.status == "sent" and row.sent_at == NOW and row.attempts == 1
        assert row.reason.startswith("250 2.0.0 Ok: queued as Q")
    assert 1 < len(smtp_sink.connections) <= 4  # the first, then more (smtp.connections = 4) side by side


def test_one_connection_carries_the_whole_batch_when_so_configured(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01", "06", "03")

    report = desk.send(plain(smtp_sink, connections=1))

    assert report.sent == len(desk.rows()) > 1
    assert len(smtp_sink.connections) == 1


def test_the_clients_ack_threads_to_their_mail_and_says_it_is_automatic(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01")  # 华信 (presales) asks, in Chinese, whether approvals work on mobile
    desk.send(plain(smtp_sink))

    [ack] = smtp_sink.to("zhang.wei@huaxin.example")
    msg = ack.message
    row = next(r for r in desk.rows() if r.kind == "external")
    original = demo_message_id("01")
    assert msg["Message-ID"] == row.message_id
    assert msg["Date"] == format_datetime(NOW)
    assert msg["In-Reply-To"] == original
    assert msg["References"].split()[-1] == original
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Subject"] == "Re: [REQ-202611-001] 咨询：系统是否支持移动端审批（采购评估）"
    assert msg["Content-Language"] == "zh-CN"
    text = msg.get_body(("plain",)).get_content()
    assert "REQ-202611-001" in text and "您好" in text

    [note] = smtp_sink.to("wang.fang@vendor.example.com")  # the owner hears of it, never the client
    assert note.rcpt_tos == ("wang.fang@vendor.example.com",)
    assert note.message["Auto-Submitted"] == "auto-generated"
    assert note.message["Subject"].startswith("[REQ-202611-001] ")


def test_a_service_stage_client_gets_only_the_redirect_in_english(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("06")  # Northwind (service stage) writes in English
    desk.send(plain(smtp_sink))

    [redirect] = smtp_sink.to("emily.carter@northwind.example.com")
    assert redirect.rcpt_tos == ("emily.carter@northwind.example.com",)
    assert redirect.message["Content-Language"] == "en"
    assert redirect.message["In-Reply-To"] == demo_message_id("06")
    text = redirect.message.get_body(("plain",)).get_content()
    assert "service contact" in text and "张敏" not in text.split("service contact")[0]
    staff = {rcpt for r in smtp_sink.received for rcpt in r.rcpt_tos if rcpt != "emily.carter@northwind.example.com"}
    assert staff and all(a.endswith("@vendor.example.com") for a in staff)
    assert "zhang.min@vendor.example.com" in staff  # the account owner takes it on


def test_deliver_sends_one_mail_and_returns_the_servers_reply(smtp_sink: SmtpSink) -> None:
    raw = (b"From: support@vendor.example.com\r\nTo: a@huaxin.example\r\nSubject: t\r\n"
           b"Message-ID: <t.1@vendor.example.com>\r\n\r\n.a line that starts with a dot\r\n")
    reply = deliver(raw, mail_from=SUPPORT, recipients=["a@huaxin.example"], config=plain(smtp_sink),
                    password="")
    assert reply == "250 2.0.0 Ok: queued as Q0001"
    assert smtp_sink.received[0].data == raw  # dot-stuffing done and undone


# --- never lose, never send twice -------------------------------------------------------------------------------


def test_server_down_loses_nothing_and_every_mail_goes_exactly_once_when_it_returns(
        desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01", "03")
    smtp_sink.stop()  # nothing listens on the port

    report = desk.send(plain(smtp_sink))

    assert (report.sent, report.deferred, report.failed) == (0, 1, 0)
    assert "Connection refused" in report.stopped and "\n" not in report.stopped
    first, *rest = desk.rows()
    assert (first.status, first.attempts, first.next_attempt_at) == ("pending", 1, NOW + timedelta(minutes=1))
    assert "Connection refused" in first.reason
    assert all((r.status, r.attempts, r.next_attempt_at) == ("pending", 0, None) for r in rest)  # not even tried

    smtp_sink.start()
    desk.clock.advance(minutes=2)
    report = desk.send(plain(smtp_sink))
    assert (report.sent, report.deferred, report.failed) == (4, 0, 0)
    assert smtp_sink.count_by_message_id() == {row.message_id: 1 for row in desk.rows()}
    assert all(row.status == "sent" for row in desk.rows())

    again = desk.send(plain(smtp_sink))  # a sent row is never sent again
    assert (again.sent, again.deferred, again.failed) == (0, 0, 0)
    assert len(smtp_sink.received) == 4


def test_server_going_away_mid_batch_then_back_every_mail_once(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01", "03")  # four mails
    smtp_sink.go_down_after(2)

    report = desk.send(plain(smtp_sink, connections=1))

    assert (report.sent, report.deferred) == (2, 1)
    assert "421 4.3.2" in report.stopped
    assert [r.status for r in desk.rows()] == ["sent", "sent", "pending", "pending"]
    assert desk.rows()[3].attempts == 0

    smtp_sink.stop()
    desk.clock.advance(minutes=2)
    assert desk.send(plain(smtp_sink)).deferred == 1  # still down: the due row waits longer
    smtp_sink.start()
    desk.clock.advance(minutes=5)
    report = desk.send(plain(smtp_sink))
    assert (report.sent, report.deferred, report.failed) == (2, 0, 0)
    assert smtp_sink.count_by_message_id() == {row.message_id: 1 for row in desk.rows()}


def test_server_going_away_under_several_connections_loses_nothing_and_sends_each_mail_once(
        desk: Desk, smtp_sink: SmtpSink) -> None:
    """Each connection defers at most the mail it held when the server went; the mails not yet
    taken are given back untried; once the server is back, every mail arrives exactly once."""
    desk.ingest("01", "03", "06", "02")
    for n in range(16):
        desk.queue(draft((f"client{n}@acme-retail.example",)))
    total = len(desk.rows())
    smtp_sink.go_down_after(3)

    report = desk.send(plain(smtp_sink, connections=4))

    assert "421 4.3.2" in report.stopped and report.failed == 0
    rows = desk.rows()
    assert report.sent == sum(r.status == "sent" for r in rows) >= 3
    assert 1 <= report.deferred <= 4 and report.sent + report.deferred < total
    pending = [r for r in rows if r.status == "pending"]
    assert sorted(r.attempts for r in pending) == [0] * (len(pending) - report.deferred) + [1] * report.deferred

    smtp_sink.start()
    desk.clock.advance(minutes=5)
    again = desk.send(plain(smtp_sink, connections=4))
    assert (again.sent, again.deferred, again.failed) == (total - report.sent, 0, 0)
    assert smtp_sink.count_by_message_id() == {row.message_id: 1 for row in desk.rows()}


def test_several_connections_never_send_a_persons_next_mail_before_the_one_before(
        desk: Desk, smtp_sink: SmtpSink) -> None:
    """Mail to one person goes out in the order it was queued, whichever connection carries it."""
    desk.ingest("01")
    queued = [desk.queue(draft((f"client{n % 3}@acme-retail.example",), text=f"mail {n}")) for n in range(24)]
    smtp_sink.latency = 0.01  # the first connection cannot finish the batch before the others are up

    report = desk.send(plain(smtp_sink, connections=4))

    assert report.sent == len(desk.rows()) and 1 < len(smtp_sink.connections) <= 4
    for n in range(3):
        got = [str(r.message["Message-ID"]) for r in smtp_sink.to(f"client{n}@acme-retail.example")]
        assert got == [q.message_id for q in queued if q.to == (f"client{n}@acme-retail.example",)]


def test_a_mail_to_two_people_keeps_its_place_in_both_their_orders(desk: Desk, smtp_sink: SmtpSink) -> None:
    """A mail to ann and bo waits while bo's earlier mail is on its way; ann's later mail waits for it."""
    ann, bo = "ann@acme-retail.example", "bo@acme-retail.example"
    desk.ingest("01")
    queued = []
    for n in range(20):
        queued += [desk.queue(draft((bo,), text=f"{n}: to bo")), desk.queue(draft((ann,), cc=(bo,), text=f"{n}: to both")),
                   desk.queue(draft((ann,), text=f"{n}: to ann"))]

    assert desk.send(plain(smtp_sink, connections=4)).sent == len(desk.rows())

    for person in (ann, bo):
        got = [str(r.message["Message-ID"]) for r in smtp_sink.received if person in r.rcpt_tos]
        assert got == [q.message_id for q in queued if person in (*q.to, *q.cc)]


def test_mail_refused_for_good_is_still_sent_over_several_connections(desk: Desk, smtp_sink: SmtpSink) -> None:
    """A 5xx for a mail is the server answering: it takes mail from us, so more connections open."""
    for n in range(12):
        smtp_sink.refuse(f"client{n}@acme-retail.example", "550 5.1.1 User unknown")
    desk.ingest("01")
    with desk.store.session() as session:
        session.execute(update(Outbox).values(status="sent"))  # only the hand-made mails below are due
    for n in range(12):
        desk.queue(draft((f"client{n}@acme-retail.example",)))
    smtp_sink.latency = 0.01  # the first connection cannot finish the batch before the others are up

    report = desk.send(plain(smtp_sink, connections=4))

    assert (report.sent, report.deferred, report.failed) == (0, 0, 12)
    assert len(smtp_sink.connections) > 1


def test_connections_beyond_the_relays_limit_stay_out_and_the_others_send_everything(
        desk: Desk, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    desk.ingest("01", "03", "06")
    smtp_sink.max_connections = 2
    smtp_sink.latency = 0.01  # the first connection cannot finish the batch before the others are up

    with caplog.at_level(logging.INFO, logger="mailflow.send.sender"):
        report = desk.send(plain(smtp_sink, connections=4))

    assert (report.sent, report.deferred, report.failed, report.stopped) == (len(desk.rows()), 0, 0, "")
    assert smtp_sink.refused_connections >= 1 and len(smtp_sink.connections) == 2
    [said] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]  # one line, not one each
    assert said.startswith(f"the relay refused {smtp_sink.refused_connections} of ") and "421" in said
    assert all(row.attempts == 1 for row in desk.rows())  # a refused connection cost no mail an attempt
    assert set(smtp_sink.count_by_message_id().values()) == {1}


def test_a_connection_the_server_hung_up_between_mails_is_reopened(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01", "03")
    smtp_sink.hang_up_after_each_mail()

    report = desk.send(plain(smtp_sink, connections=1))

    assert (report.sent, report.deferred, report.failed) == (4, 0, 0)
    assert len(smtp_sink.connections) == 4
    assert set(smtp_sink.count_by_message_id().values()) == {1}


def test_a_crash_after_the_server_accepted_resends_after_the_lease_with_the_same_message_id(
        desk: Desk, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented at-least-once window: accepted by the server, not yet recorded as sent."""
    desk.ingest("01")

    def crash_on_sent(store, marks):  # noqa: ANN001, ANN202
        raise SystemExit("killed")

    monkeypatch.setattr(sender_module, "_record_sent", crash_on_sent)
    with pytest.raises(SystemExit):
        desk.send(plain(smtp_sink))
    monkeypatch.undo()
    rows = desk.rows()
    assert len(rows) == 2 and set(smtp_sink.count_by_message_id().values()) == {1}  # both went, neither recorded
    assert {(row.status, row.attempts, row.next_attempt_at) for row in rows} == {("pending", 1, NOW + LEASE)}

    desk.clock.advance(minutes=5)
    assert desk.send(plain(smtp_sink)).sent == 0  # still leased: not sent twice in the meantime
    desk.clock.advance(minutes=6)
    assert desk.send(plain(smtp_sink)).sent == 2  # lease over: sent again, same bytes, same Message-ID
    assert set(smtp_sink.count_by_message_id().values()) == {2}
    assert [r.status for r in desk.rows()] == ["sent", "sent"]


def test_sent_marks_are_written_a_few_at_a_time_and_the_rest_at_the_end(
        desk: Desk, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """One transaction per MARK_BATCH mails the server took, not one per mail; none is left unwritten."""
    desk.ingest("01")
    for n in range(10):
        desk.queue(draft((f"client{n}@huaxin.example",)))
    queued = len(desk.rows())
    written: list[int] = []
    record = sender_module._record_sent

    def counting(store, marks):  # noqa: ANN001, ANN202
        written.append(len(marks))
        return record(store, marks)

    monkeypatch.setattr(sender_module, "_record_sent", counting)
    monkeypatch.setattr(sender_module, "MARK_BATCH", 5)
    report = desk.send(plain(smtp_sink, connections=1))

    assert queued == 12 and report.sent == 12 and written == [5, 5, 2]
    assert {(row.status, row.sent_at) for row in desk.rows()} == {("sent", NOW)}


def test_mail_the_server_took_before_a_database_failure_is_named_and_goes_again_later(
        desk: Desk, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    desk.ingest("01")

    def database_down(store):  # noqa: ANN001, ANN202 - where the sender records what was sent
        raise OperationalError("UPDATE outbox", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Store, "relaxed", database_down)
    with pytest.raises(StoreError) as caught:
        desk.send(plain(smtp_sink, connections=1))
    monkeypatch.undo()
    said = str(caught.value)
    assert "\n" not in said and "cannot record 'sent': disk I/O error" in said
    assert all(row.message_id in said for row in desk.rows()) and "these 2 were sent but not recorded" in said
    desk.clock.advance(minutes=11)
    assert desk.send(plain(smtp_sink)).sent == 2
    assert set(smtp_sink.count_by_message_id().values()) == {2}


def test_listing_the_outbox_reads_no_mail_and_exporting_reads_a_few_hundred_at_a_time(desk: Desk) -> None:
    """After a backlog the outbox holds tens of thousands of mails: neither command holds them all."""
    desk.ingest("01", "03")
    with desk.store.session() as session:
        listed = list(list_outbox(session, per=1))
        assert listed and all("raw" not in row.__dict__ for row in listed)  # deferred: never loaded
        streamed = list(stream_outbox(session, per=1))
        assert [row.id for row in streamed] == [row.id for row in listed]
        assert all(email.message_from_bytes(row.raw)["Message-ID"].strip() == row.message_id for row in streamed)


def test_a_blocked_mail_is_never_sent(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01")
    held = desk.queue(draft(("zhang.wei@huaxin.example",), text="We guarantee it in the next version."),
                      status="blocked", reason="commitment guard: 'we guarantee'")

    desk.send(plain(smtp_sink))
    desk.clock.advance(days=2)
    desk.send(plain(smtp_sink))

    assert held.message_id not in smtp_sink.count_by_message_id()
    row = next(r for r in desk.rows() if r.message_id == held.message_id)
    assert (row.status, row.attempts, row.sent_at) == ("blocked", 0, None)


def test_a_row_another_worker_holds_is_left_alone(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01")
    with desk.store.session() as session:  # what a claim by another worker leaves
        session.execute(update(Outbox).where(Outbox.id == 1).values(attempts=1, next_attempt_at=NOW + LEASE))

    report = desk.send(plain(smtp_sink))

    assert report.sent == 1 and [r.status for r in desk.rows()] == ["pending", "sent"]


def test_two_workers_sending_at_once_send_each_mail_once(desk: Desk, smtp_sink: SmtpSink, db_url: str) -> None:
    desk.ingest("01", "03", "06")
    stores = [open_store(db_url) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda store: send_pending(store, plain(smtp_sink), "", now=desk.clock), stores))
    for store in stores:
        store.close()

    assert sum(r.sent for r in reports) == 7 and all(r.deferred == r.failed == 0 for r in reports)
    assert smtp_sink.count_by_message_id() == {row.message_id: 1 for row in desk.rows()}


def test_a_row_locked_by_another_worker_is_skipped_not_waited_for(desk: Desk, smtp_sink: SmtpSink) -> None:
    if desk.store.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole writers")
    desk.ingest("01")
    with desk.store.session() as other:  # another worker is in the middle of claiming row 1
        other.execute(select(Outbox.id).where(Outbox.id == 1).with_for_update())
        report = desk.send(plain(smtp_sink))
        assert report.sent == 1 and [r.status for r in desk.rows()] == ["pending", "sent"]
    assert desk.send(plain(smtp_sink)).sent == 1


# --- the server's answers -----------------------------------------------------------------------------------------


def test_a_451_is_deferred_with_backoff_and_sent_once_the_wait_is_over(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01")
    smtp_sink.answer_next("451 4.7.1 Greylisted, please try again later")

    report = desk.send(plain(smtp_sink))

    assert (report.sent, report.deferred, report.failed, report.stopped) == (1, 1, 0, "")  # the batch went on
    row = desk.rows()[0]
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, NOW + timedelta(minutes=1))
    assert row.reason == "message refused: 451 4.7.1 Greylisted, please try again later"
    assert report.lines == (f"{row.message_id}: deferred to {(NOW + timedelta(minutes=1)).isoformat()} "
                            f"(attempt 1): {row.reason}",)

    desk.clock.advance(seconds=30)
    assert desk.send(plain(smtp_sink)) == SendReport()  # not due yet
    desk.clock.advance(seconds=31)
    assert desk.send(plain(smtp_sink)).sent == 1
    row = desk.rows()[0]
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, NOW + timedelta(seconds=61))
    assert smtp_sink.count_by_message_id()[row.message_id] == 1


def _a_backlog_and_a_rate_limit(desk: Desk, smtp_sink: SmtpSink) -> None:
    """70 mails queued beside the first mail's replies, and a relay answering 451 to each of them."""
    desk.ingest("01")
    for n in range(70):
        desk.queue(draft((f"client{n}@customer.example",)))
    smtp_sink.answer_next(*["451 4.7.1 Too many messages, slow down"] * 200)


def test_a_relay_that_defers_mail_after_mail_stops_the_batch_and_the_rest_keeps_its_attempts(
        desk: Desk, smtp_sink: SmtpSink) -> None:
    """A rate limit answers 4xx to everything: 50 in a row stop the batch, the other mails are not tried."""
    _a_backlog_and_a_rate_limit(desk, smtp_sink)

    report = desk.send(plain(smtp_sink, connections=1))  # one connection: no mail on its way when it stops

    assert (report.sent, report.deferred, report.failed) == (0, DEFERRED_IN_A_ROW, 0)
    assert report.stopped == (f"the relay deferred {DEFERRED_IN_A_ROW} mails in a row (the last: message refused: "
                              "451 4.7.1 Too many messages, slow down); the rest waits for the next batch")
    rows = desk.rows()
    assert sum(row.attempts == 1 and row.next_attempt_at == NOW + timedelta(minutes=1) for row in rows) == 50
    assert sum(row.attempts == 0 for row in rows) == len(rows) - 50  # released untried: no attempt spent
    smtp_sink.answers.clear()
    assert desk.send(plain(smtp_sink)).sent == len(rows) - 50  # the relay takes mail again: the rest goes


def test_a_relay_pushing_back_stops_the_batch_also_when_each_mail_is_on_its_last_attempt(
        desk: Desk, smtp_sink: SmtpSink) -> None:
    """Such a 4xx fails its mail for good; counted all the same, so a rate limit fails 50, not the backlog."""
    _a_backlog_and_a_rate_limit(desk, smtp_sink)

    report = desk.send(plain(smtp_sink, connections=1, max_attempts=1))

    assert (report.sent, report.deferred, report.failed) == (0, 0, DEFERRED_IN_A_ROW)
    assert report.stopped.startswith(f"the relay deferred {DEFERRED_IN_A_ROW} mails in a row")
    rows = desk.rows()
    assert sum(row.status == "failed" for row in rows) == DEFERRED_IN_A_ROW
    assert sum(row.status == "pending" and row.attempts == 0 for row in rows) == len(rows) - DEFERRED_IN_A_ROW


def test_a_batch_names_at_most_max_deferred_mails_to_skip(desk: Desk, smtp_sink: SmtpSink,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every claim names the batch's deferred mails; past MAX_DEFERRED the batch stops instead of growing the list."""
    import mailflow.send.sender as sender

    monkeypatch.setattr(sender, "MAX_DEFERRED", 5)
    desk.ingest("01")
    for n in range(20):
        desk.queue(draft((f"client{n}@customer.example",)))
    smtp_sink.answer_next(*["451 4.7.1 Greylisted", "250 2.0.0 Ok"] * 20)  # never many in a row

    report = desk.send(plain(smtp_sink, connections=1))

    assert report.deferred == 5 and report.stopped == "5 mails deferred in this batch; the rest waits for the next batch"
    assert report.sent == 4  # one between each two deferrals
    rows = desk.rows()
    assert sum(row.status == "pending" and row.attempts == 0 for row in rows) == len(rows) - 5 - 4


def test_backoff_doubles_from_a_minute_up_to_an_hour() -> None:
    assert [backoff(n) // timedelta(minutes=1) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff(500) == timedelta(hours=1)


def test_a_mail_still_refused_after_max_attempts_is_failed(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01")
    config = plain(smtp_sink, max_attempts=2)
    smtp_sink.answer_next("452 4.3.1 Insufficient system storage", "452 4.3.1 Insufficient system storage")

    desk.send(config, limit=1)
    desk.clock.advance(minutes=1)
    report = desk.send(config, limit=1)

    assert report.failed == 1
    row = desk.rows()[0]
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 2, None)
    assert row.reason == "gave up after 2 attempts: message refused: 452 4.3.1 Insufficient system storage"
    desk.clock.advance(days=1)
    assert desk.send(config).sent == 1  # only the other mail; a failed one stays failed
    assert row.message_id not in smtp_sink.count_by_message_id()


def test_a_550_fails_the_mail_with_the_servers_whole_answer(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01")
    smtp_sink.answer_next("550-5.7.1 Message rejected as spam.\r\n550 5.7.1 See https://postmaster.example.com/spam")

    report = desk.send(plain(smtp_sink), limit=1)

    assert (report.sent, report.deferred, report.failed) == (0, 0, 1)
    row = desk.rows()[0]
    assert (row.status, row.sent_at, row.next_attempt_at) == ("failed", None, None)
    assert row.reason == ("message refused: 550 5.7.1 Message rejected as spam. "
                          "5.7.1 See https://postmaster.example.com/spam")
    desk.clock.advance(days=1)
    desk.send(plain(smtp_sink))
    assert row.message_id not in smtp_sink.count_by_message_id()  # never retried


def test_a_recipient_refused_for_good_is_named_and_the_others_get_the_mail(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01")
    mail = desk.queue(draft(("zhang.wei@huaxin.example",), cc=("Old Contact <left@huaxin.example>",)))
    smtp_sink.refuse("left@huaxin.example", "550 5.1.1 <left@huaxin.example>: Recipient address rejected")

    report = desk.send(plain(smtp_sink))

    assert report.sent == 3
    [received] = [r for r in smtp_sink.received if str(r.message["Message-ID"]) == mail.message_id]
    assert received.rcpt_tos == ("zhang.wei@huaxin.example",)
    row = next(r for r in desk.rows() if r.message_id == mail.message_id)
    assert row.status == "sent"
    assert row.reason.endswith("; refused: left@huaxin.example (550 5.1.1 <left@huaxin.example>: "
                               "Recipient address rejected)")
    assert report.lines == (f"{mail.message_id}: sent, but {row.reason}",)


def test_a_recipient_refused_for_now_defers_the_whole_mail_so_nobody_gets_it_twice(
        desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01")
    mail = desk.queue(draft(("zhang.wei@huaxin.example",), cc=("li.na@huaxin.example",)))
    smtp_sink.refuse("li.na@huaxin.example", "450 4.2.1 Mailbox busy, try later")

    desk.send(plain(smtp_sink))
    row = next(r for r in desk.rows() if r.message_id == mail.message_id)
    assert (row.status, row.reason) == ("pending", "recipient refused for now: li.na@huaxin.example "
                                                   "(450 4.2.1 Mailbox busy, try later)")
    assert mail.message_id not in smtp_sink.count_by_message_id()

    smtp_sink.refuse_recipients.clear()
    desk.clock.advance(minutes=1)
    desk.send(plain(smtp_sink))
    [received] = [r for r in smtp_sink.received if str(r.message["Message-ID"]) == mail.message_id]
    assert received.rcpt_tos == ("zhang.wei@huaxin.example", "li.na@huaxin.example")


def test_a_mail_every_recipient_refuses_fails(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk.ingest("01")
    mail = desk.queue(draft(("nobody@huaxin.example",)))
    smtp_sink.refuse("nobody@huaxin.example", "550 5.1.1 User unknown")

    desk.send(plain(smtp_sink))

    row = next(r for r in desk.rows() if r.message_id == mail.message_id)
    assert (row.status, row.reason) == ("failed", "every recipient refused: nobody@huaxin.example "
                                                  "(550 5.1.1 User unknown)")


# --- security ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (cert, key)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


def tls_sink(certificate: tuple[Path, Path], **kwargs: object) -> SmtpSink:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return SmtpSink(port=free_port(), tls_context=context, **kwargs).start()


def secure(sink: SmtpSink, certificate: tuple[Path, Path], **overrides: object) -> SmtpConfig:
    settings: dict[str, object] = {"security": "starttls", "username": SUPPORT, "ca_file": str(certificate[0])}
    return replace(plain(sink), **{**settings, **overrides})


def test_starttls_with_login_the_password_only_ever_travels_encrypted(
        desk: Desk, certificate: tuple[Path, Path]) -> None:
    sink = tls_sink(certificate, users={SUPPORT: PASSWORD})
    try:
        desk.ingest("01")
        report = desk.send(secure(sink, certificate))
    finally:
        sink.stop()

    assert report.sent == 2
    assert [(login.login, login.password, login.tls) for login in sink.logins] == [(SUPPORT, PASSWORD, True)]
    assert all(r.tls and r.login == SUPPORT for r in sink.received)
    assert {str(r.message["Message-ID"]) for r in sink.received} == {row.message_id for row in desk.rows()}


def test_several_tls_connections_share_one_context_and_each_logs_in(
        desk: Desk, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CA file is read once per batch, however many connections carry it."""
    sink = tls_sink(certificate, users={SUPPORT: PASSWORD}, latency=0.01)
    made = []
    create = smtp_module.ssl.create_default_context  # the ssl module's own: counted from here on
    monkeypatch.setattr(smtp_module.ssl, "create_default_context",
                        lambda *args, **kwargs: made.append(kwargs) or create(*args, **kwargs))
    try:
        desk.ingest("01", "03", "06")
        report = desk.send(secure(sink, certificate, connections=4))
    finally:
        sink.stop()

    assert report.sent == len(desk.rows()) and len(sink.connections) > 1
    assert made == [{"cafile": str(certificate[0])}]
    assert len(sink.logins) == len(sink.connections) and all(r.tls for r in sink.received)


def test_a_refused_login_defers_the_mail_and_fails_nothing(desk: Desk, certificate: tuple[Path, Path]) -> None:
    sink = tls_sink(certificate, users={SUPPORT: "another password"})
    try:
        desk.ingest("01")
        report = desk.send(secure(sink, certificate))
    finally:
        sink.stop()

    assert (report.sent, report.deferred, report.failed) == (0, 1, 0)
    assert report.stopped.startswith(f"{HOST}:{sink.port}: login as {SUPPORT} refused: 535")
    assert [r.status for r in desk.rows()] == ["pending", "pending"] and sink.received == []


def test_a_relay_wanting_a_login_we_lack_fails_no_mail(desk: Desk, certificate: tuple[Path, Path]) -> None:
    sink = tls_sink(certificate, users={SUPPORT: PASSWORD})
    try:
        desk.ingest("01")
        report = desk.send(secure(sink, certificate, username=""))
    finally:
        sink.stop()

    assert report.stopped == (f"{HOST}:{sink.port}: the server refuses our sender <{SUPPORT}>: "
                              "530 5.7.0 Authentication required")
    assert (report.deferred, report.failed) == (1, 0) and sink.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # that is the point here
def test_starttls_never_falls_back_to_clear_text(desk: Desk, certificate: tuple[Path, Path]) -> None:
    sink = SmtpSink(port=free_port(), users={SUPPORT: PASSWORD}, auth_require_tls=False).start()  # AUTH in clear
    try:
        desk.ingest("01")
        report = desk.send(secure(sink, certificate))
    finally:
        sink.stop()

    assert "offers no STARTTLS" in report.stopped
    assert sink.logins == [] and sink.received == []  # neither the password nor the mail was sent
    assert [r.status for r in desk.rows()] == ["pending", "pending"]


def test_implicit_tls_sends_and_an_untrusted_certificate_sends_nothing(
        desk: Desk, certificate: tuple[Path, Path]) -> None:
    sink = tls_sink(certificate, implicit_tls=True)
    try:
        desk.ingest("01")
        untrusted = desk.send(replace(plain(sink), security="ssl"))
        assert "TLS certificate not trusted" in untrusted.stopped and sink.received == []
        desk.clock.advance(minutes=1)
        trusted = desk.send(replace(plain(sink), security="ssl", ca_file=str(certificate[0])))
    finally:
        sink.stop()

    assert trusted.sent == 2 and all(r.tls for r in sink.received)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_clear_text_is_allowed_to_a_relay_on_this_host(host: str) -> None:
    check_security(SmtpConfig(host=host, port=25, security="none"))


@pytest.mark.parametrize("host", ["smtp.example.com", "192.0.2.10", "2001:db8::25", "localhost.example.com"])
def test_clear_text_over_the_network_is_refused_in_one_line(host: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_security(SmtpConfig(host=host, port=25, security="none"))
    message = str(err.value)
    assert "\n" not in message and host in message and "loopback" in message


def test_the_sender_refuses_clear_text_before_it_claims_anything(desk: Desk) -> None:
    desk.ingest("01")
    with pytest.raises(ConfigError, match='smtp.security = "none" .* not smtp.example.com'):
        desk.send(SmtpConfig(host="smtp.example.com", port=25, security="none"))
    assert all((r.status, r.attempts) == ("pending", 0) for r in desk.rows())


def test_a_connection_failure_is_a_temporary_failure() -> None:
    with pytest.raises(ConnectionFailure):
        deliver(b"Subject: x\r\n\r\nx\r\n", mail_from=SUPPORT, recipients=["a@huaxin.example"],
                config=SmtpConfig(host=HOST, port=free_port(), security="none", timeout=1), password="")


def test_a_claim_reads_the_pending_rows_alone_however_many_mails_were_sent_before(db_url: str) -> None:
    """PostgreSQL walked the primary key past every mail ever sent to find the pending ones: 119 ms a
    claim after 900,000 (migration 0013). The plan, not a timing, is the specification here: without
    the index, 27,000 sent and 3,000 pending are already enough for PostgreSQL to take that walk."""
    from sqlalchemy import text

    store = open_store(db_url)
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO outbox (message_id, kind, recipient, to_addrs, cc_addrs, subject, template, status, "
            "attempts, raw, created_at, reason) "
            "SELECT '<sent.' || g || '@vendor.example.com>', 'external', 'client' || g || '@huaxin.example', "
            "'[]', '[]', 's', 'zh/ack_presales', CASE WHEN g <= 27000 THEN 'sent' ELSE 'pending' END, 1, :raw, "
            ":now, '' FROM (" + ("SELECT generate_series(1, 30000) AS g" if conn.dialect.name == "postgresql" else
                                 "WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < 30000) "
                                 "SELECT g FROM n") + ") AS numbers"), {"raw": b"x", "now": NOW})
        conn.execute(text("ANALYZE outbox" if conn.dialect.name == "postgresql" else "ANALYZE"))
    with store.engine.connect() as conn:
        compiled = sender_module.due_rows(NOW, set(), 40).compile(dialect=conn.dialect)
        if conn.dialect.name == "postgresql":
            plan = " ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
            assert "ix_outbox_pending" in plan and "outbox_pkey" not in plan, plan
        else:  # SQLite keeps one status's rows in id order in the status index too; either will do
            params = tuple(compiled.params[name] for name in compiled.positiontup)
            plan = " ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params))
            assert "USING INDEX ix_outbox_" in plan and "TEMP B-TREE" not in plan, plan
        assert [row.id for row in conn.execute(sender_module.due_rows(NOW, set(), 40))] == list(range(27001, 27041))
    store.close()
