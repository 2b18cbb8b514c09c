"""The topics desired-state file (deploy/topics.yaml) and the pure difference with a cluster.

``plan`` compares; it never decides to delete a topic, remove partitions, or raise the partition
count of a compacted topic (its keys would move partitions, and a reader of the whole topic could
then apply an older value after a newer one). Configuration and replication drift is reported, not
changed: altering a live topic's retention or replicas is an operator's decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.topics import Topics

CONFIG_KEYS = ("cleanup.policy", "retention.ms", "min.insync.replicas", "max.message.bytes")


class TopicSpec(BaseModel):
    """One topic's desired state (keys as Kafka spells them)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1)
    partitions: int = Field(ge=1, le=10_000)
    replication_factor: int = Field(ge=1, le=32)
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = Field(alias="cleanup.policy")
    retention_ms: int = Field(alias="retention.ms", ge=-1)
    min_insync_replicas: int = Field(alias="min.insync.replicas", ge=1)
    max_message_bytes: int = Field(alias="max.message.bytes", ge=1024)

    @model_validator(mode="after")
    def _replicas(self) -> TopicSpec:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError("min.insync.replicas cannot exceed replication_factor")
        return self

    @property
    def compacted(self) -> bool:
        return "compact" in self.cleanup_policy

    def configs(self) -> dict[str, str]:
        """The topic configs as the broker reports them (strings)."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "min.insync.replicas": str(self.min_insync_replicas),
            "max.message.bytes": str(self.max_message_bytes),
        }


class TopicsFile(BaseModel):
    """deploy/topics.yaml: every topic of contracts.topics, under its default name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topics: list[TopicSpec]

    @model_validator(mode="after")
    def _complete(self) -> TopicsFile:
        names = [t.name for t in self.topics]
        expected = Topics().all_topics()
        dupes = sorted({n for n in names if names.count(n) > 1})
        missing = [n for n in expected if n not in names]
        unknown = [n for n in names if n not in expected]
        if dupes or missing or unknown:
            parts = [
                f"{label}: {', '.join(found)}"
                for label, found in (("listed twice", dupes), ("missing", missing), ("unknown", unknown))
                if found
            ]
            raise ValueError("topics do not match contracts.topics (" + "; ".join(parts) + ")")
        return self

    def for_cluster(self, topics: Topics, replication_factor: int | None = None) -> list[TopicSpec]:
        """The specs under the names the services use (prefix, overrides), replication optionally capped."""
        actual = dict(zip(Topics().all_topics(), topics.all_topics(), strict=True))
        out = []
        for spec in self.topics:
            update: dict[str, object] = {"name": actual[spec.name]}
            if replication_factor is not None:
                update["replication_factor"] = replication_factor
                update["min_insync_replicas"] = min(spec.min_insync_replicas, replication_factor)
            out.append(spec.model_copy(update=update))
        return out


class TopicsFileError(ValueError):
    """The desired-state file cannot be used; the message names the file and the problem."""


def load_topics_file(path: Path) -> TopicsFile:
    """Read and validate the YAML file (TopicsFileError with one line per problem)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TopicsFileError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        raise TopicsFileError(f"{path}: not valid YAML ({exc})") from None
    try:
        return TopicsFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()]
        raise TopicsFileError("\n".join(lines)) from None


@dataclass(frozen=True)
class ClusterTopic:
    """What the cluster has for one topic."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


class Action(StrEnum):
    CREATE = "create"
    RAISE_PARTITIONS = "raise"
    KEEP = "keep"  # differs, but apply will not change it (reason given)
    DRIFT = "drift"  # a config differs; reported only


@dataclass(frozen=True)
class Change:
    """One line of a plan."""

    action: Action
    spec: TopicSpec
    detail: str

    @property
    def applies(self) -> bool:
        """True for what ``apply`` does (create, raise partitions)."""
        return self.action in (Action.CREATE, Action.RAISE_PARTITIONS)

    def line(self) -> str:
        return f"{self.action.value:<7} {self.spec.name}  {self.detail}"


def plan(desired: list[TopicSpec], cluster: dict[str, ClusterTopic]) -> list[Change]:
    """Every difference between the desired topics and the cluster (topics only on the cluster are ignored)."""
    changes: list[Change] = []
    for spec in desired:
        have = cluster.get(spec.name)
        if have is None:
            configs = " ".join(f"{k}={v}" for k, v in spec.configs().items())
            detail = f"partitions={spec.partitions} replication_factor={spec.replication_factor} {configs}"
            changes.append(Change(Action.CREATE, spec, detail))
            continue
        changes.extend(_partition_change(spec, have))
        if have.replication_factor != spec.replication_factor:
            changes.append(
                Change(
                    Action.KEEP,
                    spec,
                    f"replication_factor is {have.replication_factor}, the file says "
                    f"{spec.replication_factor} (not changed: reassign partitions with your Kafka tools)",
                )
            )
        for key, want in spec.configs().items():
            got = have.configs.get(key)
            if got is not None and got != want:
                changes.append(
                    Change(Action.DRIFT, spec, f"{key} is {got}, the file says {want} (not changed)")
                )
    return changes


def _partition_change(spec: TopicSpec, have: ClusterTopic) -> list[Change]:
    if have.partitions == spec.partitions:
        return []
    if have.partitions > spec.partitions:
        reason = f"has {have.partitions} partitions, the file says {spec.partitions} (partitions are never removed)"
        return [Change(Action.KEEP, spec, reason)]
    if spec.compacted:
        reason = (
            f"has {have.partitions} partitions, the file says {spec.partitions} (not raised: a compacted "
            "topic's keys would move partitions)"
        )
        return [Change(Action.KEEP, spec, reason)]
    return [Change(Action.RAISE_PARTITIONS, spec, f"partitions {have.partitions} -> {spec.partitions}")]
