// Result of one test delivery: outcome, status, time, response excerpt, error category, the request sent.
import { fmtMs } from "../format.js";

export const TestResult = {
  props: { result: Object, error: Object, busy: Boolean },
  setup() {
    const pretty = (body) => {
      if (typeof body !== "string") return JSON.stringify(body, null, 2);
      try {
        return JSON.stringify(JSON.parse(body), null, 2);
      } catch {
        return body;
      }
    };
    return { fmtMs, pretty };
  },
  template: `
  <section class="card test-result" aria-labelledby="test-title" aria-live="polite" data-testid="test-result">
    <h2 id="test-title">Test delivery</h2>
    <p v-if="busy" role="status">Sending a test delivery…</p>
    <p v-else-if="error" class="error" role="alert">{{ error.message }}</p>
    <template v-else-if="result">
      <dl class="facts">
        <div><dt>Result</dt><dd><span class="badge" :class="result.success ? 'ok' : 'bad'" data-testid="test-outcome">{{ result.success ? "succeeded" : "failed" }}</span></dd></div>
        <div><dt>Status code</dt><dd data-testid="test-status">{{ result.status_code ?? "—" }}</dd></div>
        <div><dt>Time</dt><dd>{{ fmtMs(result.response_ms) }}</dd></div>
        <div v-if="result.error_category"><dt>Error category</dt><dd><code>{{ result.error_category }}</code></dd></div>
        <div v-if="result.error"><dt>Error</dt><dd>{{ result.error }}</dd></div>
      </dl>
      <details open v-if="result.response_body">
        <summary>Response (first 1 KB)</summary>
        <pre>{{ result.response_body }}</pre>
      </details>
      <details v-if="result.request">
        <summary>Request sent</summary>
        <h3>Headers</h3>
        <table class="kv"><tbody><tr v-for="(v, k) in result.request.headers" :key="k"><th scope="row">{{ k }}</th><td><code>{{ v }}</code></td></tr></tbody></table>
        <h3>Body</h3>
        <pre>{{ pretty(result.request.body) }}</pre>
      </details>
    </template>
  </section>`,
};
