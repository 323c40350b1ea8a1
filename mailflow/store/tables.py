"""SQLAlchemy 2 models: the requirement record and what hangs off it.

The store imports no pipeline stage. Times are stored in UTC (SQLite keeps no
zone, so ``UTCDateTime`` re-attaches it on the way out); the local zone is a
presentation concern of the CLI and the templates.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; pass an aware datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Any) -> Any:
        """On SQLite, the text SQLite's DATETIME would make, in one C call instead of a dict and a format.

        Every row ingest writes carries two to eight times, and the stock
        path was a tenth of the commit's work. The text is the same
        (``YYYY-MM-DD HH:MM:SS.ffffff``, microseconds always; a test holds
        the two together), so stored values compare and sort as before.
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        utc = timezone.utc

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime stored; pass an aware datetime")
            return value.astimezone(utc).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class Requirement(Base):
    __tablename__ = "requirements"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # REQ-YYYYMM-NNN
    status: Mapped[str] = mapped_column(String(24), default="new")  # indexed with owner, below
    type: Mapped[str] = mapped_column(String(16), default="other")
    priority: Mapped[str] = mapped_column(String(8), default="medium")
    customer: Mapped[str | None] = mapped_column(String(200))
    customer_key: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_stage: Mapped[str] = mapped_column(String(16), default="presales")
    customer_tier: Mapped[str] = mapped_column(String(16), default="standard")
    partner: Mapped[str | None] = mapped_column(String(200))
    submitter_name: Mapped[str] = mapped_column(String(200), default="")
    submitter_email: Mapped[str] = mapped_column(String(320), index=True)
    liaison: Mapped[str | None] = mapped_column(String(64))  # staff handle
    account_owner: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    team: Mapped[str | None] = mapped_column(String(64))
    owner_reason: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")  # the client's original words
    language: Mapped[str] = mapped_column(String(8), default="zh")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the SLA tick next needs to look (a reminder, a deadline, a progress mail); NULL: not yet looked at.
    tick_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    plan_version: Mapped[str | None] = mapped_column(String(64))
    plan_date: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD
    plan_patch: Mapped[str | None] = mapped_column(String(64))
    plan_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    plan_confirmed_by: Mapped[str | None] = mapped_column(String(64))
    verification: Mapped[str | None] = mapped_column(String(16))  # passed | failed
    satisfaction: Mapped[str | None] = mapped_column(String(16))  # satisfied | neutral | unsatisfied
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str] = mapped_column(Text, default="")
    merged_into: Mapped[str | None] = mapped_column(String(32))  # a duplicate: continues in this requirement
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # Read-only views of what hangs off a requirement: rows are written with their requirement_id (most
    # as kept rows, not ORM objects), and a writable collection cost every flush of every requirement a
    # pass over three relationships with nothing in them (1.5% of ingest's instructions).
    messages: Mapped[list[Message]] = relationship(back_populates="requirement", order_by="Message.id", viewonly=True)
    events: Mapped[list[Event]] = relationship(back_populates="requirement", order_by="Event.id", viewonly=True)
    attachments: Mapped[list[Attachment]] = relationship(back_populates="requirement", order_by="Attachment.id",
                                                          viewonly=True)


class Message(Base):
    """Every mail in or out, kept raw so nothing is ever lost.

    Incoming mail that could not be parsed, or that is automated and belongs
    to no requirement, is kept here too with ``requirement_id`` NULL and a
    ``status`` saying why.
    """

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requirement_id: Mapped[str | None] = mapped_column(ForeignKey("requirements.id"), index=True)
    message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    status: Mapped[str] = mapped_column(String(16), default="ok")  # ok | automated | failed
    reason: Mapped[str] = mapped_column(Text, default="")
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(Text, default="")  # file path, Maildir key, IMAP folder/UID
    # Deferred: loading a thread (``Requirement.messages``) to answer in it needs its ids, not every
    # mail's bytes again; it was a fifth of a staff command's time.
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    # A large mail was spooled (fetch.spool): ``raw`` is its light copy, files
    # left out, and the mail as received is this file in the attachment store.
    raw_blob: Mapped[str | None] = mapped_column(String(80))

    requirement: Mapped[Requirement | None] = relationship(back_populates="messages")


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requirement_id: Mapped[str] = mapped_column(ForeignKey("requirements.id"), index=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)  # relative to paths.attachments

    requirement: Mapped[Requirement] = relationship(back_populates="attachments")
    # Lets a batch write the message and its attachments in one flush, the message's new id filled in.
    message: Mapped[Message] = relationship()


