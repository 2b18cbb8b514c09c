// Delivery attempts of one webhook: filters, cursor paging, expandable rows, manual retry.
import { onMounted, reactive, ref } from "vue";
import { fmtMs, fmtTime } from "../format.js";
import { useSessionStore } from "../stores/session.js";
import { useWebhooksStore } from "../stores/webhooks.js";

const OUTCOMES = ["succeeded", "failed", "retrying", "dead_lettered", "cancelled"];
const RETRYABLE = new Set(["failed", "dead_lettered"]);

function isoOrUndefined(local) {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export const LogsView = {
  props: { webhookId: String },
  setup(props) {
    const store = useWebhooksStore();
    const session = useSessionStore();
    const filters = reactive({ outcome: "", event_type: "", since: "", until: "" });
    const items = ref([]);
    const loading = ref(false);
    const error = ref("");
    const expanded = reactive({});
    // cursors[i] is the cursor that loads page i; the first page has none.
    const cursors = ref([null]);
    const page = ref(0);
    const nextCursor = ref(null);
    const retries = reactive({});

    const load = async (pageIndex = 0) => {
      loading.value = true;
      error.value = "";
      try {
        const query = { outcome: filters.outcome, event_type: filters.event_type, since: isoOrUndefined(filters.since), until: isoOrUndefined(filters.until) };
        const result = await store.fetchLogs(props.webhookId, query, cursors.value[pageIndex]);
        items.value = result.items;
        nextCursor.value = result.nextCursor;
        page.value = pageIndex;
        if (result.nextCursor) cursors.value[pageIndex + 1] = result.nextCursor;
      } catch (err) {
        error.value = err.message;
      } finally {
        loading.value = false;
      }
    };
    const apply = () => {
      cursors.value = [null];
      load(0);
    };
    const key = (item) => `${item.delivery_id}:${item.attempt}:${item.attempted_at}`;
    const retry = async (item) => {
      const k = key(item);
      retries[k] = { busy: true, message: "" };
      try {
        await store.retryDelivery(props.webhookId, item.delivery_id);
        retries[k] = { busy: false, message: "Retry queued." };
      } catch (err) {
        retries[k] = { busy: false, message: err.message, failed: true };
      }
    };
    onMounted(async () => {
      if (!store.byId(props.webhookId) && store.currentIntegrationId) await store.fetchWebhook(props.webhookId).catch(() => null);
      await load(0);
    });
    const webhook = () => store.byId(props.webhookId);
    return { store, session, filters, items, loading, error, expanded, page, nextCursor, retries, load, apply, key, retry, webhook, OUTCOMES, RETRYABLE, fmtMs, fmtTime };
  },
  template: `
  <section aria-labelledby="logs-title">
    <div class="titlebar"><h1 id="logs-title">Delivery logs<span v-if="webhook()">: {{ webhook().name }}</span></h1></div>
    <form class="card filters" @submit.prevent="apply" aria-label="Log filters">
      <div class="field"><label for="l-outcome">Outcome</label>
        <select id="l-outcome" v-model="filters.outcome"><option value="">any</option><option v-for="o in OUTCOMES" :key="o" :value="o">{{ o }}</option></select></div>
      <div class="field"><label for="l-event">Event type</label>
        <select id="l-event" v-model="filters.event_type"><option value="">any</option>
          <option v-for="e in store.eventTypes" :key="e.name || e" :value="e.name || e">{{ e.name || e }}</option></select></div>
      <div class="field"><label for="l-since">From</label><input id="l-since" type="datetime-local" v-model="filters.since" /></div>
      <div class="field"><label for="l-until">To</label><input id="l-until" type="datetime-local" v-model="filters.until" /></div>
      <div class="field end"><button type="submit" class="primary" :disabled="loading">{{ loading ? "Loading…" : "Apply / refresh" }}</button></div>
    </form>
    <p class="error" role="alert" v-if="error">{{ error }}</p>
    <div class="table-wrap">
      <table class="rows" data-testid="logs-table" :aria-busy="loading">
        <caption class="sr-only">Delivery attempts, newest first</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">Event type</th><th scope="col">Attempt</th><th scope="col">Outcome</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          <template v-for="item in items" :key="key(item)">
            <tr :data-delivery="item.delivery_id">
              <td data-label="Time">{{ fmtTime(item.attempted_at) }}</td>
              <td data-label="Event type"><code>{{ item.event_type }}</code></td>
              <td data-label="Attempt">{{ item.attempt }} <span v-if="item.replay_id" class="tag">manual retry</span></td>
              <td data-label="Outcome"><span class="badge" :class="item.outcome === 'succeeded' ? 'ok' : item.outcome === 'retrying' ? 'warn' : 'bad'" data-testid="log-outcome">{{ item.outcome }}</span></td>
              <td data-label="Status">{{ item.status_code ?? (item.error_category || "—") }}</td>
              <td data-label="Duration">{{ fmtMs(item.response_ms) }}</td>
              <td class="actions">
                <button type="button" :aria-expanded="!!expanded[key(item)]" :aria-controls="'d-' + key(item)" @click="expanded[key(item)] = !expanded[key(item)]">{{ expanded[key(item)] ? "Hide" : "Details" }}</button>
                <button v-if="session.canOperate && RETRYABLE.has(item.outcome)" type="button" @click="retry(item)" :disabled="retries[key(item)]?.busy">{{ retries[key(item)]?.busy ? "Retrying…" : "Retry" }}</button>
                <span role="status" :class="retries[key(item)]?.failed ? 'error' : 'ok-text'">{{ retries[key(item)]?.message }}</span>
              </td>
            </tr>
            <tr v-if="expanded[key(item)]" :id="'d-' + key(item)" class="detail">
              <td colspan="7">
                <dl class="facts">
                  <div><dt>Delivery id</dt><dd><code>{{ item.delivery_id }}</code></dd></div>
                  <div><dt>Event id</dt><dd><code>{{ item.event_id }}</code></dd></div>
                  <div v-if="item.replay_id"><dt>Replay id</dt><dd><code>{{ item.replay_id }}</code></dd></div>
                  <div v-if="item.error_category"><dt>Error category</dt><dd><code>{{ item.error_category }}</code></dd></div>
                  <div v-if="item.error"><dt>Error</dt><dd>{{ item.error }}</dd></div>
                  <div v-if="item.next_attempt_at"><dt>Next attempt</dt><dd>{{ fmtTime(item.next_attempt_at) }}</dd></div>
                </dl>
                <details v-if="item.response_body_excerpt" open><summary>Response excerpt</summary><pre>{{ item.response_body_excerpt }}</pre></details>
              </td>
            </tr>
          </template>
          <tr v-if="!loading && !items.length"><td colspan="7" class="muted">No attempts match.</td></tr>
        </tbody>
      </table>
    </div>
    <nav class="pager" aria-label="Pages">
      <button type="button" @click="load(page - 1)" :disabled="loading || page === 0">Newer</button>
      <span>Page {{ page + 1 }}</span>
      <button type="button" @click="load(page + 1)" :disabled="loading || !nextCursor">Older</button>
    </nav>
  </section>`,
};
