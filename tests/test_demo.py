"""The README's run command: the demo on its embedded stack prints a completed analysis and a deleted duplicate,
and ends with a page that draws the analysed stem from its waveform JSON (rendered in headless Chromium)."""

from __future__ import annotations

import contextlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devstack.node_packages import ToolUnavailableError, ensure_npm, run
from devstack.processes import ROOT
from devstack.waveform_page import CANVAS_HEIGHT, CANVAS_WIDTH
from tests.installed_tools import chromium

pytestmark = pytest.mark.xdist_group("demo")  # its tests share the demo's one run


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    with contextlib.suppress(ToolUnavailableError):  # the page test says why it cannot check the page
        ensure_npm(install=True)
    done = subprocess.run([sys.executable, "-m", "devstack.demo", "--once"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_demo_prints_completed_results(demo: subprocess.CompletedProcess[str]) -> None:
    assert demo.stdout.count('"status": "SUCCESS"') == 2
    assert '"status": "duplicate_file_deleted"' in demo.stdout and '"waveform_data_path": "waveforms/' in demo.stdout
    assert "/namespaces/default/workflows/stem-demo-" in demo.stdout


def drawn_columns(screenshot: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per canvas column, the first and last dark row (-1 where nothing is drawn)."""
    pixels = np.asarray(Image.open(screenshot).convert("L"))[:CANVAS_HEIGHT, :CANVAS_WIDTH]
    dark = pixels < 128
    drawn = dark.any(axis=0)
    top = np.where(drawn, dark.argmax(axis=0), -1)
    bottom = np.where(drawn, CANVAS_HEIGHT - 1 - dark[::-1].argmax(axis=0), -1)
    return top, bottom


def row_of(level: np.ndarray) -> np.ndarray:
    """Where the page draws an 8-bit level (-128..127) on the canvas."""
    middle = CANVAS_HEIGHT / 2
    return np.round(middle - level / 128 * middle)


def test_the_page_draws_the_stem_from_its_waveform(demo: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    [line] = [line for line in demo.stdout.splitlines() if line.startswith("waveform page: ")]
    if "not drawn:" in line:
        pytest.skip(line)
    page = Path(line.removeprefix("waveform page: file://"))
    waveform = json.loads(page.with_suffix(".waveform.json").read_text())
    browser = chromium()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
             f"--window-size={CANVAS_WIDTH},{CANVAS_HEIGHT + 500}"]
    dom = run([browser, *flags, "--dump-dom", page.as_uri()], tmp_path, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = run([browser, *flags, f"--screenshot={tmp_path / 'page.png'}", page.as_uri()], tmp_path, timeout=120)
    assert shot.returncode == 0, shot.stderr[-2000:]

    assert re.search(r'href="http://[^"]+/namespaces/default/workflows/stem-demo-\d+"', dom.stdout)
    assert '"status": "SUCCESS"' in dom.stdout  # the completion webhook is shown
    # The page fits the waveform to the canvas: a column covers `scale` audio frames, `scale` rounded up.
    pixels, samples_per_pixel = waveform["length"], waveform["samples_per_pixel"]
    scale = math.ceil(pixels * samples_per_pixel / CANVAS_WIDTH)
    columns = int(re.search(r'data-columns="(\d+)"', dom.stdout).group(1))
    assert columns == math.ceil(pixels * samples_per_pixel / scale) and 0.9 * CANVAS_WIDTH <= columns <= CANVAS_WIDTH
    top, bottom = drawn_columns(tmp_path / "page.png")
    assert (top[:columns] >= 0).all(), "a column of the waveform is not drawn"
    assert (top[columns:] < 0).all()

    # Each drawn column spans the min..max of the waveform's pixels under it: at least those wholly inside its
    # span, at most those touching it (waveform-data's resampling decides the exact edges).
    levels = np.asarray(waveform["data"]).reshape(-1, 2)
    assert len(levels) == pixels
    lows, highs = levels[:, 0], levels[:, 1]
    for x in range(columns):
        start, end = x * scale / samples_per_pixel, (x + 1) * scale / samples_per_pixel
        inner = slice(int(np.ceil(start)), max(int(np.floor(end)), int(np.ceil(start)) + 1))
        outer = slice(max(int(np.floor(start)) - 1, 0), min(int(np.ceil(end)) + 1, pixels))
        assert row_of(highs[outer].max()) - 1 <= top[x] <= row_of(highs[inner].max()) + 1, x
        assert row_of(lows[inner].min()) - 2 <= bottom[x] <= row_of(lows[outer].min()) + 1, x
    # The sample fades out: the drawing is tall at the start and short at the end.
    assert (bottom - top)[:50].mean() > 3 * (bottom - top)[columns - 50:columns].mean()
