"""The customers and staff of the YAML rules, mirrored into the database at every start."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select

from conftest import ROOT
from mailflow.classify import load_rules
from mailflow.classify.model import Customer as RuleCustomer
from mailflow.classify.model import Rules
from mailflow.record.directory import sync_directory
from mailflow.store.session import open_store
from mailflow.store.tables import Customer, Staff


def _with_customers(rules: Rules, count: int) -> Rules:
    model = rules.customers[0]
    made = tuple(RuleCustomer(key=f"c{n:05d}", name=f"客户 {n}", stage=model.stage, tier=model.tier,
                              account_owner=model.account_owner, domains=(f"c{n:05d}.example.com",),
                              addresses=(), partner=None, origin=model.origin) for n in range(count))
    return replace(rules, customers=made)


def test_the_shipped_rules_are_mirrored_a_changed_customer_updated_and_removed_ones_go(db_url: str) -> None:
    rules = load_rules(ROOT / "rules")
    store = open_store(db_url)
    try:
        with store.session() as session:
            sync_directory(session, rules)
        renamed = replace(rules.customers[1], name="远航物流集团", tier="strategic")
        fewer = replace(rules, customers=(renamed, *rules.customers[2:]), staff=rules.staff[1:])
        with store.session() as session:
            sync_directory(session, fewer)
            keys = set(session.scalars(select(Customer.key)))
            handles = set(session.scalars(select(Staff.handle)))
            stored = session.get(Customer, renamed.key)
            assert (stored.name, stored.tier) == ("远航物流集团", "strategic")
        assert keys == {c.key for c in fewer.customers}
        assert handles == {s.handle for s in fewer.staff}
    finally:
        store.close()


def test_ten_thousand_customers_are_mirrored_and_pruned(db_url: str) -> None:
    """PostgreSQL refuses a statement of more than 65,535 parameters: one upsert of 10,000 customers
    (70,000 values) used to stop every worker from starting."""
    rules = _with_customers(load_rules(ROOT / "rules"), 10_000)
    store = open_store(db_url)
    try:
        with store.session() as session:
            sync_directory(session, _with_customers(rules, 12_000))
        with store.session() as session:
            sync_directory(session, rules)  # 2,000 customers gone from the YAML
        with store.session() as session:
            assert session.scalar(select(func.count()).select_from(Customer)) == 10_000
            assert session.get(Customer, "c09999").domains == ["c09999.example.com"]
            assert session.get(Customer, "c10000") is None
    finally:
        store.close()