class Event(Base):
    """The process log: every step, who, when, what."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requirement_id: Mapped[str] = mapped_column(ForeignKey("requirements.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")

    requirement: Mapped[Requirement] = relationship(back_populates="events")


class Outbox(Base):
    """A rendered mail waiting to be sent; committed with the record it answers."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    requirement_id: Mapped[str | None] = mapped_column(ForeignKey("requirements.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # external | internal
    recipient: Mapped[str] = mapped_column(String(320), default="")  # first To, lower-case: flood counting
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text)
    template: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(8), default="pending", index=True)  # pending|sent|failed|blocked
    reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    raw: Mapped[bytes] = mapped_column(LargeBinary)

    # Never read: it tells the unit of work that a requirement is inserted before the mail that
    # answers it, so a batch's rows can go in one flush.
    requirement: Mapped[Requirement | None] = relationship()


class Sequence(Base):
    """Per-month counters behind REQ-YYYYMM-NNN; one row per month."""

    __tablename__ = "sequences"

    period: Mapped[str] = mapped_column(String(6), primary_key=True)  # YYYYMM
    last: Mapped[int] = mapped_column(Integer, default=0)


class Customer(Base):
    """Mirror of rules/customers.yaml, refreshed at start-up, for reports and joins."""

    __tablename__ = "customers"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(16))
    account_owner: Mapped[str | None] = mapped_column(String(64))
    partner: Mapped[str | None] = mapped_column(String(200))
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)


class Staff(Base):
    """Mirror of rules/staff.yaml."""

    __tablename__ = "staff"

    handle: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    team: Mapped[str | None] = mapped_column(String(64))
    manager: Mapped[str | None] = mapped_column(String(64))


class ImapFolder(Base):
    """Where the IMAP poller stands in one folder of one mailbox.

    UIDs only mean something under their UIDVALIDITY: when the server
    changes it, the poller starts again from UID 1 and the pipeline's
    de-duplication turns mail already ingested into no-ops. Both are
    unsigned 32-bit numbers in IMAP, hence BIGINT.
    """

    __tablename__ = "imap_folders"

    mailbox: Mapped[str] = mapped_column(String(64), primary_key=True)  # [imap] name / [[mailboxes]] name
    folder: Mapped[str] = mapped_column(String(512), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)  # every UID up to this one is done
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_messages_content_hash_direction", Message.content_hash, Message.direction)
Index("ix_requirements_status_owner", Requirement.status, Requirement.owner)  # the open workload, from the index
Index("ix_outbox_recipient_kind_created_at", Outbox.recipient, Outbox.kind, Outbox.created_at)
# Mail without Message-ID is known by its content: stored once, however many workers race on it.
_NO_MESSAGE_ID = text("direction = 'in' AND message_id IS NULL")
Index("ux_messages_in_content_hash", Message.content_hash, unique=True, sqlite_where=_NO_MESSAGE_ID,
      postgresql_where=_NO_MESSAGE_ID)
# The sender's queue: the oldest pending rows, whatever the number of mails sent before them (0013).
_PENDING = text("status = 'pending'")
Index("ix_outbox_pending", Outbox.id, sqlite_where=_PENDING, postgresql_where=_PENDING)


class Lease(Base):
    """Who may do a singular job (poll one mailbox) until when; renewed while alive.

    A lease row instead of a held database lock: it works the same on SQLite
    and PostgreSQL, survives a crashed holder (it simply expires) and shows
    in plain SQL who holds what.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # e.g. "imap:support"
    holder: Mapped[str] = mapped_column(String(200), default="")  # host:pid:thread
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SlaNotice(Base):
    """One reminder, escalation, progress mail or breach per deadline: the "exactly once" of the SLA clock.

    A deadline is (requirement, clock, due time). The unique key makes a
    second tick — after a restart, or in another worker — fail to claim what
    the first one did, inside the same transaction that queues the mail.
    Escalations and breaches are also the breach record the reports read.
    """

    __tablename__ = "sla_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requirement_id: Mapped[str] = mapped_column(ForeignKey("requirements.id"), index=True)
    clock: Mapped[str] = mapped_column(String(32))  # first_response | feedback | plan | progress
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))  # reminder | escalation | breach | progress
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ux_sla_notices_deadline", SlaNotice.requirement_id, SlaNotice.clock, SlaNotice.due_at, SlaNotice.kind,
      unique=True)
