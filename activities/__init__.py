"""Temporal activities: thin adapters from the workflows to S3, the audio engine, webhooks and the disk."""
