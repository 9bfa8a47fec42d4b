"""The page `make run` ends with: the stem it just processed drawn from its waveform JSON by waveform-data.js,
a link to its workflow in the Temporal UI and the completion webhook the server received.

Written as a file beside a copy of waveform-data.js (installed by npm from devstack/web), so it opens from disk.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

from devstack.node_packages import installed_copy

WEB_PACKAGE = Path(__file__).parent / "web"
LIBRARY = Path("node_modules/waveform-data/dist/waveform-data.min.js")
CANVAS_WIDTH = 1000
CANVAS_HEIGHT = 200

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>WaveFlow · stem {stem_id}</title>
<style>
  body {{ margin: 0; font-family: system-ui, sans-serif; color: #222; }}
  canvas {{ display: block; }}
  main {{ padding: 16px; }}
  pre {{ background: #f4f4f4; padding: 12px; overflow: auto; }}
</style>
</head>
<body>
<canvas id="waveform" width="{width}" height="{height}"></canvas>
<main>
<h1>Stem {stem_id}</h1>
<p><a id="temporal-ui" href="{ui_link}">stem-{stem_id} in the Temporal UI</a> ·
waveform <code>{waveform_path}</code></p>
<h2>Completion webhook</h2>
<pre id="completion">{completion}</pre>
</main>
<script src="waveform-data.min.js"></script>
<script>
  // Each column is the min..max of the waveform over its span, drawn as audiowaveform's 8-bit levels (±128).
  const waveform = WaveformData.create({waveform_json});
  const canvas = document.getElementById("waveform");
  // resample({{width}}) may round to a few columns more than the canvas holds; a scale rounded up never does.
  const scale = Math.ceil((waveform.length * waveform.scale) / canvas.width);
  const view = waveform.length > canvas.width ? waveform.resample({{ scale }}) : waveform;
  const channel = view.channel(0);
  const context = canvas.getContext("2d");
  const middle = canvas.height / 2;
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = "#000";
  for (let x = 0; x < view.length; x++) {{
    const top = Math.round(middle - (channel.max_sample(x) / 128) * middle);
    const bottom = Math.round(middle - (channel.min_sample(x) / 128) * middle);
    context.fillRect(x, top, 1, Math.max(bottom - top, 1));
  }}
  canvas.dataset.columns = String(view.length);
</script>
</body>
</html>
"""


def write_page(directory: Path, stem_id: str, waveform: dict[str, Any], waveform_path: str,
               completion: dict[str, Any], ui_link: str) -> Path:
    """Writes `<directory>/stem-<id>.html`, the waveform JSON and waveform-data.js beside it; raises
    ToolUnavailableError without npm (the page cannot draw without its library)."""
    library = installed_copy(WEB_PACKAGE, "demo-page") / LIBRARY
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(library, directory / LIBRARY.name)
    (directory / f"stem-{stem_id}.waveform.json").write_text(json.dumps(waveform), encoding="utf-8")
    page = directory / f"stem-{stem_id}.html"
    page.write_text(PAGE.format(
        stem_id=html.escape(stem_id), width=CANVAS_WIDTH, height=CANVAS_HEIGHT, ui_link=html.escape(ui_link),
        waveform_path=html.escape(waveform_path), completion=html.escape(json.dumps(completion, indent=2)),
        waveform_json=json.dumps(waveform).replace("</", "<\\/")), encoding="utf-8")
    return page
