"""The admin page (services/config_api/config_api/ui) in headless Chromium.

- test_vendored_builds_match_versions: the committed Vue/Pinia files are the ones `make ui` wrote.
- test_page_logic_in_browser: the URL preview gives the server's sanitised form, API errors land
  on the right field, and the Pinia store has exactly the documented state names.
- test_admin_flow: against the real config API (+ dispatcher and delivery worker as processes),
  log in, create/validate/test/edit/deactivate/delete a webhook, see a real delivery in logs and
  status, and check that a viewer token gets no edit controls. It also refreshes docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from ui_conftest import (
    PHONE,
    REPO,
    UI_DIR,
    Receiver,
    launch_chromium,
    new_page,
    running_receiver,
    screenshot,
    static_ui,
)

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
                      parseErrorBody(422, {type: 'tag:carehooks,2026:problem/invalid-input', title: 'Unprocessable Content', status: 422, detail: 'subscription_url: resolves to 10.0.0.1, a private address', errors: [{loc: ['body', 'subscription_url'], msg: 'resolves to 10.0.0.1, a private address', type: 'value_error'}]}),
                      parseErrorBody(422, {title: 'Unprocessable Content', status: 422, detail: 'two fields', errors: [{loc: ['body', 'retry_policy', 'max_attempts'], msg: 'Input should be less than or equal to 25', type: 'less_than_equal'}, {loc: ['body', 'event_types', 0], msg: 'unknown event type', type: 'value_error'}]}),
                      parseErrorBody(401, {type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'unknown or revoked token', errors: [{loc: ['header', 'Authorization'], msg: 'unknown or revoked token', type: 'unauthorized'}]}),
                      parseErrorBody(422, {title: 'Unprocessable Content', status: 422, detail: 'rate: must be positive', errors: []}),
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
            assert parsed[3] == {
                "message": "rate: must be positive",
                "fields": {"rate": "rate: must be positive"},
            }
            assert parsed[4]["message"] == "Internal Server Error"
            assert parsed[5]["message"] == "Your token's role may not do this."

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
            groups = await page.evaluate(
                """async () => {
                    const { groupEntries } = await import('./js/catalog_groups.js');
                    const fhir = ['Appointment.create', 'Appointment.update', 'Patient.create'].map((name) => ({ name, description: '' }));
                    const sm = ['response_completed', 'collector_created', 'contact_created', 'contact_list_created', 'survey_created']
                      .map((name) => ({ name, description: '' }));
                    const names = (gs) => gs.map((g) => [g.label, g.items.map((i) => i.name)]);
                    return {
                      fhir: names(groupEntries(fhir, 'fhir', { wildcards: true })),
                      sm: names(groupEntries(sm, 'surveymonkey', { wildcards: true, extra: ['response_deleted'] })),
                    };
                }"""
            )
            assert groups["fhir"] == [
                ["All", ["*"]],
                ["Appointment", ["Appointment.*", "Appointment.create", "Appointment.update"]],
                ["Patient", ["Patient.*", "Patient.create"]],
            ]
            assert groups["sm"] == [
                ["Collectors", ["collector_created"]],
                ["Contact lists", ["contact_list_created"]],
                ["Contacts", ["contact_created"]],
                ["Responses", ["response_completed", "response_deleted"]],
                ["Surveys", ["survey_created"]],
            ]
            assert await page.evaluate("() => sessionStorage.length") == 0
            assert errors == []
        finally:
            await browser.close()


# --- the whole flow against the running services -------------------------------------------------

SSRF_URL = "https://169.254.169.254/latest/meta-data"
# Form controls without an accessible name from a <label>, aria-label or aria-labelledby.
UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && !el.labels?.length && !el.getAttribute('aria-label')
        && !el.getAttribute('aria-labelledby'))
    .map((el) => el.outerHTML.slice(0, 80))"""
SURVEY_EVENT = REPO / "samples" / "surveymonkey" / "response_completed.json"


