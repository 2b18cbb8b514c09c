"""The delivery worker: signed webhook POSTs with non-blocking retries (see docs/delivery-worker.md)."""
