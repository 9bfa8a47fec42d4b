"""WaveFlow's domain code: settings, payload models, message parsing and audio analysis.

Nothing in this package knows about Temporal, so it is tested directly.
"""
