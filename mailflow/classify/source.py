"""Reading admin YAML so that every later complaint can name ``file:line``.

``yaml.safe_load`` forgets where things were written; admins need the line.
The loader below is a ``SafeLoader`` (same safe types, nothing executable)
whose mappings and lists remember the line of each key and item. Problems are
collected, not raised, so ``rules check`` can show every one of them at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class LineDict(dict):
    """A YAML mapping that knows its own line and the line of each key."""

    line: int = 1
    key_lines: dict

    def key_line(self, key: object) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A YAML sequence that knows its own line and the line of each item."""

    line: int = 1
    item_lines: list

    def item_line(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Noting:
    """What both loaders below note as they go: duplicate keys and impossible dates."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)  # type: ignore[call-arg]
        self.duplicate_keys: list[tuple[int, object]] = []
        self.bad_values: list[tuple[int, str]] = []  # (line, why): YAML would raise a bare ValueError


class _LineLoader(_Noting, yaml.SafeLoader):
    """SafeLoader whose containers carry line numbers; duplicate keys and impossible dates are noted."""


# The same loader over libyaml's parser, when PyYAML has it: the pure-Python scanner took 4 s for a
# customers.yaml of 10,000 customers, at every start of every command, and libyaml's a fifth of that.
# Its words for a syntax error differ ("not allowed in this context"), so a file it refuses is read
# again by the Python one, whose words the documentation and the tests show.
_LOADERS: tuple[type, ...] = (_LineLoader,)
if getattr(yaml, "__with_libyaml__", False):
    class _FastLineLoader(_Noting, yaml.CSafeLoader):  # type: ignore[misc]
        """``_LineLoader`` over libyaml."""

    _LOADERS = (_FastLineLoader, _LineLoader)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)  # resolves "<<: *anchor" merges
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if isinstance(key, (list, dict)):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark)
        if key in data:
            loader.duplicate_keys.append((line, key))
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = line
    return data


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    data = LineList(loader.construct_object(child, deep=True) for child in node.value)
    data.line = node.start_mark.line + 1
    data.item_lines = [child.start_mark.line + 1 for child in node.value]
    return data


def _construct_timestamp(loader: _LineLoader, node: yaml.ScalarNode) -> object:
    """An unquoted 2026-02-30 is a date to YAML, and a bare ValueError with no line to PyYAML: note it."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        loader.bad_values.append((node.start_mark.line + 1, f'"{node.value}" is not a real date ({exc})'))
        return None


for _loader in _LOADERS:
    _loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
    _loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


@dataclass
class Problems:
    """Every problem found so far, kept in (file order, line) order."""

    files: list[str] = field(default_factory=list)
    found: list[tuple[int, int, str]] = field(default_factory=list)

    def add(self, file: str, line: int | None, message: str) -> None:
        if file not in self.files:
            self.files.append(file)
        where = f"{file}:{line}" if line is not None else file
        self.found.append((self.files.index(file), line or 0, f"{where}: {message}"))

    def lines(self) -> list[str]:
        return [text for _, _, text in sorted(self.found, key=lambda f: (f[0], f[1]))]


@dataclass
class Where:
    """A place to report problems from: one file, and what part of it (``rule "x": ``)."""

    file: str
    problems: Problems
    prefix: str = ""

    def error(self, line: int | None, message: str) -> None:
        self.problems.add(self.file, line, self.prefix + message)

    def inside(self, prefix: str) -> Where:
        return Where(self.file, self.problems, prefix)


def read_yaml(path: Path, where: Where) -> object | None:
    """The file's data, or None after reporting why it cannot be read."""
    if not path.is_file():
        where.error(None, "file not found (a rules directory needs customers.yaml, "
                          "staff.yaml and routing.yaml)")
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        where.error(None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    except OSError as exc:
        where.error(None, f"cannot read: {exc.strerror or exc}")
        return None
    try:
        data, loader = _parse(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "cannot parse"
        if exc.context and exc.problem:
            at = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            what += f" ({exc.context}{at})"
        where.error(mark.line + 1 if mark else None, f"YAML syntax error: {what}")
        return None
    except yaml.YAMLError as exc:
        where.error(None, f"YAML syntax error: {exc}")
        return None
    for line, key in loader.duplicate_keys:
        where.error(line, f'duplicate key "{key}" (YAML keeps only the last one)')
    for line, why in loader.bad_values:
        where.error(line, why)
    if loader.bad_values:
        return None
    if data is None:
        where.error(1, "the file is empty")
    return data


def _parse(text: str) -> tuple[object, _Noting]:
    """The document and the loader that read it (with its notes); the last loader's error if all refuse."""
    for index, kind in enumerate(_LOADERS):
        loader = kind(text)
        try:
            return loader.get_single_data(), loader
        except yaml.YAMLError:
            if index == len(_LOADERS) - 1:
                raise
        finally:
            loader.dispose()
    raise AssertionError("no YAML loader")  # _LOADERS is never empty


def read_mapping(path: Path, where: Where) -> LineDict | None:
    """The file's top-level mapping, or None after reporting why there is none (every rules file is one)."""
    data = read_yaml(path, where)
    return expect_mapping(where, data, 1, "the file") if data is not None else None


# --- typed access to mapping values ------------------------------------------

def kind(value: object) -> str:
    """How an admin would name the YAML type they wrote."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def expect_mapping(where: Where, value: object, line: int | None, what: str) -> LineDict | None:
    if isinstance(value, LineDict):
        return value
    where.error(line, f"{what} must be a mapping (key: value lines), got {kind(value)}")
    return None


def expect_list(where: Where, value: object, line: int | None, what: str) -> LineList | None:
    if isinstance(value, LineList):
        return value
    where.error(line, f"{what} must be a list (lines starting with '- '), got {kind(value)}")
    return None


def check_keys(where: Where, data: LineDict, allowed: Sequence[str],
               required: Sequence[str] = ()) -> bool:
    """Report unknown and missing keys; True when there are neither."""
    unknown = [key for key in data if key not in allowed]
    for key in unknown:
        where.error(data.key_line(key),
                    f'unknown key "{key}" (expected one of {", ".join(allowed)})')
    missing = [key for key in required if data.get(key) is None]
    for key in missing:
        where.error(data.line, f'missing "{key}"')
    return not missing and not unknown


def get_text(where: Where, data: LineDict, key: str) -> str | None:
    """A non-empty text, or None (reported when present but wrong)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    where.error(data.key_line(key), f'"{key}" must be a non-empty text, got {kind(value)}')
    return None


def get_choice(where: Where, data: LineDict, key: str, choices: Sequence[str]) -> str | None:
    value = get_text(where, data, key)
    if value is None or value in choices:
        return value
    where.error(data.key_line(key),
                f'unknown {key} "{value}" (expected one of {", ".join(choices)})')
    return None


def get_texts(where: Where, data: LineDict, key: str) -> list[tuple[str, int]]:
    """A list of texts (a single text counts as a list of one), each with its line."""
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [(value.strip(), data.key_line(key))] if value.strip() else []
    if not isinstance(value, LineList):
        where.error(data.key_line(key), f'"{key}" must be a list of texts, got {kind(value)}')
        return []
    items = []
    for index, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            items.append((item.strip(), value.item_line(index)))
        else:
            where.error(value.item_line(index),
                        f'"{key}" must be a list of texts; item {index + 1} is {kind(item)}')
    return items


def get_bool(where: Where, data: LineDict, key: str) -> bool:
    value = data.get(key, False)
    if isinstance(value, bool):
        return value
    where.error(data.key_line(key), f'"{key}" must be true or false, got {kind(value)}')
    return False