async def _publish_survey_event(
    stack: Any, receiver: Receiver, already: int, event_id: str | None = None
) -> None:
    """Publish a real SurveyMonkey callback once the dispatcher knows the webhook; wait for its delivery."""
    from aiokafka import AIOKafkaProducer

    from service_kit.kafka import producer_options
    from service_kit.kafka_security import embedded_broker_client

    async with httpx.AsyncClient(base_url=stack.url("dispatcher"), timeout=5) as ops:
        deadline = asyncio.get_running_loop().time() + 30
        while not re.search(
            r"^carehooks_webhooks_indexed(\{[^}]*\})? [1-9]", (await ops.get("/metrics")).text, re.M
        ):
            assert asyncio.get_running_loop().time() < deadline, "the dispatcher never indexed the webhook"
            await asyncio.sleep(0.2)
    # The worker follows the same compacted topic; give it the same head start.
    await asyncio.sleep(1.0)
    producer = AIOKafkaProducer(
        **producer_options(stack.env["KAFKA_BOOTSTRAP_SERVERS"], embedded_broker_client())
    )
    await producer.start()
    try:
        body = json.loads(SURVEY_EVENT.read_bytes())
        if event_id is not None:
            body["event_id"] = event_id
        await producer.send_and_wait(stack.topics.surveymonkey_events, json.dumps(body).encode())
    finally:
        await producer.stop()
    await receiver.wait_for(already + 1, timeout_s=30)


async def secret_value(stack: Any, api: httpx.AsyncClient, webhook_id: str) -> str:
    """The webhook's current signing secret, from the API."""
    answer = await api.get(f"/admin/integration/surveymonkey/webhooks/{webhook_id}/secret")
    assert answer.status_code == 200, answer.text
    value: str = answer.json()["secret"]
    return value


async def _create_token(api: httpx.AsyncClient, role: str) -> tuple[str, str]:
    """A new token of ``role``: (token, token id)."""
    answer = await api.post("/admin/tokens", json={"name": f"ui-{role}", "role": role})
    assert answer.status_code == 201, answer.text
    return answer.json()["token"], answer.json()["id"]


async def _login(page: Page, base_url: str, token: str) -> None:
    await page.goto(base_url + "/admin/ui/")
    await page.get_by_label("API token").fill(token)
    await page.get_by_label("API token").press("Enter")  # keyboard submit
    await expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
    assert token not in page.url


