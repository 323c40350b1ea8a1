"""Reply templates: admin-edited Jinja2 files, rendered in a sandbox.

Templates are edited by admins, not programmers, and what they render goes
to clients. So they run in Jinja's immutable sandbox (a template cannot
reach ``__class__`` or mutate what it is given), every name must exist
(``StrictUndefined``: a typo fails loudly instead of mailing a blank), and
every failure is one ``file:line: what`` line. All files are read and
compiled when ``Templates`` is built (compiled once per process for the
same text); a broken file stops start-up (and ``rules check``) rather than
the first mail that needs it.

File convention: ``<dir>/<lang>/<name>.txt.j2`` whose first line is
``Subject: …`` (a template too), then a blank line, then the body; an
optional ``<name>.html.j2`` beside it is the HTML part (autoescaped).
Files whose name starts with ``_`` are partials for ``{% include %}``.
"""

from __future__ import annotations

import re
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import jinja2
from jinja2 import StrictUndefined, meta, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailflow.errors import TemplateError

TEXT = ".txt.j2"
HTML = ".html.j2"
QUOTE_LIMIT = 1500  # characters of the client's words quoted in a mail; the record keeps all
SHORT_LIMIT = 100  # a single line up to this long reads well inline, in “…”
_LANG_DIR = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?\Z")
_SUBJECT = re.compile(r"subject:", re.IGNORECASE)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CUT_NOTE = {
    "zh": "(原文较长,这里只引用了开头部分;完整原文已记录。)",
    "en": "(Only the beginning is quoted here; the full text is recorded.)",
}


@dataclass(frozen=True)
class _Main:
    """One mail template: where its three parts live in the loader."""

    subject: str
    body: str
    html: str | None


class _Loader(jinja2.BaseLoader):
    """Serves sources read once at start-up; nothing is re-read per mail."""

    def __init__(self, sources: dict[str, tuple[str, str]]) -> None:
        self.sources = sources  # loader name -> (source, file name shown in errors)

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, object]:
        if template not in self.sources:
            raise jinja2.TemplateNotFound(template)
        source, filename = self.sources[template]
        return source, filename, lambda: True


