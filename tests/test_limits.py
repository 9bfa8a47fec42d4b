"""Hostile uploads meet named limits before the long work: length, mix input, chunk count."""

from __future__ import annotations

import io
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from temporalio.client import Client

from tests.audio_samples import encode, sine
from tests.conftest import COMPLETION, Stack, hash_request, services_running, webhooks
from tests.test_mixing import MIXING_COMPLETE, mix_message
from waveflow.audio.analysis import LengthLimit, analyse_file, clock
from waveflow.audio.formats import MAX_CHUNKS
from waveflow.audio.mix import ChannelMode, MixOptions, MixStemError, OutputFormat, mix_files
from waveflow.errors import AudioTooLongError, DamagedAudioError, ErrorCode, MixTooLongError

FLAC_TOTAL_SAMPLES = 8 + 13
"""Where STREAMINFO's 36-bit total sample count starts: after `fLaC`, the block header and 13 bytes of fields."""


def flac_declaring(samples: np.ndarray, total_frames: int) -> bytes:
    """A FLAC whose STREAMINFO says `total_frames` (0: unknown, as a streaming encoder writes)."""
    data = bytearray(encode(samples, format="FLAC"))
    data[FLAC_TOTAL_SAMPLES] = (data[FLAC_TOTAL_SAMPLES] & 0xF0) | (total_frames >> 32)
    data[FLAC_TOTAL_SAMPLES + 1:FLAC_TOTAL_SAMPLES + 5] = (total_frames & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(data)


def wav_behind_junk(chunks: int) -> bytes:
    """A valid WAV with `chunks` empty JUNK chunks between its format and its audio."""
    wav = encode(sine(1.0))
    junk = b"JUNK\x00\x00\x00\x00" * chunks
    body = wav[12:36] + junk + wav[36:]
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def analyse(path: Path, limit: LengthLimit | None = None) -> tuple[float, list[int]]:
    """(seconds of audio, the frame counts progress reported)."""
    reported: list[int] = []
    analysis = analyse_file(path, num_peaks=100, detail_samples_per_pixel=256, detail_output=io.BytesIO(),
                            progress=lambda frames, _: reported.append(frames), limit=limit)
    return analysis.duration, reported


def test_clock_reads_as_hours_minutes_seconds() -> None:
    assert clock(86400) == "24:00:00.0" and clock(3723.46) == "1:02:03.5" and clock(0.04) == "0:00:00.0"


def test_a_flac_declaring_a_day_is_refused_before_a_frame_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "day.flac"
    path.write_bytes(flac_declaring(sine(1.0), 24 * 3600 * 44100))
    started = time.monotonic()
    with pytest.raises(AudioTooLongError) as refused:
        analyse(path, LengthLimit(3 * 3600))
    assert time.monotonic() - started < 1.0
    assert refused.value.message == ("audio too long: its header declares 24:00:00.0, 21:00:00.0 over the "
                                     "3:00:00.0 limit (MAX_AUDIO_SECONDS)")
    assert refused.value.code == ErrorCode.AUDIO_TOO_LONG


@pytest.mark.parametrize("segments", [1, 2])
def test_a_wav_over_the_limit_is_refused_at_open_in_one_pass_and_in_segments(tmp_path: Path, segments: int) -> None:
    path = tmp_path / "long.wav"
    path.write_bytes(encode(sine(3.0)))
    reported: list[int] = []
    with pytest.raises(AudioTooLongError, match=r"declares 0:00:03.0, 0:00:01.0 over the 0:00:02.0 limit"):
        analyse_file(path, num_peaks=100, detail_samples_per_pixel=256, detail_output=io.BytesIO(),
                     progress=lambda frames, _: reported.append(frames), segments=segments, limit=LengthLimit(2.0))
    assert reported == []


def test_a_stream_that_does_not_declare_its_length_stops_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "streamed.flac"
    path.write_bytes(flac_declaring(sine(5.0), 0))
    with pytest.raises(AudioTooLongError, match=r"decodes past the 0:00:01.0 limit .* does not declare its length"):
        analyse(path, LengthLimit(1.0))


def test_a_wav_behind_too_many_chunks_is_refused_before_the_decoder_opens_it(tmp_path: Path) -> None:
    few, many = tmp_path / "few.wav", tmp_path / "many.wav"
    few.write_bytes(wav_behind_junk(100))
    many.write_bytes(wav_behind_junk(MAX_CHUNKS + 1))
    assert analyse(few)[0] == 1.0
    started = time.monotonic()
    with pytest.raises(DamagedAudioError, match=f"more than {MAX_CHUNKS} chunks"):
        analyse(many)
    assert time.monotonic() - started < 1.0


MIX = MixOptions(sample_rate=None, channel_mode=ChannelMode.STEREO, output_format=OutputFormat.WAV, num_peaks=100,
                 detail_samples_per_pixel=256, max_seconds=2.0, max_input_seconds=5.0)


def mix_of(tmp_path: Path, lengths: list[float]) -> None:
    stems = []
    for index, seconds in enumerate(lengths):
        path = tmp_path / f"stem-{index}.wav"
        path.write_bytes(encode(sine(seconds)))
        stems.append((f"uploads/stem-{index}.wav", path))
    mix_files(stems, MIX, float_temp=tmp_path / "mix.f32", output=tmp_path / "mix.wav", detail_output=io.BytesIO())


def test_a_mix_with_a_stem_over_the_mix_length_fails_naming_the_stem_before_mixing(tmp_path: Path) -> None:
    with pytest.raises(MixStemError) as refused:
        mix_of(tmp_path, [1.0, 3.0])
    assert refused.value.code == ErrorCode.MIX_TOO_LONG
    assert refused.value.message == ("stem uploads/stem-1.wav: audio too long: its header declares 0:00:03.0, "
                                     "0:00:01.0 over the 0:00:02.0 limit (MIX_MAX_SECONDS)")
    assert not (tmp_path / "mix.f32").exists()


def test_a_mix_whose_stems_hold_too_much_audio_together_fails_before_mixing(tmp_path: Path) -> None:
    with pytest.raises(MixTooLongError) as refused:
        mix_of(tmp_path, [2.0, 2.0, 2.0])
    assert refused.value.code == ErrorCode.MIX_TOO_LONG
    assert str(refused.value) == ("mix input too long: the stems declare 0:00:06.0 of audio together, 0:00:01.0 "
                                  "over the 0:00:05.0 limit (MIX_MAX_INPUT_SECONDS)")
    assert not (tmp_path / "mix.f32").exists()


async def test_the_limits_reach_the_server_as_named_failures(stack: Stack, client: Client) -> None:
    settings = stack.settings.model_copy(update={"max_audio_seconds": 2.0, "mix_max_seconds": 2.0})
    stack.put("uploads/long.wav", encode(sine(3.0)))
    stack.put("uploads/short.wav", encode(sine(1.0)))
    async with services_running(client, settings):
        stack.send(hash_request("too-long", "uploads/long.wav"))
        stack.send(mix_message("stage-too-long", ["uploads/short.wav", "uploads/long.wav"]))
        [completion] = await webhooks(stack, COMPLETION)
        [mixed] = await webhooks(stack, MIXING_COMPLETE)
    assert completion.body["status"] == "FAILURE"
    assert completion.body["result"] == {
        "error": "audio too long: its header declares 0:00:03.0, 0:00:01.0 over the 0:00:02.0 limit "
                 "(MAX_AUDIO_SECONDS)", "error_code": "audio_too_long"}
    assert mixed.body["status"] == "FAILURE" and mixed.body["result"]["error_code"] == "mix_too_long"
    assert mixed.body["result"]["error"].startswith("stem uploads/long.wav: audio too long")
    assert stack.object_keys() == ["uploads/long.wav", "uploads/short.wav"]
    assert stack.temp_files() == []
