"""Token discovery and error messages shared by the ``dlq`` and ``carehooks`` CLIs (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service_kit.admin_client import dev_token_file, error_message, resolve_token


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # RFC 9457 problem details
        (
            {"type": "about:blank", "title": "Unprocessable", "status": 422, "detail": "bad input",
             "errors": [{"loc": ["body", "since"], "msg": "must be earlier than until"}]},
            "bad input; body.since: must be earlier than until",
        ),
        ({"title": "Not Found", "status": 404}, "Not Found"),
        ({"title": "Bad", "status": 422, "errors": [{"pointer": "#/since", "detail": "invalid"}]}, "#/since: invalid"),
        # the config API's shape today, and FastAPI's plain one
        ({"detail": [{"loc": ["query", "cursor"], "msg": "cursor is not valid", "type": "value_error"}]},
         "query.cursor: cursor is not valid"),
        ({"detail": "Kafka is unreachable"}, "Kafka is unreachable"),
        # the DLQ replayer's shape
        ({"error": "no replay 'x'"}, "no replay 'x'"),
    ],
)  # fmt: skip
def test_error_message_reads_every_shape(body: dict[str, object], message: str) -> None:
    assert error_message(422, json.dumps(body).encode()) == message


def test_error_message_of_non_json() -> None:
    assert error_message(502, b"<html>Bad gateway</html>") == "<html>Bad gateway</html>"
    assert error_message(500, b"") == "HTTP 500"


def test_token_order_and_dev_token_discovery(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".run").mkdir(parents=True)
    (repo / ".run" / "admin_token").write_text("dev-token\n")
    deep = repo / "services" / "x"
    deep.mkdir(parents=True)
    assert dev_token_file({}, deep) == repo / ".run" / "admin_token"
    assert resolve_token(None, {}, deep) == "dev-token"
    assert resolve_token("given", {}, deep) == "given"
    other = tmp_path / "elsewhere"
    (other / "admin_token").parent.mkdir()
    (other / "admin_token").write_text("run-dir-token")
    assert resolve_token(None, {"CAREHOOKS_RUN_DIR": str(other)}, deep) == "run-dir-token"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert resolve_token(None, {"CAREHOOKS_RUN_DIR": str(empty), "ADMIN_TOKEN": "env"}, deep) == "env"
    assert resolve_token(None, {"CAREHOOKS_RUN_DIR": str(empty)}, deep) is None
