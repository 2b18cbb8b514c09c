"""The memoised partitioner must place every key exactly where aiokafka's default one does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from service_kit.kafka import key_partitioner, producer_options
from service_kit.kafka_security import embedded_broker_client


@given(key=st.binary(min_size=0, max_size=64), count=st.integers(min_value=1, max_value=64))
def test_same_partition_as_the_default(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert key_partitioner(key, partitions, partitions) == expected
    assert key_partitioner(key, partitions, partitions) == expected  # memoised answer too


def test_no_key_spreads_over_available_partitions() -> None:
    chosen = {key_partitioner(None, [0, 1, 2, 3], [1, 2]) for _ in range(200)}
    assert chosen == {1, 2}


def test_producers_use_it() -> None:
    assert producer_options("127.0.0.1:9092", embedded_broker_client())["partitioner"] is key_partitioner
