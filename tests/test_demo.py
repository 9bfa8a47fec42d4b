"""The README's run command: the demo on its embedded stack prints a completed analysis and a deleted duplicate."""

from __future__ import annotations

import subprocess
import sys

from devstack.processes import ROOT


def test_demo_prints_completed_results() -> None:
    done = subprocess.run([sys.executable, "-m", "devstack.demo", "--once"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"status": "SUCCESS"') == 2
    assert '"status": "duplicate_file_deleted"' in done.stdout and '"waveform_data_path": "waveforms/' in done.stdout
    assert "/namespaces/default/workflows/stem-demo-" in done.stdout
