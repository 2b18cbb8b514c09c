"""The SSRF table through the API: literal addresses and DNS names resolving to blocked addresses."""

from __future__ import annotations

import pytest
from capi_harness import ApiHarness

pytestmark = pytest.mark.integration

BASE = "/admin/integration/surveymonkey/webhooks"

BLOCKED_LITERALS = [
    "https://10.1.2.3/h",  # RFC 1918
    "https://172.16.0.1/h",
    "https://192.168.1.1/h",
    "https://169.254.169.254/latest/meta-data",  # cloud metadata
    "https://100.64.0.1/h",  # CGNAT
    "https://0.0.0.0/h",
    "https://224.0.0.1/h",  # multicast
    "https://240.0.0.1/h",  # reserved
    "https://[::1]/h",
    "https://[::]/h",
    "https://[fe80::1]/h",
    "https://[fc00::1]/h",  # ULA
    "https://[fd12:3456::1]/h",
    "https://[::ffff:10.0.0.1]/h",  # IPv4-mapped
    "https://[::ffff:169.254.169.254]/h",
    "https://[64:ff9b::a00:1]/h",  # NAT64 of 10.0.0.1
    "https://[2002:a00:1::1]/h",  # 6to4 of 10.0.0.1
    "https://[ff02::1]/h",
]

BLOCKED_NAMES = {
    "internal.example.com": ["10.0.0.5"],
    "meta.example.com": ["169.254.169.254"],
    "mixed.example.com": ["93.184.216.34", "192.168.0.10"],  # one bad address is enough
    "v6local.example.com": ["fd00::5"],
    "mapped.example.com": ["::ffff:192.168.1.1"],
    "cgnat.example.com": ["100.100.100.100"],
}


async def test_ssrf_targets_are_rejected_with_the_reason(api: ApiHarness) -> None:
    # loopback is allowed by WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8 in the test settings
    api.dns.names.update(BLOCKED_NAMES)
    api.dns.names["public.example.com"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    api.dns.names["loop.example.com"] = ["127.0.0.1"]
    for url in BLOCKED_LITERALS + [f"https://{name}/h" for name in BLOCKED_NAMES]:
        resp = await api.client.post(BASE, json={"subscription_url": url, "event_types": ["*"]})
        assert resp.status_code == 422, (url, resp.text)
        detail = resp.json()["errors"][0]
        assert detail["loc"] == ["body", "subscription_url"], url
        assert detail["type"] == "ssrf_blocked", (url, detail)
        assert "address" in detail["msg"] or "Teredo" in detail["msg"], detail

    unresolvable = await api.client.post(
        BASE, json={"subscription_url": "https://gone.example.com/", "event_types": ["*"]}
    )
    assert unresolvable.status_code == 422 and unresolvable.json()["errors"][0]["type"] == "dns_error"
    assert "does not resolve" in unresolvable.text

    for url in (
        "https://public.example.com/h",
        "https://93.184.216.34/h",
        "https://loop.example.com/h",
        "http://127.0.0.1:9/h",
    ):
        resp = await api.client.post(BASE, json={"subscription_url": url, "event_types": ["*"]})
        assert resp.status_code == 201, (url, resp.text)
    # changing the URL of an existing webhook to a blocked one is refused too
    wid = resp.json()["id"]
    patch = await api.client.patch(
        f"{BASE}/{wid}", json={"subscription_url": "https://internal.example.com/"}
    )
    assert patch.status_code == 422 and patch.json()["errors"][0]["type"] == "ssrf_blocked"
    assert (await api.client.get(BASE)).json()["total"] == 4
