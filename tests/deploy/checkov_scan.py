"""Run checkov's Kubernetes checks over rendered manifests; print a JSON summary on stdout.

``python checkov_scan.py CONFIG FILE...``: the skipped checks come from CONFIG (checkov.yaml, the
same file the `checkov --config-file` command line reads). It calls the Kubernetes runner directly:
the `checkov` command loads every framework first, which takes twice as long.
"""

from __future__ import annotations

import json
import sys

import yaml
from checkov.kubernetes.runner import Runner
from checkov.runner_filter import RunnerFilter


def main(config_path: str, files: list[str]) -> None:
    with open(config_path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    runner_filter = RunnerFilter(framework=["kubernetes"], skip_checks=config.get("skip-check", []))
    report = Runner().run(root_folder=None, files=files, runner_filter=runner_filter)
    failed = [f"{c.check_id} {c.check_name}: {c.resource} ({c.file_path})" for c in report.failed_checks]
    summary = {"passed": len(report.passed_checks), "failed": failed, "parsing_errors": report.parsing_errors}
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
