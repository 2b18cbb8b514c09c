"""The chaos report: verdicts and a readable table."""

from __future__ import annotations

from typing import Any


def verdicts(report: dict[str, Any]) -> dict[str, bool]:
    """The run's pass/fail checks."""
    agreement = report.get("config_api_agreement", {})
    return {
        "lost == 0": report.get("lost") == 0,
        "invalid signatures == 0": report.get("invalid_signatures") == 0,
        "poison routed == poison sent": report.get("poison_routed_to_invalid") == report.get("poison_sent"),
        "unexpected deliveries == 0": report.get("unexpected_deliveries") == 0,
        "config API logs agree with receiver": bool(agreement.get("agrees")),
    }


def render(report: dict[str, Any]) -> str:
    """A plain-text table of the figures that matter."""
    rows = [
        ("messages published", report.get("published_messages")),
        ("events published (bundle entries count)", report.get("published_events")),
        (
            "poison sent / routed to invalid topic",
            f"{report.get('poison_sent')} / {report.get('poison_routed_to_invalid')}",
        ),
        ("valid messages routed to invalid topic", report.get("invalid_records_not_poison")),
        ("expected deliveries (independent)", report.get("expected_deliveries")),
        ("  delivered (unique, 2xx at receiver)", report.get("delivered")),
        ("  dead-lettered (DLQ topic)", report.get("dead_lettered")),
        ("  cancelled (deleted/deactivated)", report.get("cancelled")),
        ("  failed permanently (410 etc.)", report.get("failed_permanently")),
        ("  LOST", report.get("lost")),
        (
            "ambiguous pairs (edit/delete windows)",
            f"{report.get('ambiguous_pairs')} {report.get('ambiguous_outcomes')}",
        ),
        ("unexpected deliveries", report.get("unexpected_deliveries")),
        ("duplicates (same webhook-id, 2xx again)", report.get("duplicates")),
        (
            "requests received / by status",
            f"{report.get('requests_received')} {report.get('requests_by_status')}",
        ),
        ("invalid signatures", report.get("invalid_signatures")),
        ("latency publish->first 2xx (ms)", report.get("latency_first_ok_ms")),
        ("config API agreement", _agreement(report.get("config_api_agreement", {}))),
        ("peak RSS (MB)", report.get("peak_rss_mb")),
        ("duration (s)", report.get("duration_s")),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines.append("")
    lines += [f"[{'PASS' if ok else 'FAIL'}] {name}" for name, ok in verdicts(report).items()]
    if report.get("errors"):
        lines.append("fault actions that failed: " + "; ".join(report["errors"]))
    return "\n".join(lines)


def _agreement(a: dict[str, Any]) -> str:
    if not a:
        return "n/a"
    return (
        f"{'agrees' if a.get('agrees') else 'DISAGREES'}: {a.get('webhooks_checked')} webhooks, "
        f"succeeded: API logs {a.get('api_logs_succeeded_total')} = results topic "
        f"{a.get('results_topic_succeeded_total')}; receiver 2xx {a.get('receiver_unique_ok_total')} "
        f"(of which platform gave up after a timeout/cancel: {a.get('receiver_ok_platform_gave_up_total')})"
    )