class Templates:
    """Every template of one directory, compiled and ready to render."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        env, mains, problems = _load(self.directory)
        if problems:
            raise TemplateError(problems[0])
        get = env.get_template
        self._compiled = {key: (get(m.subject), get(m.body), get(m.html) if m.html else None)
                          for key, m in mains.items()}
        self._files = {filename for _, filename in env.loader.sources.values()}  # type: ignore[union-attr]

    def names(self) -> frozenset[str]:
        """``"<lang>/<name>"`` of every mail template found."""
        return frozenset(self._compiled)

    def has(self, name: str, language: str) -> bool:
        return f"{language}/{name}" in self._compiled

    def render(self, name: str, language: str, context: Mapping[str, object]) -> tuple[str, str, str | None]:
        """(subject, text, html): all three, or TemplateError and nothing."""
        key = f"{language}/{name}"
        if key not in self._compiled:
            raise TemplateError(f"{self.directory / language / (name + TEXT)}: template not found")
        subject_t, body_t, html_t = self._compiled[key]
        values = {"language": language, **context}
        try:
            subject = subject_t.render(values)
            text = body_t.render(values)
            html = html_t.render(values) if html_t is not None else None
        except Exception as err:  # any failure, even in a filter, must stop this mail
            raise TemplateError(self._explain(err, str(self.directory / language / (name + TEXT)))) from err
        return " ".join(subject.split()), _tidy(text), _tidy(html) if html is not None else None

    def _explain(self, err: Exception, fallback: str) -> str:
        where = fallback
        for frame, lineno in traceback.walk_tb(err.__traceback__):
            if frame.f_code.co_filename in self._files:  # Jinja rewrites frames to template lines
                where = f"{frame.f_code.co_filename}:{lineno}"
        return f"{where}: {_message(err)}"


def check_templates(directory: Path | str, required: Iterable[str] = ()) -> list[str]:
    """Every problem in a template directory, one ``file:line: what`` each; [] when fine.

    ``required`` names templates some caller cannot do without, as ``"<lang>/<name>"``.
    """
    directory = Path(directory)
    _, mains, problems = _load(directory)
    for key in required:
        if key not in mains and directory.is_dir():
            problems.append(f"{directory / (key + TEXT)}: missing (the reply engine needs this template)")
    return problems


# --- loading -------------------------------------------------------------------

def _load(directory: Path) -> tuple[jinja2.Environment, dict[str, _Main], list[str]]:
    """The directory's templates compiled, its mail templates, and every problem found.

    The files are read each time; compiling is done once per process for the
    same files (same names, same text), since Jinja's compiling is nearly all
    of the cost: 0.55 s on a slow machine, where reading takes milliseconds.
    A changed file is a different key, so it is compiled again.
    """
    sources: dict[str, tuple[str, str]] = {}
    mains: dict[str, _Main] = {}
    problems: list[str] = []
    if not directory.is_dir():
        return _environment(sources), mains, [f"{directory}: template directory not found"]
    lang_dirs = sorted(p for p in directory.iterdir() if p.is_dir() and _LANG_DIR.match(p.name))
    if not lang_dirs:
        problems.append(f"{directory}: no language directories (expected zh/, en/, ...)")
    for lang_dir in lang_dirs:
        for path in sorted(lang_dir.iterdir()):
            if path.is_file() and path.name.endswith(".j2"):
                _read(path, f"{lang_dir.name}/{path.name}", sources, mains, problems)
    for key, main in mains.items():
        if main.html is None:
            html_key = key + HTML
            if html_key in sources:
                mains[key] = _Main(main.subject, main.body, html_key)
    for key in sources:
        if key.endswith(HTML) and not key.rpartition("/")[2].startswith("_") and key[: -len(HTML)] not in mains:
            problems.append(f"{sources[key][1]}:1: HTML part without a {TEXT} template beside it")
    env, found = _compiled(sources)
    return env, mains, sorted(problems + found, key=_by_place)


# Sources (sorted) -> the environment that compiled them and the problems compiling found. A few
# entries at most: a process loads one directory, and a test suite a handful.
_COMPILED: dict[tuple[tuple[str, tuple[str, str]], ...], tuple[jinja2.Environment, tuple[str, ...]]] = {}
_COMPILED_KEEP = 4
_COMPILED_LOCK = threading.Lock()


def _compiled(sources: dict[str, tuple[str, str]]) -> tuple[jinja2.Environment, list[str]]:
    """An environment with every source compiled, and the problems; shared by loads of the same sources.

    Sharing is safe: nothing changes an environment or its templates after
    this (rendering only reads them), and the daemon's threads already share one.
    """
    key = tuple(sorted(sources.items()))
    with _COMPILED_LOCK:
        found = _COMPILED.get(key)
    if found is None:
        env = _environment(dict(sources))
        problems: list[str] = []
        for name in sorted(sources):
            _compile(env, name, sources, problems)
        _flatten_globals(env, sources)
        found = (env, tuple(problems))
        with _COMPILED_LOCK:
            while len(_COMPILED) >= _COMPILED_KEEP:
                del _COMPILED[next(iter(_COMPILED))]  # the oldest first
            _COMPILED[key] = found
    return found[0], list(found[1])


def _flatten_globals(env: jinja2.Environment, sources: dict[str, tuple[str, str]]) -> None:
    """Each loaded template's globals as one plain dict instead of Jinja's chain of two.

    Why: every render (and every include) copies them into a new context, and
    copying a ChainMap is a Python loop; it was two fifths of rendering. The
    environment's globals are not changed after loading, so the copy stays true.
    """
    for key in sources:
        try:
            template = env.get_template(key)
        except jinja2.TemplateError:
            continue  # reported by _compile
        template.globals = dict(template.globals)


def _read(path: Path, key: str, sources: dict[str, tuple[str, str]], mains: dict[str, _Main],
          problems: list[str]) -> None:
    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"{filename}:1: cannot read ({err})")
        return
    base = key.rpartition("/")[2]
    if base.startswith("_") or key.endswith(HTML):
        sources[key] = (text, filename)
        return
    if not key.endswith(TEXT):
        problems.append(f"{filename}:1: unknown kind of template (expected NAME{TEXT} or NAME{HTML})")
        return
    lines = text.split("\n")
    if not _SUBJECT.match(lines[0]):
        problems.append(f"{filename}:1: the first line must be 'Subject: ...'")
        return
    if len(lines) < 2 or lines[1].strip():
        problems.append(f"{filename}:2: the line after the Subject line must be empty")
        return
    # The body keeps its place in the file, so Jinja's line numbers are the file's.
    sources[key + "#subject"] = (lines[0][len("subject:"):].strip(), filename)
    sources[key + "#body"] = ("\n\n" + "\n".join(lines[2:]), filename)
    mains[key[: -len(TEXT)]] = _Main(key + "#subject", key + "#body", None)


def _compile(env: jinja2.Environment, key: str, sources: dict[str, tuple[str, str]], problems: list[str]) -> None:
    source, filename = sources[key]
    try:
        env.get_template(key)
        for name in meta.find_referenced_templates(env.parse(source, key, filename)):
            if name is not None and name not in sources:
                problems.append(f"{filename}: includes {name!r}, which does not exist")
    except jinja2.TemplateSyntaxError as err:
        problems.append(f"{err.filename or filename}:{err.lineno}: {err.message}")


def _by_place(problem: str) -> tuple[str, int]:
    """Problems in file order, then line order, as an editor walks them."""
    found = re.match(r"(.*?\.j2)(?::(\d+))?:", problem)
    return (found.group(1), int(found.group(2) or 0)) if found else (problem, 0)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with a short way through for the data of our own dataclasses.

    Why: the sandbox vets every attribute a template reads (a dozen checks),
    and templates read a few dozen per mail. A public field of a mailflow
    dataclass holding data (not something callable) is exactly what the
    sandbox would hand over after those checks; everything else (methods,
    other types, ``_`` names) takes the sandbox's own way.
    """

    def getattr(self, obj: object, attribute: str) -> object:
        if attribute in _data_fields(type(obj)):
            value = getattr(obj, attribute)
            if not callable(value):
                return value
        return super().getattr(obj, attribute)


