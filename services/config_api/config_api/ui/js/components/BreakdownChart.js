// Failures broken down by HTTP status code and by error category (horizontal bars with numbers), so an
// admin can tell "their server is down" (5xx, timeouts, connection errors) from "our credentials are
// wrong" (401/403).
import { computed } from "vue";

const HINTS = {
  http_4xx: "the receiver refused the request (401/403: check the credentials)",
  http_429: "the receiver is rate limiting",
  http_5xx: "the receiver's server failed",
  timeout: "no answer in time",
  connection_error: "could not connect",
  dns_error: "the host name does not resolve",
  tls_error: "TLS handshake or certificate failed",
  ssrf_blocked: "the address is not allowed",
  redirect: "the receiver answered with a redirect",
  invalid_config: "the webhook's configuration is invalid",
};

function bars(rows, key) {
  const max = Math.max(1, ...rows.map((r) => r.count));
  return rows.map((r) => ({ label: String(r[key] ?? "none"), count: r.count, width: `${Math.max(2, (r.count / max) * 100)}%` }));
}

export const BreakdownChart = {
  props: { statusCodes: { type: Array, default: () => [] }, errorCategories: { type: Array, default: () => [] } },
  setup(props) {
    const codes = computed(() => bars(props.statusCodes, "status_code").map((b) => ({ ...b, cls: b.label.startsWith("2") ? "ok" : "bad" })));
    const categories = computed(() => bars(props.errorCategories, "error_category").map((b) => ({ ...b, hint: HINTS[b.label] ?? "" })));
    return { codes, categories };
  },
  template: `
  <div class="breakdown grid2" data-testid="breakdown-chart">
    <figure>
      <figcaption><h3>Answers by status code</h3></figcaption>
      <p v-if="!codes.length" class="muted small">No requests in this window.</p>
      <ul class="hbars" aria-label="Requests by HTTP status code">
        <li v-for="b in codes" :key="b.label" :data-code="b.label">
          <span class="hbar-label"><code>{{ b.label }}</code></span>
          <span class="hbar-track"><span class="hbar" :class="b.cls" :style="{ width: b.width }"></span></span>
          <span class="hbar-count">{{ b.count }}</span>
        </li>
      </ul>
    </figure>
    <figure>
      <figcaption><h3>Failures by error category</h3></figcaption>
      <p v-if="!categories.length" class="muted small">No failures in this window.</p>
      <ul class="hbars" aria-label="Failed attempts by error category">
        <li v-for="b in categories" :key="b.label" :data-category="b.label" :title="b.hint">
          <span class="hbar-label"><code>{{ b.label }}</code> <span class="muted small" v-if="b.hint">{{ b.hint }}</span></span>
          <span class="hbar-track"><span class="hbar bad" :style="{ width: b.width }"></span></span>
          <span class="hbar-count">{{ b.count }}</span>
        </li>
      </ul>
    </figure>
  </div>`,
};
