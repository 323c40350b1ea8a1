"""End to end, offline: real-looking mail in through `mailflow ingest`, the
requirement record (JSON) and the rendered replies out.

Runs on SQLite, and on PostgreSQL too when MAILFLOW_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import email
import hashlib
import json
import logging
import shutil
from email import policy
from pathlib import Path

import pytest

from conftest import DEMO_INBOX, MAIL, recorded_statements
from mailflow import pipeline

INBOX = {p.name[:2]: p for p in DEMO_INBOX.glob("*.eml")}


def demo(number: str) -> str:
    return str(INBOX[number])


def show(cli, rid: str) -> dict:
    return json.loads(cli("requirements", "show", rid, "--json").output)


def outbox(cli) -> list[dict]:
    return json.loads(cli("outbox", "list", "--json").output)


def exported(cli, tmp_path: Path) -> dict[str, email.message.EmailMessage]:
    """The queued mails as parsed messages, keyed by Message-ID."""
    out = tmp_path / "exported"
    shutil.rmtree(out, ignore_errors=True)
    cli("outbox", "export", str(out))
    msgs = {}
    for path in sorted(out.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        msgs[msg["Message-ID"]] = msg
    return msgs


def body(msg: email.message.EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


def test_a_prospects_feature_ask_becomes_a_routed_requirement_with_a_careful_ack(cli, tmp_path: Path) -> None:
    result = cli("ingest", demo("01"))
    assert "1 new" in result.output

    req = show(cli, "REQ-202611-001")
    assert req["status"] == "new"
    assert (req["type"], req["priority"]) == ("feature", "medium")
    assert (req["customer"], req["customer_stage"], req["customer_tier"]) == ("华信制造", "presales", "standard")
    assert req["submitter"] == {"name": "张伟", "email": "zhang.wei@huaxin.example"}
    assert req["owner"] in ("wang.fang", "liu.yang") and req["team"] == "product"
    assert req["liaison"] == "zhou.qing"  # the account owner talks to the client
    assert "如果系统支持移动端审批我们就采购" in req["description"]  # the client's own words
    assert req["submitted_at"].startswith("2026-11-")
    assert [e["kind"] for e in req["events"]][:3] == ["created", "classified", "assigned"]
    assert [m["direction"] for m in req["messages"]] == ["in", "out", "out"]

    queued = outbox(cli)
    assert [(q["kind"], q["template"], q["to"], q["status"]) for q in queued] == [
        ("external", "zh/ack_presales", ["zhang.wei@huaxin.example"], "pending"),
        ("internal", "zh/new_requirement", [f"{req['owner']}@vendor.example.com"], "pending"),
    ]
    ack = exported(cli, tmp_path)[queued[0]["message_id"]]
    client_mid = req["messages"][0]["message_id"]
    assert ack["Subject"].startswith("Re: [REQ-202611-001] ")
    assert ack["In-Reply-To"] == client_mid
    assert client_mid in ack["References"]
    assert ack["Auto-Submitted"] == "auto-replied"
    text = body(ack)
    assert "如果系统支持移动端审批我们就采购" in text
    assert "预计 3 个工作日内" in text


def test_ingesting_the_same_files_twice_creates_nothing_new(cli) -> None:
    first = cli("ingest", str(DEMO_INBOX)).output
    assert "11 new" in first and "1 duplicate" in first  # 13 repeats 01's Message-ID
    listed = json.loads(cli("requirements", "list", "--json").output)
    queued = outbox(cli)

    again = cli("ingest", str(DEMO_INBOX)).output
    assert "0 new" in again and "0 follow-up" in again and "18 duplicate" in again
    assert json.loads(cli("requirements", "list", "--json").output) == listed
    assert outbox(cli) == queued


def test_a_corrupt_file_is_reported_in_one_line_and_the_rest_of_the_batch_goes_in(cli, tmp_path: Path) -> None:
    result = cli("ingest", str(MAIL / "empty.eml"), str(MAIL / "not_an_email.eml"), demo("01"))
    errors = [line for line in result.stderr.splitlines() if line]
    assert len(errors) == 2
    assert errors[0].startswith(f"{MAIL / 'empty.eml'}: failed ")
    assert errors[1].startswith(f"{MAIL / 'not_an_email.eml'}: failed ")
    assert "1 new" in result.output and "2 failed" in result.output
    # quarantined, not lost: ingesting them again knows them
    again = cli("ingest", str(MAIL / "empty.eml"), str(MAIL / "not_an_email.eml"))
    assert "2 duplicate" in again.output


def test_a_missing_path_is_an_error_but_does_not_stop_the_others(cli, tmp_path: Path) -> None:
    result = cli("ingest", str(tmp_path / "nope.eml"), demo("08"), expect=1)
    assert f"{tmp_path / 'nope.eml'}: error: no such file or directory" in result.stderr
    assert "1 new" in result.output


def test_a_clients_reply_to_our_ack_is_appended_to_the_requirement(cli, tmp_path: Path) -> None:
    cli("ingest", demo("08"))
    ack = outbox(cli)[0]
    reply = tmp_path / "reply.eml"
    reply.write_bytes(
        "From: Sam Doe <sam.doe@gmail.example>\r\nTo: support@vendor.example.com\r\n"
        f"Subject: Re: {ack['subject']}\r\nMessage-ID: <r1@gmail.example>\r\n"
        f"In-Reply-To: {ack['message_id']}\r\nReferences: {ack['message_id']}\r\n"
        "Date: Mon, 23 Nov 2026 11:00:00 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Thanks, I also cannot log in on the mobile app.\r\n".encode()
    )
    result = cli("ingest", str(reply), "-v")
    assert "follow_up REQ-202611-001" in result.output
    req = show(cli, "REQ-202611-001")
    assert [m["direction"] for m in req["messages"]].count("in") == 2
    assert req["events"][-1]["kind"] == "follow_up"
    assert "cannot log in on the mobile app" in req["events"][-1]["detail"]
    assert len(json.loads(cli("requirements", "list", "--json").output)) == 1
    notes = [q for q in outbox(cli) if q["template"].endswith("/follow_up")]
    assert [n["kind"] for n in notes] == ["internal"]  # the owner is told; nothing goes to the client yet


def test_the_subject_tag_alone_threads_a_mail(cli, tmp_path: Path) -> None:
    cli("ingest", demo("08"))
    mail = tmp_path / "tagged.eml"
    mail.write_bytes(
        b"From: sam.doe@gmail.example\r\nTo: support@vendor.example.com\r\n"
        b"Subject: more about [REQ-202611-001]\r\nMessage-ID: <t1@gmail.example>\r\n\r\nAnother detail.\r\n"
    )
    assert "follow_up REQ-202611-001" in cli("ingest", str(mail), "-v").output


def test_a_tag_naming_no_requirement_starts_a_new_one(cli, tmp_path: Path) -> None:
    mail = tmp_path / "stale.eml"
    mail.write_bytes(
        b"From: sam.doe@gmail.example\r\nTo: support@vendor.example.com\r\n"
        b"Subject: Re: [REQ-202601-999] old thing\r\nMessage-ID: <s1@gmail.example>\r\n\r\nIs this still open?\r\n"
    )
    assert "new REQ-202611-001" in cli("ingest", str(mail), "-v").output
    assert show(cli, "REQ-202611-001")["subject"] == "Re: old thing"


def test_a_follow_up_found_by_references_is_appended(cli) -> None:
    cli("ingest", demo("03"), demo("05"))
    req = show(cli, "REQ-202611-001")
    assert [m["direction"] for m in req["messages"] if m["direction"] == "in"] == ["in", "in"]
    assert req["events"][-1]["kind"] == "follow_up"
    assert len(json.loads(cli("requirements", "list", "--json").output)) == 1


def test_automated_mail_is_kept_but_never_answered(cli) -> None:
    result = cli("ingest", demo("10"), demo("11"), "-v")
    assert result.output.count(": automated") == 2
    assert json.loads(cli("requirements", "list", "--json").output) == []
    assert outbox(cli) == []


def test_a_service_stage_client_gets_only_the_redirect_and_the_account_owner_the_mail(cli, tmp_path: Path) -> None:
    cli("ingest", demo("06"))
    req = show(cli, "REQ-202611-001")
    assert (req["customer_stage"], req["customer_tier"], req["type"], req["priority"]) == (
        "service", "strategic", "bug", "high")
    queued = outbox(cli)
    external = [q for q in queued if q["kind"] == "external"]
    assert [(q["template"], q["to"]) for q in external] == [("en/redirect_service", [req["submitter"]["email"]])]
    internal = {q["template"]: q["to"] for q in queued if q["kind"] == "internal"}
    assert internal["zh/service_request"] == ["zhang.min@vendor.example.com"]
    redirect = body(exported(cli, tmp_path)[external[0]["message_id"]])
    assert "zhang.min@vendor.example.com" in redirect


def test_a_service_stage_thread_is_redirected_once_whether_its_mails_come_together_or_apart(
        cli, tmp_path: Path) -> None:
    """Within one batch, and in a later batch that asks the database once for all its threads."""
    northwind = "emily.carter@northwind.example.com"
    follow_up = Path(demo("15")).read_bytes()
    together = tmp_path / "together"
    together.mkdir()
    (together / "06.eml").write_bytes(Path(demo("06")).read_bytes())
    (together / "15.eml").write_bytes(follow_up)
    cli("ingest", str(together))
    later = tmp_path / "later"
    later.mkdir()
    (later / "08.eml").write_bytes(Path(demo("08")).read_bytes())  # two mails: a batch, not one by one
    (later / "15-again.eml").write_bytes(follow_up.replace(b"<001901dd57a3$", b"<001901dd57a4$"))
    lines = _lines(cli("ingest", str(later), "-v"))
    assert [line.split()[0] for line in lines] == ["new", "follow_up"]
    to_client = [q for q in outbox(cli) if northwind in q["to"]]
    assert [q["template"] for q in to_client] == ["en/redirect_service"]


def test_a_requirement_made_in_the_batch_is_not_looked_for_in_the_database(cli, tmp_path: Path) -> None:
    """Nothing of it can be stored before the commit: its redirect-once check and its SLA log come from memory."""
    together = tmp_path / "together"
    together.mkdir()
    (together / "06.eml").write_bytes(Path(demo("06")).read_bytes())  # a service-stage client: redirected
    (together / "15.eml").write_bytes(Path(demo("15")).read_bytes())  # their follow-up, in the same batch
    lines, statements = _ingest_counting(cli, together)
    assert [line.split()[0] for line in lines] == ["new", "follow_up"]
    selects = [s for s in statements if s.startswith("SELECT")]
    assert not [s for s in selects if "FROM outbox" in s and "LIKE" in s]  # the redirect-once check
    assert not [s for s in selects if "FROM events" in s]  # the SLA clock's log
    northwind = [q for q in outbox(cli) if "emily.carter@northwind.example.com" in q["to"]]
    assert [q["template"] for q in northwind] == ["en/redirect_service"]  # still once
    record = show(cli, lines[0].split()[1])
    assert record["due_at"]  # the follow-up's clock was worked out from the log kept in memory


def test_an_implementation_ack_asks_only_for_what_is_missing_as_a_numbered_list(cli, tmp_path: Path) -> None:
    cli("ingest", demo("03"), demo("04"))  # 03 gives contact, phone and phase; 04 gives none of them
    mails = exported(cli, tmp_path)
    acks = {m["X-Mailflow-Requirement"]: body(m) for m in mails.values() if m["X-Mailflow-Kind"] == "external"}
    assert "补充以下信息" not in acks["REQ-202611-001"]
    assert "补充以下信息" in acks["REQ-202611-002"]
    assert "1. 联系人姓名及电话" in acks["REQ-202611-002"]
    assert "2. 目前的实施阶段" in acks["REQ-202611-002"]
    assert "3." not in acks["REQ-202611-002"]  # the customer is known from the rules


def test_attachments_are_kept_with_size_and_checksum(cli, config_file: Path) -> None:
    cli("ingest", demo("03"))
    [att] = show(cli, "REQ-202611-001")["attachments"]
    assert att["filename"] == "报错截图.png"
    blob = config_file.parent / "attachments" / att["sha256"][:2] / att["sha256"]
    assert blob.stat().st_size == att["size"]
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == att["sha256"]


def test_a_mislabelled_gbk_mail_is_decoded_without_mojibake(cli) -> None:
    cli("ingest", demo("03"))
    req = show(cli, "REQ-202611-001")
    assert req["submitter"]["name"] == "王喆"  # 喆 is GBK, not GB2312
    assert "社保基数为空" in req["description"]
    assert "\ufffd" not in req["description"]


def test_a_staff_forward_is_the_clients_requirement_with_the_staff_member_as_liaison(cli) -> None:
    cli("ingest", demo("02"))
    req = show(cli, "REQ-202611-001")
    assert req["submitter"]["email"] == "wang.lei@huaxin.example"
    assert req["liaison"] == "zhou.qing"
    assert req["customer"] == "华信制造"
    assert "合并报表" in req["description"] and "转一个华信制造的需求" not in req["description"]
    assert "forwarded by zhou.qing" in req["notes"]
    [ack] = [q for q in outbox(cli) if "ack" in q["template"]]
    assert ack["to"] == ["zhou.qing@vendor.example.com"] and ack["kind"] == "internal"


def test_mail_without_message_id_is_deduplicated_by_content(cli) -> None:
    cli("ingest", demo("14"))
    assert "1 duplicate" in cli("ingest", demo("14")).output


def test_requirements_list_filters_by_status_and_owner(cli) -> None:
    cli("ingest", str(DEMO_INBOX))
    everything = json.loads(cli("requirements", "list", "--json").output)
    assert len(everything) == 11
    bugfix = json.loads(cli("requirements", "list", "--owner", "li.wei", "--json").output)
    assert bugfix and all(r["owner"] == "li.wei" for r in bugfix)
    assert json.loads(cli("requirements", "list", "--status", "done", "--json").output) == []
    table = cli("requirements", "list").output
    assert "REQ-202611-011" in table and "华信制造" in table


def test_rules_explain_shows_which_rules_fired_and_what_would_be_sent(cli) -> None:
    out = cli("rules", "explain", demo("03")).output
    assert 'rule "bug-reports" (' in out and "routing.yaml:" in out
    assert "result: type bug, priority high" in out
    assert "would send [external] zh/ack_implementation to wang.zhe@yuanhang.example" in out
    assert json.loads(cli("requirements", "list", "--json").output) == []  # a dry run writes nothing


def test_broken_yaml_is_reported_as_file_line_and_exit_1(cli, config_file: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(Path(__file__).parent.parent / "rules", rules)
    text = (rules / "routing.yaml").read_text(encoding="utf-8")
    (rules / "routing.yaml").write_text(text.replace("type: bug", "type: bugg", 1), encoding="utf-8")
    config_file.write_text(config_file.read_text().replace(f'rules = "{Path(__file__).parent.parent / "rules"}"',
                                                           f'rules = "{rules}"'))
    result = cli("rules", "check", expect=1)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{rules / 'routing.yaml'}:") and "bugg" in line
    ingest = cli("ingest", demo("01"), expect=1)
    assert ingest.stderr.startswith(f"mailflow: error: {rules / 'routing.yaml'}:")
    assert len(ingest.stderr.splitlines()) == 1


def test_the_shipped_rules_and_templates_pass_rules_check(cli) -> None:
    assert "rules and templates OK" in cli("rules", "check").output


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mailflow.cli import cli as mailflow_cli

    cfg = tmp_path / "m.toml"
    cfg.write_text('[database]\nurl = "postgresql+psycopg://nobody@127.0.0.1:9/none"\n')
    result = CliRunner().invoke(mailflow_cli, ["--config", str(cfg), "requirements", "list"], obj={})
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("mailflow: error: database postgresql+psycopg://nobody@127.0.0.1:9/none:")


def test_a_database_that_breaks_mid_batch_stops_with_one_line_and_loses_nothing(cli, db_url: str) -> None:
    from sqlalchemy import create_engine, text

    cli("ingest", demo("01"))
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE attachments"))
        conn.execute(text("DROP TABLE messages"))  # what a restore gone wrong looks like
    engine.dispose()
    result = cli("ingest", demo("03"), demo("04"), expect=1)
    [line] = result.stderr.splitlines()
    assert line.startswith("mailflow: error: database: ")
    assert line.endswith(f"{demo('03')} was not ingested")
    assert Path(demo("03")).exists()  # offline sources are never consumed


def test_the_preview_renders_from_the_same_record_ingest_would_store(config_file: Path) -> None:
    """rules explain must not guess: a staff forward previews with the client's forwarded words."""
    from mailflow.config import load_config
    from mailflow.parse import parse
    from mailflow.store.session import open_store

    config = load_config(config_file)
    rt = pipeline.load_runtime(config, open_store(config.database_url))
    _, drafts = pipeline.preview(parse(Path(demo("02")).read_bytes()), rt)
    [ack] = [d for d in drafts if "ack" in d.template]
    assert ack.to == ("zhou.qing@vendor.example.com",)
    assert "合并报表" in ack.text and "转一个华信制造的需求" not in ack.text


