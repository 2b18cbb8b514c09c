"""A second worker joining the group: the first gives up the queued jobs of partitions it loses."""

from __future__ import annotations

from collections import Counter

import pytest
from dw_helpers import Bus, delayed, ids_on_each_partition, make_config, make_job, receiver, wait_for

from webhook_core.secrets_crypto import SecretBox

pytestmark = pytest.mark.integration


async def test_queued_jobs_of_revoked_partitions_move_to_the_new_owner(
    bus: Bus, box: SecretBox, start_worker
) -> None:
    async with receiver({"/a": delayed(0.3), "/b": delayed(0.3)}) as rec:
        configs = [
            make_config(box, rec.url(path), webhook_id=wid, max_in_flight=2)
            for path, wid in zip(("/a", "/b"), ids_on_each_partition(), strict=True)
        ]
        for cfg in configs:
            await bus.config(cfg)
        first = await start_worker()
        jobs = [make_job(configs[i % 2], i) for i in range(80)]
        for job in jobs:
            await bus.job(job)
        # The first worker fetched everything; 2 jobs per webhook run at a time, 0.3 s each (~6 s).
        await wait_for(lambda: len(rec.hits) >= 4, what="the first worker busy")
        second = await start_worker()  # same group: a rebalance hands one partition over
        await wait_for(
            lambda: {h.headers["webhook-id"] for h in rec.hits} >= {j.delivery_id for j in jobs},
            timeout_s=30,
            what="every job delivered",
        )
        sends = Counter(h.headers["webhook-id"] for h in rec.hits)
        # The handed-over backlog goes out once: the running jobs were finished and committed before the
        # hand-over, the queued ones dropped. A first worker that kept its queued jobs would run them
        # all inside the revocation (holding the whole group up to 10 s) and leave the second idle.
        assert sum(n - 1 for n in sends.values()) <= 8
        assert second.metrics.attempts.labels(configs[0].integration_id, "succeeded", "none")._value.get() > 0
        # Nothing left counted in the first worker's window (dropped jobs were released, the rest acked).
        jobs_of_first = first.jobs
        assert jobs_of_first is not None
        await wait_for(
            lambda: jobs_of_first.pending == 0, timeout_s=5, what="the first worker's window empty"
        )
