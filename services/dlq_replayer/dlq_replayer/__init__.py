"""Inspects and replays the dead-letter topic: an HTTP service and the ``dlq`` CLI on one core."""
