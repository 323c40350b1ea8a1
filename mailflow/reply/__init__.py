"""The reply stage: which mails an event sends, worded by admin-edited templates."""

from __future__ import annotations

from pathlib import Path

from mailflow.reply import render
from mailflow.reply.engine import REQUIRED, drafts_for, missing_facts
from mailflow.reply.rehearsal import rehearse
from mailflow.reply.render import Templates

__all__ = ["Templates", "check_templates", "drafts_for", "missing_facts"]


def check_templates(directory: Path | str) -> list[str]:
    """Every template problem, one ``file:line: what`` each; [] when the directory is fine.

    Beyond compiling each file, the templates the engine needs must exist in
    every language, and they are rendered once with sample facts, so a
    misspelt variable shows up here rather than when a client writes in.
    """
    problems = render.check_templates(directory, required=REQUIRED)
    if problems:
        return problems
    return rehearse(Templates(directory))
