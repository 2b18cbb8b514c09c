"""The admin page (services/config_api/config_api/ui) in headless Chromium.

- test_vendored_builds_match_versions: the committed Vue/Pinia files are the ones `make ui` wrote.
- test_page_logic_in_browser: the URL preview gives the server's sanitised form, API errors land
  on the right field, and the Pinia store has exactly the documented state names.
- test_admin_flow: against the real config API (+ dispatcher and delivery worker as processes),
  log in, create/validate/test/edit/deactivate/delete a webhook, see a real delivery in logs and
  status, and check that a viewer token gets no edit controls. It also refreshes docs/screenshots/.
"""

from __future__ import annotations

import hashlib

import pytest
from playwright.async_api import async_playwright
from ui_conftest import UI_DIR, launch_chromium, new_page, static_ui

from webhook_core.urls import sanitize_url

URL_CASES = [
    "https://example.com/hook",
    "  HTTPS://Example.COM/Hook?Q=1 ",
    "https://exa\tmple.com/a b\n/c\r\n",
    "HTTP://127.0.0.1:8080/\tX",
    "https://user:PW@HOST.example/p",
    "https://[2001:DB8::1]:8443/x",
    "https://bücher.example/Ü",
    "https://host.example/x?",
    "https://host.example/x#Frag",
    "https://\u200bzero\u200dwidth.example\ufeff/",
    "https://a.example/\x1c\x85sep",
    "not a url",
    "mailto:Someone@Example.com",
    "",
]


def test_vendored_builds_match_versions() -> None:
    """Every vendored file is listed in vendor/VERSIONS with its sha256, and nothing else is there."""
    vendor = UI_DIR / "vendor"
    listed: dict[str, str] = {}
    for line in (vendor / "VERSIONS").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        _package, _version, path, digest = line.split()
        listed[path] = digest
    present = {str(p.relative_to(vendor)) for p in vendor.rglob("*") if p.is_file() and p.name != "VERSIONS"}
    assert present == set(listed), "vendor/ differs from vendor/VERSIONS: run `make ui`"
    for path, digest in listed.items():
        assert hashlib.sha256((vendor / path).read_bytes()).hexdigest() == digest, (
            f"{path} was edited: run `make ui`"
        )
    assert {"vue/LICENSE", "pinia/LICENSE", "vue-demi/LICENSE"} <= present


@pytest.mark.browser
async def test_page_logic_in_browser() -> None:
    async with static_ui() as url, async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            page, errors = await new_page(browser)
            await page.goto(url)
            await page.get_by_label("API token").wait_for()

            js_results = await page.evaluate(
                "async (cases) => { const m = await import('./js/url.js'); return cases.map((c) => m.sanitizeUrl(c)); }",
                URL_CASES,
            )
            for raw, got in zip(URL_CASES, js_results, strict=True):
                assert got == sanitize_url(raw), (
                    f"preview of {raw!r}: {got!r} != server {sanitize_url(raw)!r}"
                )

            parsed = await page.evaluate(
                """async () => {
                    const { parseErrorBody } = await import('./js/api.js');
                    return [
                      parseErrorBody(422, {detail: [{loc: ['body', 'subscription_url'], msg: 'resolves to 10.0.0.1, a private address', type: 'value_error'}]}),
                      parseErrorBody(422, {detail: [{loc: ['body', 'retry_policy', 'max_attempts'], msg: 'Input should be less than or equal to 25'}, {loc: ['body', 'event_types', 0], msg: 'unknown event type'}]}),
                      parseErrorBody(401, {detail: [{loc: ['header', 'Authorization'], msg: 'unknown or revoked token'}]}),
                      parseErrorBody(500, 'Internal Server Error'),
                      parseErrorBody(403, null),
                    ];
                }"""
            )
            assert parsed[0]["fields"] == {"subscription_url": "resolves to 10.0.0.1, a private address"}
            assert parsed[1]["fields"] == {
                "retry_policy.max_attempts": "Input should be less than or equal to 25",
                "event_types": "unknown event type",
            }
            assert parsed[2] == {"message": "unknown or revoked token", "fields": {}}
            assert parsed[3]["message"] == "Internal Server Error"
            assert parsed[4]["message"] == "Your token's role may not do this."

            state = await page.evaluate(
                """async () => {
                    const { createPinia, setActivePinia } = await import('pinia');
                    const { useWebhooksStore } = await import('./js/stores/webhooks.js');
                    setActivePinia(createPinia());
                    const store = useWebhooksStore();
                    const actions = ['fetchWebhooks', 'createWebhook', 'updateWebhook', 'deleteWebhook', 'testDelivery', 'fetchLogs', 'fetchStatus'];
                    return { state: Object.keys(store.$state), actions: actions.filter((a) => typeof store[a] === 'function') };
                }"""
            )
            assert state["state"] == [
                "webhooks", "loading", "creating", "updating", "deleting", "error",
                "currentIntegrationId", "eventTypes", "objectTypes",
            ]  # fmt: skip
            assert len(state["actions"]) == 7
            assert await page.evaluate("() => sessionStorage.length") == 0
            assert errors == []
        finally:
            await browser.close()
