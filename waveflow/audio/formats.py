"""Which audio format a file holds, judged from its bytes, never from its name."""

from __future__ import annotations

import struct
from enum import StrEnum
from pathlib import Path

import filetype

from waveflow.errors import DamagedAudioError, NotAudioError

SNIFF_BYTES = 4096
MAX_CHUNKS = 10_000


class AudioFormat(StrEnum):
    WAV = "WAV"
    RF64 = "RF64"
    W64 = "W64"
    AIFF = "AIFF"
    FLAC = "FLAC"
    OGG_VORBIS = "Ogg Vorbis"
    OGG_OPUS = "Ogg Opus"
    OGG_FLAC = "Ogg FLAC"
    MP3 = "MP3"
    MP4 = "MP4/M4A"
    ADTS_AAC = "AAC"
    MATROSKA = "WebM/Matroska"
    CAF = "CAF"

    @property
    def lossy(self) -> bool:
        return self in _LOSSY

    @property
    def decoded_by_libsndfile(self) -> bool:
        return self not in _FFMPEG_ONLY


_LOSSY = {AudioFormat.OGG_VORBIS, AudioFormat.OGG_OPUS, AudioFormat.MP3, AudioFormat.MP4, AudioFormat.ADTS_AAC,
          AudioFormat.MATROSKA}
_FFMPEG_ONLY = {AudioFormat.MP4, AudioFormat.ADTS_AAC, AudioFormat.MATROSKA}


def detect_format(path: Path) -> AudioFormat:
    with path.open("rb") as file:
        head = file.read(SNIFF_BYTES)
    if not head:
        raise NotAudioError("not an audio file: it is empty (0 bytes)")
    found = _audio_format(head)
    if found is None:
        raise NotAudioError(f"not an audio file: {_describe_other(head)}")
    return found


def _audio_format(head: bytes) -> AudioFormat | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return AudioFormat.WAV
    if head[:4] in (b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return AudioFormat.RF64
    if head[:4] == b"riff" and head[8:12] == b".\x91\xcf\x11":
        return AudioFormat.W64
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return AudioFormat.AIFF
    if head[:4] == b"fLaC":
        return AudioFormat.FLAC
    if head[:4] == b"OggS":
        if b"OpusHead" in head:
            return AudioFormat.OGG_OPUS
        if b"\x01vorbis" in head:
            return AudioFormat.OGG_VORBIS
        if b"\x7fFLAC" in head:
            return AudioFormat.OGG_FLAC
        return None
    if head[4:8] == b"ftyp":
        return AudioFormat.MP4
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return AudioFormat.MATROSKA
    if head[:4] == b"caff":
        return AudioFormat.CAF
    if head[:3] == b"ID3":
        return AudioFormat.MP3
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0b11
        return AudioFormat.ADTS_AAC if layer == 0 else AudioFormat.MP3
    return None


def _describe_other(head: bytes) -> str:
    kind = filetype.guess(head)
    if kind is not None:
        return f"looks like {kind.extension.upper()} ({kind.mime})"
    if head[:4] == b"OggS":
        return "an Ogg container with no audio codec WaveFlow reads"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"unrecognised content (starts with {head[:8].hex(' ')})"
    return "looks like text"


def check_declared_length(path: Path, audio_format: AudioFormat) -> None:
    """Fail when a WAV or AIFF header promises more audio data than the file holds.

    libsndfile opens such files without complaint and quietly reads less.
    """
    if audio_format is AudioFormat.WAV:
        declared = _chunk_size(path, little_endian=True, header=12, wanted=b"data")
    elif audio_format is AudioFormat.AIFF:
        declared = _chunk_size(path, little_endian=False, header=12, wanted=b"SSND")
    else:
        return
    if declared is None:
        raise DamagedAudioError(f"damaged {audio_format.value}: no audio data chunk")
    offset, size = declared
    available = path.stat().st_size - offset
    streaming_placeholder = size in (0, 0xFFFFFFFF)
    if not streaming_placeholder and size > available:
        raise DamagedAudioError(
            f"truncated {audio_format.value}: header promises {size} bytes of audio, the file holds {available}"
        )


def _chunk_size(path: Path, *, little_endian: bool, header: int, wanted: bytes) -> tuple[int, int] | None:
    """(offset of the chunk's data, declared size) of the first chunk named `wanted`.

    Every chunk of the file is walked, as libsndfile walks them when it opens it: a file of more than MAX_CHUNKS is
    refused here, before a decoder spends a second of CPU per million empty chunks on it.
    """
    layout = "<I" if little_endian else ">I"
    file_size = path.stat().st_size
    found = None
    with path.open("rb") as file:
        position = header
        for _ in range(MAX_CHUNKS):
            if position + 8 > file_size:
                return found
            file.seek(position)
            chunk_header = file.read(8)
            name, size = chunk_header[:4], struct.unpack(layout, chunk_header[4:])[0]
            if name == wanted and found is None:
                found = position + 8, size
                if size in (0, 0xFFFFFFFF):  # a streaming placeholder: the audio runs to the end of the file
                    return found
            position += 8 + size + (size & 1)
    raise DamagedAudioError(f"damaged audio: more than {MAX_CHUNKS} chunks (audio files have a few dozen)")
