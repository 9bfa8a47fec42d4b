"""Temporal workflows: they only decide; activities do the I/O."""
