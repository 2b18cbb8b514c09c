"""Embedded development stack: a Kafka-protocol broker (Tansu, memory storage) and PostgreSQL 18.

Both come from PyPI wheels, so a fresh machine needs no Docker and no server installed by hand.
Used by the local launcher (``make run``) and by the test fixtures.
"""
