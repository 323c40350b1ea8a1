"""The HTML report: one self-contained file that parses, escapes, and really draws its charts.

The last test opens the page in headless Chromium and looks at the picture
(not one flat colour) and the DOM (the three charts are there). Without
Chromium it is skipped, except under CI, where a missing browser is a
failure: an unrendered report is exactly what this test exists to catch.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailflow.report import build_report, render_html
from test_report_figures import SH, hours, october

CHARTS = ("chart-types", "chart-intake", "chart-plan")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SVG_LEAVES = {"rect", "line", "circle", "polyline", "path"}


class StrictParser(HTMLParser):
    """Records every problem html.parser can see: unbalanced tags, stray end tags, SVG without a title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.svgs: list[dict[str, str | None]] = []
        self.titles_in_svg = 0
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "svg":
            self.svgs.append(attributes)
        if tag == "title" and "svg" in self.stack:
            self.titles_in_svg += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID and tag not in SVG_LEAVES:
            self.errors.append(f"self-closed <{tag}/>")

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f"end tag for void <{tag}>")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
        else:
            self.stack.pop()


def parse(page: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert parser.stack == [], parser.stack
    return parser


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(build_report(october(), month="2026-10", tz=SH, elapsed_hours=hours))


def test_the_page_parses_and_has_its_three_charts(page):
    parser = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    for chart in CHARTS:
        assert parser.ids.count(chart) == 1
    assert len(parser.svgs) == 3 and parser.titles_in_svg == 3
    for svg in parser.svgs:
        assert svg["role"] == "img" and svg["aria-label"]
    assert "按类型 / By type" in page and "每周新增 / Weekly intake" in page and "共性需求 / Common needs" in page


def test_the_page_is_self_contained(page):
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "<link" not in page.lower() and "@import" not in page and "url(" not in page
    parser = parse(page)
    assert not [attrs for tag, attrs in parser.tags if attrs.get("src") or attrs.get("href")]


def test_the_charts_show_the_figures(page):
    intake = page.split('id="chart-intake"')[1].split("</svg>")[0]
    assert re.search(r"<polyline points=\"([\d.]+,[\d.]+ ){4}[\d.]+,[\d.]+\"", intake)  # five weeks
    assert intake.count("<circle") == 5
    for label in ("W40", "W44", "09-28"):  # axis labels, a week that starts in September
        assert f">{label}<" in intake
    plan = page.split('id="chart-plan"')[1].split("</svg>")[0]
    assert plan.count("<rect") == 5  # five buckets with requirements, 72-120 is empty
    for label in ("0-8", "72-120", "&gt;120"):
        assert f">{label}<" in plan
    types = page.split('id="chart-types"')[1].split("</svg>")[0]
    assert types.count("<rect") == 4 and "问题修复 / bug" in types  # "other" has no bar


def test_client_text_is_escaped():
    items = october()
    items[0] = replace(items[0], customer='<script>alert("x")</script>', subject="<b>手机</b> & APP")
    items[5] = replace(items[5], subject='"><img src=x onerror=alert(1)> 手机 app')
    page = render_html(build_report(items, month="2026-10", tz=SH, elapsed_hours=hours))
    parse(page)
    assert "<script" not in page and "<b>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page


def test_an_empty_month_still_draws_axes_with_a_note():
    page = render_html(build_report([], month="2026-10", tz=SH, elapsed_hours=hours))
    parse(page)
    for chart in CHARTS:
        svg = page.split(f'id="{chart}"')[1].split("</svg>")[0]
        assert "无数据 / no data" in svg
        assert "<line" in svg  # the axes
    assert "<polyline" not in page


# --- the page in a real browser -----------------------------------------------------------

def _chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _png_pixels_vary(data: bytes) -> tuple[int, int, bool]:
    """(width, height, whether the decoded image holds more than one colour)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunk = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    assert header is not None, "no IHDR"
    width, height, depth, colour = header[:4]
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    raw = zlib.decompress(idat)
    stride = width * channels * depth // 8 + 1
    # Filter bytes aside, a flat image has at most a handful of distinct byte values per row.
    distinct = set()
    for row in range(0, height, max(1, height // 200)):
        distinct.update(raw[row * stride + 1:(row + 1) * stride])
        if len(distinct) > 16:
            break
    return width, height, len(distinct) > 16


def test_chromium_renders_the_page(page, tmp_path: Path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs chromium: apt-get install chromium")
        pytest.skip("chromium not installed")
    html_file = tmp_path / "report.html"
    html_file.write_text(page, encoding="utf-8")
    shot = tmp_path / "report.png"
    env = dict(os.environ, HOME=str(tmp_path))
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400"]
    subprocess.run([*common, f"--screenshot={shot}", html_file.as_uri()], env=env, timeout=60,
                   capture_output=True, check=False)
    print(f"screenshot: {shot}")
    assert shot.is_file(), "chromium wrote no screenshot"
    data = shot.read_bytes()
    assert len(data) > 20_000
    width, height, varied = _png_pixels_vary(data)
    assert (width, height) == (1200, 2400) and varied
    dom = subprocess.run([*common, "--dump-dom", html_file.as_uri()], env=env, timeout=60,
                         capture_output=True, text=True, check=False).stdout
    for chart in CHARTS:
        assert f'id="{chart}"' in dom
    assert dom.count("<svg") == 3