def test_a_mail_whose_transaction_the_database_failed_to_break_a_deadlock_is_done_again(
        config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers ingesting the same mail wait on each other's rows; PostgreSQL breaks such a cycle by
    failing one transaction (40P01), which is nobody's error: that mail is done again, once, and
    the worker goes on. Any other database error still stops it, the mail left where it was."""
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    from mailflow.config import load_config
    from mailflow.store.session import StoreError, open_store
    from mailflow.store.tables import Message, Requirement

    config = load_config(config_file)
    rt = pipeline.load_runtime(config, open_store(config.database_url))
    real = pipeline._process_parsed
    failures = [OperationalError("UPDATE sequences …", {}, psycopg.errors.DeadlockDetected("deadlock detected"))]

    def colliding(session, *args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = real(session, *args, **kwargs)
        session.flush()  # the work is in the transaction when the server gives up on it
        if failures:
            raise failures.pop()
        return outcome

    monkeypatch.setattr(pipeline, "_process_parsed", colliding)
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)
    outcome = pipeline.process(Path(demo("01")).read_bytes(), "01.eml", rt)

    assert outcome.kind == "new" and not failures
    with rt.store.session() as session:
        assert session.query(Requirement).count() == 1
        assert session.query(Message).filter(Message.direction == "in").count() == 1
        assert [r.id for r in session.query(Requirement)] == [outcome.requirement_id]
    assert outcome.requirement_id.endswith("-001")  # the failed try gave its number back

    broken = OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("terminating connection"))
    failures.append(broken)
    with pytest.raises(StoreError, match="terminating connection; 02.eml was not ingested"):
        pipeline.process(Path(demo("02")).read_bytes(), "02.eml", rt)


# --- A backlog: many mails per transaction, parsed in another process ----------------------------

def _plain(sender: str, subject: str, text: str, *, mid: str | None, extra: str = "") -> bytes:
    head = f"From: {sender}\r\nTo: support@vendor.example.com\r\nSubject: {subject}\r\n"
    head += f"Message-ID: {mid}\r\n" if mid else ""
    return (head + extra + "Date: Mon, 23 Nov 2026 10:00:00 +0800\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n").encode()


def _with_attachment(sender: str, subject: str, text: str, *, mid: str, extra: str = "") -> bytes:
    head = (f"From: {sender}\r\nTo: support@vendor.example.com\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n"
            + extra + "Date: Mon, 23 Nov 2026 10:05:00 +0800\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n')
    return (head + "--b0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n"
            '--b0\r\nContent-Type: text/csv; name="export.csv"\r\n'
            'Content-Disposition: attachment; filename="export.csv"\r\n\r\n'
            "invoice,amount\r\nINV-1,100\r\n--b0--\r\n").encode()


def _ingest_counting(cli, directory: Path) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """``ingest -v`` of ``directory``: its lines, and every SQL statement it ran (whitespace folded)."""
    from sqlalchemy.engine import Engine

    with recorded_statements(Engine) as statements:
        return _lines(cli("ingest", str(directory), "-v")), statements


BACKLOG = pipeline.BATCH_MAILS + 10


def _backlog(directory: Path) -> Path:
    """More mails than one batch takes: the first batch holds mails that depend on each other."""
    directory.mkdir()
    mails = [
        _plain("Ann Lee <ann@acme-retail.example>", "Invoice export fails", "导出发票时报错，请帮忙看看。",
               mid="<b1@acme-retail.example>"),
        _plain("Ann Lee <ann@acme-retail.example>", "Invoice export fails", "导出发票时报错，请帮忙看看。",
               mid="<b1@acme-retail.example>"),  # the same mail delivered twice
        _plain("Bo Chen <bo@acme-retail.example>", "No Message-ID here", "A request without an id.", mid=None),
        _plain("Bo Chen <bo@acme-retail.example>", "No Message-ID here", "A request without an id.", mid=None),
        _plain("Ann Lee <ann@acme-retail.example>", "Re: [REQ-202611-001] Invoice export fails",
               "补充：只有 PDF 格式出错。", mid="<b2@acme-retail.example>"),  # tag of a record made just now
        _plain("Ann Lee <ann@acme-retail.example>", "Re: Invoice export fails", "还有 Excel 也不行。",
               mid="<b3@acme-retail.example>",
               extra="In-Reply-To: <b1@acme-retail.example>\r\nReferences: <b1@acme-retail.example>\r\n"),
    ]
    mails += [_plain("Flood <flood@acme-retail.example>", f"Question {n}", f"Question number {n}.",
                     mid=f"<f{n}@acme-retail.example>") for n in range(8)]
    mails += [_plain(f"User {n} <user{n}@acme-retail.example>", f"Request {n}", f"Please look at item {n}.",
                     mid=f"<u{n}@acme-retail.example>") for n in range(BACKLOG - len(mails))]
    for number, raw in enumerate(mails):
        (directory / f"{number:03d}.eml").write_bytes(raw)
    return directory


def _lines(result) -> list[str]:  # noqa: ANN001
    return [line.split(".eml: ", 1)[1] for line in result.output.splitlines() if ".eml: " in line]


def test_a_backlog_in_batches_sees_earlier_mails_of_its_own_batch(cli, tmp_path: Path) -> None:
    """Duplicates, tags and In-Reply-To of mails not yet written find them; flood counting includes them."""
    outcomes = [line.split()[0] for line in _lines(cli("ingest", str(_backlog(tmp_path / "in")), "-v"))]
    assert outcomes[:6] == ["new", "duplicate", "new", "duplicate", "follow_up", "follow_up"]
    assert outcomes[6:] == ["new"] * (BACKLOG - 6)
    first = show(cli, "REQ-202611-001")
    assert [m["direction"] for m in first["messages"]].count("in") == 3
    acks = [q for q in outbox(cli) if q["to"] == ["flood@acme-retail.example"]]
    held = [q for q in acks if q["status"] == "blocked"]
    assert (len(acks) - len(held), len(held)) == (5, 3)  # max_auto_replies_per_hour = 5, within one batch too
    assert all("flood protection" in q["reason"] for q in held)


def test_a_batch_still_sees_its_own_mails_after_a_mail_with_attachments_wrote_them_out(cli, tmp_path: Path,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A mail with attachments on a thread writes the batch's rows so far (its thread's order); the
    mails after it must still find the ones before it: the duplicate, the thread, the flood count.
    What the batch asked the database when it began no longer tells them, so the batch keeps its own."""
    directory = tmp_path / "in"
    directory.mkdir()
    mails = [
        _plain("Ann Lee <ann@acme-retail.example>", "Invoice export fails", "导出发票时报错，请帮忙看看。",
               mid="<c1@acme-retail.example>"),
        _plain("Bo Chen <bo@acme-retail.example>", "No Message-ID here", "A request without an id.", mid=None),
        *[_plain("Flood <flood@acme-retail.example>", f"Question {n}", f"Question number {n}.",
                 mid=f"<g{n}@acme-retail.example>") for n in range(3)],
        _with_attachment("Ann Lee <ann@acme-retail.example>", "Re: [REQ-202611-001] Invoice export fails",
                         "截图见附件。", mid="<c0@acme-retail.example>"),
        _plain("Ann Lee <ann@acme-retail.example>", "Invoice export fails", "导出发票时报错，请帮忙看看。",
               mid="<c1@acme-retail.example>"),  # delivered twice, around the flush
        _plain("Bo Chen <bo@acme-retail.example>", "No Message-ID here", "A request without an id.", mid=None),
        _plain("Ann Lee <ann@acme-retail.example>", "Re: Invoice export fails", "还有 Excel 也不行。",
               mid="<c2@acme-retail.example>",
               extra="In-Reply-To: <c1@acme-retail.example>\r\nReferences: <c1@acme-retail.example>\r\n"),
        _plain("Bo Chen <bo@acme-retail.example>", "Re: [REQ-202611-002] No Message-ID here", "补充一下。",
               mid="<c3@acme-retail.example>"),
        *[_plain("Flood <flood@acme-retail.example>", f"Question {n}", f"Question number {n}.",
                 mid=f"<g{n}@acme-retail.example>") for n in range(3, 8)],
    ]
    for number, raw in enumerate(mails):
        (directory / f"{number:03d}.eml").write_bytes(raw)
    with caplog.at_level(logging.DEBUG, logger="mailflow.pipeline"):
        lines = _lines(cli("ingest", str(directory), "-v"))
    # Found in the batch, not by a unique key failing at commit and the batch done again mail by mail.
    assert not [r for r in caplog.records if "rolled back" in r.getMessage()]
    assert [line.split()[0] for line in lines] == [
        "new", "new", "new", "new", "new", "follow_up", "duplicate", "duplicate", "follow_up", "follow_up",
        "new", "new", "new", "new", "new"]
    assert "REQ-202611-001" in lines[8] and "REQ-202611-002" in lines[9]
    acks = [q for q in outbox(cli) if q["to"] == ["flood@acme-retail.example"]]
    sent = [q for q in acks if q["status"] != "blocked"]
    assert (len(sent), len(acks) - len(sent)) == (5, 3)  # the 3 before the write are counted once each


def test_an_attachment_store_that_cannot_be_written_keeps_the_mail_raw_and_the_batch_goes_on(
        cli, tmp_path: Path, db_url: str) -> None:
    """Attachments are written beside the recording (a thread) and the commit waits for them: a file
    that cannot be written must fail its mail's transaction, never leave a record naming a missing file."""
    from sqlalchemy import create_engine, text

    (tmp_path / "attachments").write_text("a file where the attachment directory should be")
    directory = tmp_path / "in"
    directory.mkdir()
    shutil.copy(MAIL / "foxmail_zh_bug_attachment.eml", directory / "1.eml")
    shutil.copy(MAIL / "outlook_zh_gbk_feature.eml", directory / "2.eml")
    result = cli("ingest", str(directory), "-v")
    [failed] = [line for line in result.stderr.splitlines() if "1.eml" in line]
    assert failed.startswith(f"{directory / '1.eml'}: failed attachment store: cannot write ")
    assert "2.eml: new REQ-202611-001" in result.output
    engine = create_engine(db_url)
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT status, reason, length(raw) FROM messages WHERE source LIKE '%1.eml'")).one()
        assert conn.execute(text("SELECT count(*) FROM attachments")).scalar() == 0
    engine.dispose()
    assert kept[0] == "failed" and kept[1].startswith("attachment store: ")
    assert kept[2] == (MAIL / "foxmail_zh_bug_attachment.eml").stat().st_size


def test_a_batch_reads_the_requirements_it_continues_and_their_logs_once(cli, tmp_path: Path,
                                                                          config_file: Path) -> None:
    """Follow-ups to stored requirements: one statement for their records and one for their logs, not
    one of each per mail, and the clocks come out as the logs in the database say. A staff command
    reads its requirement's log again once it holds the lock on it."""
    from mailflow.config import load_config
    from mailflow.record.lookup import requirement
    from mailflow.sla.clock import next_due
    from mailflow.sla.tick import facts_of
    from mailflow.store.session import open_store

    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir()
    later.mkdir()
    for n in range(2):
        (first / f"a{n}.eml").write_bytes(_plain(f"User {n} <user{n}@acme-retail.example>", f"Request {n}",
                                                 f"Please look at item {n}.", mid=f"<p{n}@acme-retail.example>"))
        (later / f"b{n}.eml").write_bytes(_plain(f"User {n} <user{n}@acme-retail.example>", f"Re: Request {n}",
                                                 "One more thing: it fails on Mondays only.",
                                                 mid=f"<q{n}@acme-retail.example>",
                                                 extra=f"In-Reply-To: <p{n}@acme-retail.example>\r\n"))
    (first / "a2.eml").write_bytes(Path(demo("03")).read_bytes())  # REQ-202611-003
    (later / "b2.eml").write_bytes(Path(demo("17")).read_bytes())  # a lead's #assign on REQ-202611-003
    assert [line.split()[:2] for line in _lines(cli("ingest", str(first), "-v"))] == [
        ["new", "REQ-202611-001"], ["new", "REQ-202611-002"], ["new", "REQ-202611-003"]]

    lines, statements = _ingest_counting(cli, later)
    assert [line.split()[:2] for line in lines] == [
        ["follow_up", "REQ-202611-001"], ["follow_up", "REQ-202611-002"], ["staff", "REQ-202611-003"]]
    selects = [s for s in statements if s.startswith("SELECT")]
    records = [s for s in selects if "FROM requirements WHERE requirements.id" in s]
    assert len(records) == 2 and "IN (" in records[0]  # the batch's, then the staff command's locking read
    logs = [s for s in selects if "FROM events WHERE events.requirement_id" in s]
    assert len(logs) == 2 and "IN (" in logs[0]  # the batch's, then the staff command's, after its lock
    assert show(cli, "REQ-202611-003")["owner"] == "zhao.lei"

    config = load_config(config_file)
    rt = pipeline.load_runtime(config, open_store(config.database_url))
    with rt.store.session() as session:
        for rid in ("REQ-202611-001", "REQ-202611-002", "REQ-202611-003"):
            req = requirement(session, rid)
            assert req is not None and req.due_at is not None
            assert req.due_at == next_due(facts_of(session, req), rt.sla, rt.calendar), rid


def test_a_staff_command_in_the_batch_answers_the_thread_as_said_and_writes_nothing_early(
        cli, tmp_path: Path) -> None:
    """A lead's #reply in the same batch as the client's mails: the mail to the client answers the
    client's last mail and References the whole thread in the order it was said (a mail with
    attachments, still an ORM object, between rows that wait for the commit), read without writing
    the batch out first; the stored messages keep that order."""
    directory = tmp_path / "in"
    directory.mkdir()
    auth = ("Authentication-Results: mx.vendor.example.com; dkim=pass header.d=vendor.example.com; "
            "spf=pass smtp.mailfrom=li.wei@vendor.example.com\r\n")
    mails = [
        _plain("Ann Lee <ann@acme-retail.example>", "Invoice export fails", "导出发票时报错，请帮忙看看。",
               mid="<t1@acme-retail.example>"),
        _with_attachment("Ann Lee <ann@acme-retail.example>", "Re: [REQ-202611-001] Invoice export fails",
                         "截图见附件。", mid="<t2@acme-retail.example>",
                         extra="In-Reply-To: <t1@acme-retail.example>\r\n"),
        _plain("Ann Lee <ann@acme-retail.example>", "Re: [REQ-202611-001] Invoice export fails",
               "还有 Excel 也不行。", mid="<t3@acme-retail.example>"),
        _plain("Li Wei <li.wei@vendor.example.com>", "Re: [REQ-202611-001] Invoice export fails #reply",
               "王女士您好，我们已收到截图，正在分析原因，有进展会再告诉您。", mid="<t4@vendor.example.com>",
               extra=auth),
    ]
    for number, raw in enumerate(mails):
        (directory / f"{number:03d}.eml").write_bytes(raw)
    lines, statements = _ingest_counting(cli, directory)
    assert [line.split()[0] for line in lines] == ["new", "follow_up", "follow_up", "staff"], lines
    stored = [m["message_id"] for m in show(cli, "REQ-202611-001")["messages"]]
    [reply] = [m for m in exported(cli, tmp_path).values()
               if m["To"] == "ann@acme-retail.example" and "已收到截图" in body(m)]
    said = stored[:stored.index(reply["Message-ID"])]
    assert [mid for mid in said if not mid.startswith("<REQ-")] == [  # and our own mails between them
        "<t1@acme-retail.example>", "<t2@acme-retail.example>", "<t3@acme-retail.example>", "<t4@vendor.example.com>"]
    parent = "<t3@acme-retail.example>"
    assert reply["In-Reply-To"] == parent
    assert reply["References"].split() == [mid for mid in said if mid != parent] + [parent]  # the parent last
    # The thread's rows were written before the mail with attachments joined it, and the rest at the commit.
    assert len([s for s in statements if s.startswith("INSERT INTO messages")]) == 3


def test_a_backlog_s_attachments_are_on_disk_as_recorded_when_the_parsing_process_wrote_them(
        tmp_path: Path, cli, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Three batches: the second and third are parsed, and their files written, by the parsing process."""
    import sys

    from sqlalchemy import create_engine, text

    from mailflow.record import requirements

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from generate import write  # noqa: PLC0415 - the benchmark's realistic mix, with attachments

    written_here = []
    save_here = requirements.save_blob_soon
    monkeypatch.setattr(requirements, "save_blob_soon", lambda *a: written_here.append(a[2]) or save_here(*a))
    write(tmp_path / "backlog", 260, seed=3)
    cli("ingest", str(tmp_path / "backlog"))
    engine = create_engine(db_url)  # the database the cli fixture's config names
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT sha256, size, path FROM attachments")).all()
    engine.dispose()
    assert len(rows) > 20
    assert 0 < len(written_here) < len(rows) / 2  # the first batch's files only: the rest came written
    for sha256, size, path in rows:
        data = (tmp_path / "attachments" / path).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha256


def test_outcomes_are_counted_not_kept_and_counts_add_up_across_mailboxes() -> None:
    """A summary of a backlog of 100,000 needs six numbers, not 100,000 outcomes (about 30 MB)."""
    first, second = pipeline.Counts(), pipeline.Counts()
    for kind, queued in ((pipeline.NEW, 2), (pipeline.NEW, 1), (pipeline.AUTOMATED, 0)):
        first.add(pipeline.Outcome(kind, "a.eml", queued=queued))
    second.add(pipeline.Outcome(pipeline.FAILED, "b.eml", reason="truncated"))

    both = first + second
    assert (both.total, both.count(pipeline.NEW), both.count(pipeline.NEW, pipeline.FAILED), both.queued) == (4, 2, 3, 3)
    assert both.count(pipeline.DUPLICATE) == 0 and first.total == 3  # adding makes a new one
    assert not hasattr(both, "outcomes")
