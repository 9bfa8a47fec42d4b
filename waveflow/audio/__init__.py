"""Streaming audio analysis: format detection, block decoding and waveform reduction in one pass."""