async def _click_until(page: Page, button: Locator, target: Locator, timeout_s: float) -> None:
    """Press a refresh button until ``target`` shows up (results arrive through Kafka)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        await expect(button).to_be_enabled()
        await button.click()
        try:
            await expect(target).to_be_visible(timeout=1000)
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.browser
async def test_admin_flow(stack_factory: Callable[..., Any]) -> None:
    stack = stack_factory(services=["config-api", "dispatcher", "delivery-worker"])
    base = stack.config_api_url
    async with (
        running_receiver() as receiver,
        httpx.AsyncClient(base_url=base, headers=stack.admin_headers, timeout=10) as api,
        async_playwright() as pw,
    ):
        viewer_token, viewer_token_id = await _create_token(api, "viewer")
        browser = await launch_chromium(pw)
        try:
            page, errors = await new_page(browser)
            await _login(page, base, stack.admin_token)
            await expect(page.get_by_test_id("role")).to_have_text("admin")
            # sessionStorage, not localStorage and not the URL.
            assert await page.evaluate("() => Object.values(sessionStorage)") == [stack.admin_token]
            assert await page.evaluate("() => localStorage.length") == 0

            # Admin → Integrations → select SurveyMonkey → Manage Webhooks.
            row = page.locator("tr[data-integration=surveymonkey]")
            await expect(row).to_contain_text("surveymonkey")
            await row.get_by_role("button", name="SurveyMonkey", exact=True).click()
            await expect(page.get_by_test_id("selected-integration")).to_be_visible()
            await (
                page.get_by_test_id("selected-integration")
                .get_by_role("button", name="Manage Webhooks")
                .click()
            )
            await expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()

            # Create: an SSRF target is refused on the URL field.
            await page.get_by_role("link", name="New webhook").click()
            await page.get_by_label("Name").fill("Completed responses")
            await page.get_by_label("Description").fill("Feeds the CRM inbox; owner: patient experience")
            events = page.get_by_role("group", name="Event types")
            # Searchable, grouped checkboxes: a search narrows the list to one category.
            await events.get_by_label("Search event types").fill("collector")
            await expect(events.get_by_role("heading", name="Collectors")).to_be_visible()
            await expect(events.get_by_role("heading", name="Responses")).to_have_count(0)
            await events.get_by_label("Search event types").fill("")
            await expect(events.get_by_role("heading", name="Responses")).to_be_visible()
            await events.get_by_role("checkbox", name="response_completed").check()
            await events.get_by_role("checkbox", name="response_created").check()
            # The server checks the form as it is typed, before saving.
            await expect(page.get_by_test_id("check-state")).to_contain_text("The server would refuse")
            await page.get_by_label("Subscription URL").fill(SSRF_URL)
            await page.get_by_role("button", name="Create webhook").click()
            await expect(page.get_by_test_id("url-error")).to_be_visible()
            await expect(page.get_by_label("Subscription URL")).to_have_attribute("aria-invalid", "true")
            await page.evaluate("window.scrollTo(0, 0)")
            await screenshot(page, "create-form-error")
            assert (await api.get("/admin/integration/surveymonkey/webhooks")).json()["items"] == []

            # The filter examples are ones the server accepts: use one, see the server's verdict, clear it.
            await page.get_by_test_id("filter-examples").get_by_role("button").first.click()
            await expect(page.get_by_label("Filter (JSON)")).to_have_value(re.compile("survey_id"))
            # A bad filter is caught before sending.
            await page.get_by_label("Filter (JSON)").fill('{"field": ')
            await expect(page.get_by_test_id("filter-error")).to_contain_text("Not valid JSON")
            await expect(page.get_by_role("button", name="Create webhook")).to_be_disabled()
            await page.get_by_label("Filter (JSON)").fill("")

            # A URL with tabs and spaces: the preview shows, and the server stores, the sanitised form.
            messy = f"  HTTP://127.0.0.1:{receiver.url.rsplit(':', 1)[1]}/Hooks/\tSurvey Monkey \n"
            clean = f"{receiver.url}/Hooks/SurveyMonkey"
            await page.get_by_label("Subscription URL").fill(messy)
            await expect(page.get_by_test_id("url-preview")).to_contain_text(clean)
            # One attempt: a failure is dead-lettered at once, so the retry action is testable quickly.
            await page.get_by_label("max attempts").fill("1")
            await page.get_by_label("Max in flight").fill("5000")
            await expect(page.get_by_test_id("check-state")).to_contain_text("The server would refuse")
            await expect(page.locator("#max_in_flight-error")).to_be_visible()
            await page.get_by_label("Max in flight").fill("4")
            await page.get_by_label("Rate limit (requests/s)").fill("20")
            await expect(page.get_by_test_id("check-state")).to_contain_text("The server accepts")
            await expect(page.get_by_test_id("url-error")).to_have_count(0)
            await page.get_by_role("button", name="Create webhook").click()
            secret = page.get_by_test_id("secret-value")
            await expect(secret).to_have_value(re.compile(r"^whsec_"))
            listed = (await api.get("/admin/integration/surveymonkey/webhooks")).json()["items"]
            assert [w["subscription_url"] for w in listed] == [clean]
            webhook_id = listed[0]["id"]
            assert listed[0]["retry_policy"]["max_attempts"] == 1
            assert (listed[0]["max_in_flight"], listed[0]["rate_limit_per_s"]) == (4, 20)
            assert listed[0]["description"] == "Feeds the CRM inbox; owner: patient experience"
            await page.get_by_role("link", name="Done: back to the webhooks").click()

            # The table; then a test delivery answered 200 by the receiver.
            table_row = page.locator(f"tr[data-webhook='{webhook_id}']")
            await expect(table_row).to_contain_text(clean)
            await expect(table_row.get_by_test_id("active-badge")).to_have_text("active")
            await table_row.get_by_role("button", name="Send a test delivery to Completed responses").click()
            await expect(page.get_by_test_id("test-status")).to_have_text("200")
            await expect(page.get_by_test_id("test-outcome")).to_have_text("succeeded")
            assert receiver.requests, "the receiver got no test delivery"
            assert "webhook-signature" in {k.lower() for k in receiver.requests[-1]["headers"]}
            await screenshot(page, "test-result")

            # A real event: SurveyMonkey callback -> dispatcher -> delivery worker -> receiver (503 once),
            # and the attempt comes back through webhooks.delivery-results into the logs.
            receiver.fail_next = 1
            await _publish_survey_event(stack, receiver, already=len(receiver.requests))
            assert receiver.bodies()[-1]["type"] == "response_completed"
            await table_row.get_by_role("link", name="Logs of Completed responses").click()
            refresh = page.get_by_role("button", name="Apply / refresh")
            rows = page.get_by_test_id("logs-table").locator("tr[data-delivery]")
            await _click_until(page, refresh, rows.first, 30)
            await expect(rows.first.get_by_test_id("log-outcome")).to_have_text(
                re.compile("dead_lettered|failed")
            )
            await rows.first.get_by_role("button", name="Details").click()
            await expect(page.locator("tr.detail")).to_contain_text("busy, try later")
            # Manual retry of the failed delivery: the receiver answers 200 this time.
            before_retry = len(receiver.requests)
            await rows.first.get_by_role("button", name="Retry").click()
            await expect(page.get_by_text("Retry queued.")).to_be_visible()
            await receiver.wait_for(before_retry + 1, timeout_s=30)
            succeeded = rows.filter(has=page.get_by_test_id("log-outcome").get_by_text("succeeded"))
            await _click_until(page, refresh, succeeded.first, 30)
            await expect(rows).to_have_count(2)
            assert len({await r.get_attribute("data-delivery") for r in await rows.all()}) == 1, (
                "same delivery id"
            )
            await screenshot(page, "logs")
            assert await page.evaluate(UNLABELLED_CONTROLS) == []
            # Filters: only the succeeded attempt.
            await page.get_by_label("Outcome").select_option("succeeded")
            await refresh.click()
            await expect(rows).to_have_count(1)
            await expect(rows.first.get_by_test_id("log-outcome")).to_have_text("succeeded")
            await page.get_by_role("link", name="Manage Webhooks").click()
            await (
                page.locator(f"tr[data-webhook='{webhook_id}']")
                .get_by_role("link", name="Status of Completed responses")
                .click()
            )
            await expect(page.get_by_test_id("status-attempts")).to_have_text("2")
            await expect(page.get_by_test_id("status-succeeded")).to_have_text("1")
            await expect(page.get_by_test_id("status-failed")).to_have_text("1")
            chart = page.get_by_test_id("status-chart")
            assert [
                await r.get_attribute("height") != "0" for r in await chart.locator("rect.bar-failures").all()
            ].count(True) == 1
            # The failures broken down by status code and error category.
            breakdown = page.get_by_test_id("breakdown-chart")
            await expect(breakdown.locator("li[data-code='503']")).to_contain_text("1")
            await expect(breakdown.locator("li[data-code='200']")).to_contain_text("1")
            await expect(breakdown.locator("li[data-category='http_5xx']")).to_contain_text("1")
            await screenshot(page, "status")

            # Search across the integration by the event id the receiver saw.
            first_event_id = receiver.bodies()[-1]["event_id"]
            await page.get_by_role("link", name="Manage Webhooks").click()
            await page.get_by_role("link", name="Search deliveries").click()
            await page.get_by_label("Id to search for").fill(first_event_id)
            await page.get_by_role("button", name="Search", exact=True).click()
            found = page.get_by_test_id("search-table").locator("tr[data-delivery]")
            await expect(found).to_have_count(1)
            await expect(found.first).to_contain_text("Completed responses")
            await expect(found.first.get_by_test_id("search-outcome")).to_have_text("succeeded")
            assert await page.evaluate(UNLABELLED_CONTROLS) == []
            await screenshot(page, "delivery-search")

            # Another event fails for good (one attempt); recovery re-sends it once, with its own id.
            receiver.fail_next = 1
            await _publish_survey_event(stack, receiver, already=len(receiver.requests), event_id="20000002")
            failed_delivery = receiver.requests[-1]["headers"].get("webhook-id") or receiver.requests[-1][
                "headers"
            ].get("Webhook-Id")
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                dead = (
                    await api.get(
                        "/admin/integration/surveymonkey/deliveries",
                        params={"delivery_id": failed_delivery, "outcome": "dead_lettered"},
                    )
                ).json()["items"]
                if dead:
                    break
                assert asyncio.get_running_loop().time() < deadline, "the dead letter never reached the logs"
                await asyncio.sleep(0.5)
            await page.get_by_role("link", name="Back to the webhooks").click()
            await (
                page.locator(f"tr[data-webhook='{webhook_id}']")
                .get_by_role("link", name="Status of Completed responses")
                .click()
            )
            before_recovery = len(receiver.requests)
            await page.get_by_role("button", name="Recover failed deliveries").click()
            await expect(page.get_by_test_id("recover-state")).to_have_text("done", timeout=30000)
            await expect(page.get_by_test_id("recover-counts")).to_have_text("1 of 1 sent")
            await receiver.wait_for(before_recovery + 1, timeout_s=30)
            resent = receiver.requests[-1]
            assert (
                json.loads(resent["body"])["event_id"]
                == json.loads(receiver.requests[-2]["body"])["event_id"]
            )
            resent_id = resent["headers"].get("webhook-id") or resent["headers"].get("Webhook-Id")
            assert resent_id and resent_id != failed_delivery, "a recovered delivery has its own delivery id"
            await screenshot(page, "recovery")
            # Once unless forced: a second recovery sends nothing.
            await page.get_by_role("button", name="Recover failed deliveries").click()
            await expect(page.get_by_test_id("recover-state")).to_have_text("done", timeout=30000)
            await expect(page.get_by_test_id("recover-counts")).to_have_text("0 of 0 sent")
            await asyncio.sleep(1)
            assert len(receiver.requests) == before_recovery + 1

            # Edit: rename, high priority; write-only auth replaced with a bearer token.
            await page.get_by_role("link", name="Manage Webhooks").click()
            await (
                page.locator(f"tr[data-webhook='{webhook_id}']")
                .get_by_role("link", name="Edit Completed responses")
                .click()
            )
            await expect(page.get_by_label("Name")).to_have_value("Completed responses")
            await page.get_by_label("Name").fill("Completed responses (CRM)")
            await page.get_by_label("Priority").select_option("high")
            await page.get_by_role("button", name="Replace").click()
            await page.get_by_label("Auth type").select_option("bearer")
            await page.get_by_label("Bearer token").fill("crm-token-1234")
            await page.get_by_role("button", name="Save changes").click()
            await expect(page.get_by_text("Saved.")).to_be_visible()
            await expect(page.get_by_test_id("auth-current")).to_contain_text("1234")
            await page.evaluate("window.scrollTo(0, 0)")
            await screenshot(page, "edit-form")
            assert await page.evaluate(UNLABELLED_CONTROLS) == [], "every form control needs a label"
            # The form's own test button sends to the URL in the form.
            await page.get_by_role("button", name="Send test delivery").click()
            await expect(page.get_by_test_id("test-status")).to_have_text("200")
            # Rotate the signing secret with a 2 h grace period: the new one is shown once.
            first_secret = await secret_value(stack, api, webhook_id)
            await page.get_by_label("Grace period (hours)").fill("2")
            await page.get_by_role("button", name="Rotate secret").click()
            new_secret = page.get_by_test_id("secret-value")
            await expect(new_secret).to_have_value(re.compile(r"^whsec_"))
            assert await new_secret.input_value() != first_secret
            secrets = (await api.get(f"/admin/integration/surveymonkey/webhooks/{webhook_id}/secret")).json()
            assert secrets["secret"] == await new_secret.input_value()
            assert first_secret in [s["secret"] for s in secrets["secrets"]], (
                "old secret kept for the grace period"
            )
            stored = (await api.get(f"/admin/integration/surveymonkey/webhooks/{webhook_id}")).json()
            assert (stored["name"], stored["priority"], stored["auth"]["type"]) == (
                "Completed responses (CRM)",
                "high",
                "bearer",
            )
            assert "crm-token-1234" not in str(stored)

            # Deactivate from the table.
            await page.get_by_role("link", name="Cancel").click()
            table_row = page.locator(f"tr[data-webhook='{webhook_id}']")
            await table_row.get_by_role("button", name="Deactivate Completed responses (CRM)").click()
            await expect(table_row.get_by_test_id("active-badge")).to_have_text("inactive")
            assert (await api.get(f"/admin/integration/surveymonkey/webhooks/{webhook_id}")).json()[
                "active"
            ] is False
            await expect(table_row).to_contain_text("50.0 %")
            await expect(table_row.get_by_test_id("webhook-description")).to_contain_text(
                "patient experience"
            )
            await screenshot(page, "webhooks")
            # Live: a change made elsewhere shows up without pressing Refresh.
            reactivated = await api.patch(
                f"/admin/integration/surveymonkey/webhooks/{webhook_id}", json={"active": True}
            )
            assert reactivated.status_code == 200
            await expect(table_row.get_by_test_id("active-badge")).to_have_text("active", timeout=20000)
            # Text search over name, description and URL.
            await page.get_by_test_id("webhook-search").fill("PATIENT EXPERIENCE")
            await expect(table_row).to_be_visible()
            await page.get_by_test_id("webhook-search").fill("nothing like this")
            await expect(table_row).to_have_count(0)
            await page.get_by_test_id("webhook-search").fill("")

            # Priority rules: admins edit them on their own screen.
            await page.get_by_role("link", name="Priority rules").click()
            await expect(page.get_by_role("heading", name="Priority rules")).to_be_visible()
            await page.get_by_role("button", name="Add a field rule").click()
            await page.get_by_label("Field", exact=True).select_option("2")
            await page.get_by_label("equals").fill("vip")
            await page.get_by_label("Contact ids").fill("c-1, c-2")
            await (
                page.get_by_role("group", name="Event types always on the priority lane")
                .get_by_role("checkbox", name="contact_created")
                .check()
            )
            await page.get_by_role("button", name="Save rules").click()
            await expect(page.get_by_text("Saved: the dispatcher")).to_be_visible()
            rules = (await api.get("/admin/integration/surveymonkey/priority-rules")).json()
            assert rules["custom_field_rules"] == [{"field": "2", "equals": "vip"}]
            assert (rules["contact_ids"], rules["event_types"]) == (["c-1", "c-2"], ["contact_created"])
            assert await page.evaluate(UNLABELLED_CONTROLS) == []
            await screenshot(page, "priority-rules")
            await page.get_by_role("link", name="Back to the webhooks").click()
            await expect(table_row).to_be_visible()

            # A viewer: same table, no edit controls.
            viewer, viewer_errors = await new_page(browser)
            await _login(viewer, base, viewer_token)
            await expect(viewer.get_by_test_id("role")).to_have_text("viewer")
            await viewer.goto(base + "/admin/ui/#/integrations/surveymonkey/webhooks")
            viewer_row = viewer.locator(f"tr[data-webhook='{webhook_id}']")
            await expect(viewer_row).to_be_visible()
            await expect(viewer.get_by_test_id("read-only-note")).to_be_visible()
            for name in ("New webhook", "Edit", "Delete", "Deactivate", "Activate", "Test"):
                await expect(viewer.get_by_role("link", name=name)).to_have_count(0)
                await expect(viewer.get_by_role("button", name=re.compile(f"^{name}"))).to_have_count(0)
            await expect(viewer_row.get_by_role("link", name=re.compile("^Logs"))).to_be_visible()
            # The viewer reads the priority rules but cannot change them.
            await viewer.get_by_role("link", name="Priority rules").click()
            await expect(viewer.get_by_test_id("rules-read-only")).to_be_visible()
            await expect(viewer.get_by_label("Contact ids")).to_have_value("c-1\nc-2")
            await expect(viewer.get_by_role("button", name="Save rules")).to_have_count(0)
            await viewer.go_back()
            # Revoking the token ends the session at the next call.
            assert (await api.delete(f"/admin/tokens/{viewer_token_id}")).status_code in (200, 204)
            # The page's own refresh may notice first (the table refreshes on its own): either way
            # the viewer lands on the login page with the reason.
            with contextlib.suppress(PlaywrightTimeoutError):
                await viewer.get_by_role("button", name="Refresh").click(timeout=3000)
            await expect(viewer.get_by_text("Your token is no longer valid")).to_be_visible()
            await expect(viewer.get_by_label("API token")).to_be_visible()
            assert await viewer.evaluate("() => sessionStorage.length") == 0

            # Phone-sized screenshot of the table.
            phone, phone_errors = await new_page(browser, PHONE)
            await _login(phone, base, stack.admin_token)
            await phone.goto(base + "/admin/ui/#/integrations/surveymonkey/webhooks")
            # The 24 h figures come from the status endpoint (one failed, one succeeded attempt).
            await expect(phone.locator(f"tr[data-webhook='{webhook_id}']")).to_contain_text("50.0 %")
            await screenshot(phone, "webhooks-phone")

            # Back on the integrations list: SurveyMonkey now has one webhook.
            await page.get_by_role("link", name="Integrations").click()
            row = page.locator("tr[data-integration=surveymonkey]")
            await expect(row.locator("td[data-label=Webhooks]")).to_have_text("1")
            await row.get_by_role("button", name="SurveyMonkey", exact=True).click()
            await screenshot(page, "integrations")
            await row.get_by_role("button", name="Manage Webhooks of SurveyMonkey").click()

            # Delete, with confirmation.
            await table_row.get_by_role("button", name="Delete Completed responses (CRM)").click()
            dialog = page.get_by_role("dialog")
            await expect(dialog).to_be_visible()
            await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
            await page.keyboard.press("Escape")  # cancels: nothing deleted
            await expect(dialog).to_be_hidden()
            await expect(table_row).to_have_count(1)
            await table_row.get_by_role("button", name="Delete Completed responses (CRM)").click()
            await dialog.get_by_role("button", name="Delete").click()
            await expect(table_row).to_have_count(0)
            assert (
                await api.get(f"/admin/integration/surveymonkey/webhooks/{webhook_id}")
            ).status_code == 404

            assert errors == viewer_errors == phone_errors == []
        finally:
            await browser.close()


async def test_me_route_reports_the_callers_role() -> None:
    """GET /admin/me (the page's who-am-I) answers name, role and scope, never the token."""
    from fastapi import FastAPI

    from admin_auth.tokens import Principal
    from config_api.api.deps import get_principal
    from config_api.api.routes import me

    app = FastAPI()
    app.include_router(me.router)
    app.dependency_overrides[get_principal] = lambda: Principal(
        name="token:ops", role="operator", integration_ids=frozenset({"ehr", "surveymonkey"}), token_id="t1"
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/admin/me")
    assert answer.status_code == 200
    assert answer.json() == {
        "name": "token:ops",
        "role": "operator",
        "integration_ids": ["ehr", "surveymonkey"],
    }