_FIELDS: dict[type, frozenset[str]] = {}


def _data_fields(cls: type) -> frozenset[str]:
    found = _FIELDS.get(cls)
    if found is None:
        fields = getattr(cls, "__dataclass_fields__", None) if cls.__module__.startswith("mailflow.") else None
        found = _FIELDS[cls] = frozenset(name for name in fields or () if not name.startswith("_"))
    return found


def _environment(sources: dict[str, tuple[str, str]]) -> jinja2.Environment:
    env = _Sandbox(
        loader=_Loader(sources),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,  # an included partial ends its last line, so the next line starts anew
        autoescape=lambda name: bool(name) and name.endswith(HTML),  # "x.txt.j2#body" never does
        auto_reload=False,
        cache_size=-1,
    )
    env.filters["date"] = date_words
    env.filters["quote"] = quote
    env.tests["short"] = is_short
    return env


def _message(err: Exception) -> str:
    if isinstance(err, jinja2.TemplateNotFound):
        return f"included template {err.name!r} not found"
    if isinstance(err, jinja2.TemplateError) and err.message:
        return err.message
    return f"{type(err).__name__}: {err}"


def _tidy(text: str) -> str:
    """No trailing spaces, no runs of blank lines left by conditionals, one final newline."""
    text = "\n".join([line.rstrip() for line in text.split("\n")])
    while "\n\n\n" in text:  # what re.sub(r"\n{3,}", "\n\n", …) does, a third of its time on every render
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n") + "\n"


# --- filters and tests available to templates --------------------------------

@pass_context
def date_words(context: Mapping[str, object], value: date | datetime, language: str | None = None) -> str:
    """A date as people write it: ``2026年11月26日`` / ``26 Nov 2026`` (the value's own local day)."""
    if not isinstance(value, date):
        raise TypeError(f"date filter needs a date or datetime, got {type(value).__name__}")
    lang = language or str(context.get("language") or "en")
    if lang.startswith("zh"):
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


@pass_context
def quote(context: Mapping[str, object], text: str, limit: int = QUOTE_LIMIT, prefix: str = "> ") -> str:
    """The client's words as a quoted block; very long text is cut at a line, with a note.

    ``limit=0`` quotes everything (internal mail carries the full words).
    """
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    kept: list[str] = []
    used = 0
    cut = False
    for line in lines:
        if limit and used + len(line) > limit:
            kept.append(line[: max(limit - used, 0)].rstrip() + "…" if not kept else "…")
            cut = True
            break
        kept.append(line)
        used += len(line) + 1
    block = "\n".join((prefix + line).rstrip() for line in kept)
    if cut:
        lang = "zh" if str(context.get("language") or "en").startswith("zh") else "en"
        block += "\n" + _CUT_NOTE[lang]
    return block


def is_short(text: str, limit: int = SHORT_LIMIT) -> bool:
    """True when the words fit in one line of a sentence: ``{% if x is short %}``."""
    value = str(text).strip()
    return "\n" not in value and len(value) <= limit
