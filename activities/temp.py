"""Temp-area activities that must run on the host whose disk holds the files."""

from __future__ import annotations

from temporalio import activity

from waveflow.tempfiles import TempArea


class TempActivities:
    def __init__(self, temp_area: TempArea) -> None:
        self._temp = temp_area

    @activity.defn(name="remove_stem_files")
    def remove_stem_files(self, stem_id: str) -> list[str]:
        removed = self._temp.remove_stem_files(stem_id)
        if removed:
            activity.logger.info("removed temp files %s", removed)
        return removed
