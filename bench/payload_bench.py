"""Payload encryption benchmark (not a test): CPU per job of KAFKA_PAYLOAD_ENCRYPTION on vs off.

CPU time (``time.process_time``, robust on a shared machine) per job of the code each side runs per
delivery, with the same jobs, in the same run:

- dispatcher: build the job record (``delivery_job_record``: seal + serialise) on vs off;
- worker: parse the record and open the job, plus the result's ``payload_encrypted`` (encrypted by the
  worker when the job came in plaintext, copied from the job when it came encrypted) on vs off.

Bodies of 1 KiB and 16 KiB. Medians of ``--repeats``; ratios on/off go to
``bench/results/payload.json``. The end-to-end throughput both ways is
``bench/worker_bench.py --payload-encryption on|off``.
Usage: ``uv run --no-sync python bench/payload_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from contracts.deliveries import DeliveryJobV1, payload_context
from contracts.records import delivery_job_record
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

RESULTS = Path(__file__).resolve().parent / "results"
NOW = datetime.now(UTC)


def job(i: int, size: int) -> DeliveryJobV1:
    body = json.dumps({"data": {"id": i, "answer": "x" * size}})
    return DeliveryJobV1(
        delivery_id=f"dlv_{i:012d}",
        webhook_id=f"wh_{i % 8}",
        integration_id="surveymonkey",
        event_id=f"evt_{i}",
        event_type="response_completed",
        event_time=NOW,
        dispatched_at=NOW,
        body=body,
    )


def cpu_us_per_job(work: Callable[[DeliveryJobV1 | bytes], object], items: list, repeats: int) -> float:  # type: ignore[type-arg]
    runs = []
    for _ in range(repeats):
        began = time.process_time()
        for item in items:
            work(item)
        runs.append((time.process_time() - began) / len(items) * 1e6)
    return round(statistics.median(runs), 2)


def measure(size: int, count: int, repeats: int) -> dict[str, float]:
    box = SecretBox(os.urandom(32))
    on, off = Payloads(box), Payloads(box, encrypt=False)
    jobs = [job(i, size) for i in range(count)]
    sealed = [delivery_job_record(j, sealer=on).value for j in jobs]
    plain = [delivery_job_record(j, sealer=off).value for j in jobs]

    def worker(payloads: Payloads) -> Callable[[bytes], object]:
        def handle(value: bytes) -> object:
            opened = payloads.open(DeliveryJobV1.model_validate_json(value))
            # the result's payload_encrypted: the job's own ciphertext, else encrypted here
            return opened.body_encrypted or box.encrypt(opened.body_text, payload_context(opened.delivery_id))

        return handle

    out = {
        "dispatcher_off_us": cpu_us_per_job(lambda j: delivery_job_record(j, sealer=off), jobs, repeats),  # type: ignore[arg-type]
        "dispatcher_on_us": cpu_us_per_job(lambda j: delivery_job_record(j, sealer=on), jobs, repeats),  # type: ignore[arg-type]
        "worker_off_us": cpu_us_per_job(worker(off), plain, repeats),  # type: ignore[arg-type]
        "worker_on_us": cpu_us_per_job(worker(on), sealed, repeats),  # type: ignore[arg-type]
    }
    out["dispatcher_on_vs_off"] = round(out["dispatcher_on_us"] / out["dispatcher_off_us"], 3)
    out["worker_on_vs_off"] = round(out["worker_on_us"] / out["worker_off_us"], 3)
    out["record_bytes_on_vs_off"] = round(sum(map(len, sealed)) / sum(map(len, plain)), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    out = {f"body_{size // 1024}KiB": measure(size, args.count, args.repeats) for size in (1024, 16 * 1024)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "payload.json").write_text(json.dumps(out, indent=2) + "\n")
    for name, figures in out.items():
        print(name, json.dumps(figures))


if __name__ == "__main__":
    main()
