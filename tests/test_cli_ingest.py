"""`mailflow ingest` of a backlog of files: stopped by a signal, it keeps what it did and says so;
the same command again takes the rest and nothing twice."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from mailflow import pipeline
from mailflow.cli import cli as mailflow_cli

from conftest import bench_generator, outbox_to_send, stopped_as_systemd_stops

AFTER_THE_MAIL = "2026-12-01T10:00:00+08:00"  # the generated mail is dated 2-30 November


def _summary(line: str) -> dict[str, int]:
    """`120 mail(s): 80 new, 20 follow-up, …; 150 reply(ies) queued` -> {"mail(s)": 120, "new": 80, …}."""
    head, _, tail = line.partition(": ")
    found = {"mail(s)": int(head.split()[0])}
    for part in tail.replace(";", ",").split(","):
        number, _, name = part.strip().partition(" ")
        found[name] = int(number)
    return found


def test_sigterm_ends_an_ingest_between_two_batches_and_the_same_command_takes_the_rest(
        config_file: Path, tmp_path: Path) -> None:
    total = 4 * pipeline.BATCH_MAILS
    backlog = tmp_path / "backlog"
    generator = bench_generator()
    files, metas = generator.write_with_meta(backlog, total, seed=11)
    sizes = [file.stat().st_size for file in files]
    ends = list(itertools.accumulate(len(batch) for batch in pipeline.batches(sizes, lambda size: size)))
    meant = {kind.replace("_", "-"): n for kind, n in generator.expected(metas).items()}
    env = {**os.environ, "MAILFLOW_NOW": AFTER_THE_MAIL}
    mailflow = Path(sys.executable).parent / "mailflow"

    def five_lines_out(child: subprocess.Popen[str]) -> None:  # the first batch is committed
        assert child.stdout is not None
        assert all(child.stdout.readline() for _ in range(5)), "ingest ended before it could be stopped"

    status, out, err = stopped_as_systemd_stops(
        [str(mailflow), "--config", str(config_file), "ingest", "-v", str(backlog)], env, five_lines_out)
    assert status == 128 + signal.SIGTERM, err
    # One line, and no warning of a parsing process that died: the next batch is not even asked for.
    assert err.strip().splitlines() == ["stopped by SIGTERM: the same command again ingests the rest "
                                        "(mail already in is recognised and skipped)"]
    first = _summary(out.strip().splitlines()[-1])
    assert first["mail(s)"] in ends[:-1], f"stopped after {first['mail(s)']} mails: not where a batch ends {ends}"
    assert first["duplicate"] == first["failed"] == 0
    assert outbox_to_send(config_file) == first["reply(ies) queued"]  # what it said it did is what is in

    rest = CliRunner().invoke(mailflow_cli, ["--config", str(config_file), "ingest", str(backlog)], obj={},
                              env={"MAILFLOW_NOW": AFTER_THE_MAIL})
    assert rest.exit_code == 0, rest.output
    second = _summary(rest.stdout.strip().splitlines()[-1])
    assert second["mail(s)"] == total
    assert second["duplicate"] == first["mail(s)"]  # each mail taken before is known: none twice
    assert {kind: first[kind] + second[kind] for kind in meant} == meant  # and none lost: as one run would end
    assert outbox_to_send(config_file) == first["reply(ies) queued"] + second["reply(ies) queued"]
