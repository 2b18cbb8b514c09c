// Status of one webhook: the status endpoint's figures for a window and a small attempts/failures chart.
import { onMounted, onUnmounted, ref } from "vue";
import { startPolling } from "../polling.js";
import { fmtMs, fmtPercent, fmtTime } from "../format.js";
import { useWebhooksStore } from "../stores/webhooks.js";
import { route } from "../router.js";
import { useSessionStore } from "../stores/session.js";
import { AttemptsChart } from "./AttemptsChart.js";
import { BreakdownChart } from "./BreakdownChart.js";
import { RecoverPanel } from "./RecoverPanel.js";

export const StatusView = {
  components: { AttemptsChart, BreakdownChart, RecoverPanel },
  props: { webhookId: String },
  setup(props) {
    const store = useWebhooksStore();
    const session = useSessionStore();
    const windowSize = ref("24h");
    const status = ref(null);
    const loading = ref(false);
    const error = ref("");
    const load = async () => {
      loading.value = true;
      error.value = "";
      try {
        status.value = await store.fetchStatus(props.webhookId, windowSize.value);
      } catch (err) {
        error.value = err.message;
      } finally {
        loading.value = false;
      }
    };
    onMounted(load);
    // Live: refreshed on its own while the tab is visible (quietly: no "Loading…" flash, errors kept).
    const stopPolling = startPolling(async () => {
      status.value = await store.fetchStatus(props.webhookId, windowSize.value);
      return status.value;
    });
    onUnmounted(stopPolling);
    const webhook = () => store.byId(props.webhookId);
    return { session, route, windowSize, status, loading, error, load, webhook, fmtMs, fmtPercent, fmtTime };
  },
  template: `
  <section aria-labelledby="status-title">
    <div class="titlebar">
      <h1 id="status-title">Status<span v-if="webhook()">: {{ webhook().name }}</span></h1>
      <label for="s-window" class="inline">Window</label>
      <select id="s-window" v-model="windowSize" @change="load"><option value="1h">1 h</option><option value="24h">24 h</option><option value="7d">7 days</option></select>
      <button type="button" @click="load" :disabled="loading">{{ loading ? "Loading…" : "Refresh" }}</button>
    </div>
    <p class="error" role="alert" v-if="error">{{ error }}</p>
    <p v-if="loading && !status" role="status" class="muted">Loading status…</p>
    <div v-if="status" class="card" data-testid="status-panel">
      <dl class="facts wide">
        <div><dt>State</dt><dd><span class="badge" :class="status.active === false ? 'bad' : 'ok'">{{ status.active === false ? "inactive" : "active" }}</span></dd></div>
        <div v-if="status.deactivated_reason"><dt>Deactivated because</dt><dd>{{ status.deactivated_reason }}</dd></div>
        <div><dt>Attempts</dt><dd data-testid="status-attempts">{{ status.attempts ?? 0 }}</dd></div>
        <div><dt>Succeeded</dt><dd data-testid="status-succeeded">{{ status.succeeded ?? 0 }}</dd></div>
        <div><dt>Failed</dt><dd data-testid="status-failed">{{ status.failed ?? 0 }}</dd></div>
        <div><dt>Success rate</dt><dd>{{ fmtPercent(status.success_rate) }}</dd></div>
        <div><dt>p50</dt><dd>{{ fmtMs(status.p50_ms) }}</dd></div>
        <div><dt>p95</dt><dd>{{ fmtMs(status.p95_ms) }}</dd></div>
        <div><dt>Dead-lettered</dt><dd>{{ status.dead_lettered ?? 0 }}</dd></div>
        <div><dt>Pending retries</dt><dd>{{ status.pending_retries ?? 0 }}</dd></div>
        <div><dt>Consecutive failures</dt><dd>{{ status.consecutive_failures ?? 0 }}</dd></div>
        <div><dt>Last success</dt><dd>{{ fmtTime(status.last_success_at) }}</dd></div>
        <div><dt>Last failure</dt><dd>{{ fmtTime(status.last_failure_at) }}</dd></div>
        <div v-if="status.last_error"><dt>Last error</dt><dd>{{ status.last_error }}</dd></div>
      </dl>
      <AttemptsChart :series="status.series || []" />
      <BreakdownChart :status-codes="status.status_codes || []" :error-categories="status.error_categories || []" />
    </div>
    <RecoverPanel v-if="session.canOperate" :integration-id="route.integrationId" :webhook-id="webhookId" />
  </section>`,
};
