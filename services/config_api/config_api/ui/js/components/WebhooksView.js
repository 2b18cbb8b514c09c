// Manage Webhooks: the table of one integration with 24 h figures, test, activate/deactivate and delete.
import { computed, onUnmounted, reactive, ref, watch } from "vue";
import { fmtMs, fmtPercent, fmtTime } from "../format.js";
import { go, href, route } from "../router.js";
import { useSessionStore } from "../stores/session.js";
import { useWebhooksStore } from "../stores/webhooks.js";
import { startPolling } from "../polling.js";
import { ConfirmDialog } from "./ConfirmDialog.js";
import { TestResult } from "./TestResult.js";

export const WebhooksView = {
  components: { ConfirmDialog, TestResult },
  setup() {
    const store = useWebhooksStore();
    const session = useSessionStore();
    const stats = reactive({});
    const test = reactive({ webhookId: null, busy: false, result: null, error: null });
    const toDelete = ref(null);
    const deleteError = ref("");
    const rowError = reactive({});

    const loadStats = async (only = null) => {
      await Promise.allSettled(
        store.webhooks.filter((w) => !only || only.includes(w.id)).map(async (w) => {
          try {
            stats[w.id] = await store.fetchStatus(w.id, "24h");
          } catch {
            stats[w.id] = null;
          }
        }),
      );
    };
    const refresh = async () => {
      try {
        await store.fetchWebhooks();
      } catch {
        return; // store.error is shown in place
      }
      await loadStats();
    };
    // The list may be loaded by App (on navigation) or by refresh(): fetch figures for any new webhook.
    watch(
      () => store.webhooks.map((w) => w.id).join(" "),
      () => loadStats(store.webhooks.map((w) => w.id).filter((id) => !(id in stats))),
    );
    if (store.currentIntegrationId === route.integrationId) refresh();

    const runTest = async (w) => {
      Object.assign(test, { webhookId: w.id, busy: true, result: null, error: null });
      try {
        test.result = await store.testDelivery({ webhook_id: w.id });
      } catch (err) {
        test.error = err;
      } finally {
        test.busy = false;
      }
    };
    const toggleActive = async (w) => {
      rowError[w.id] = "";
      try {
        await store.setActive(w.id, !w.active);
        stats[w.id] = await store.fetchStatus(w.id, "24h").catch(() => stats[w.id]);
      } catch (err) {
        rowError[w.id] = err.message;
      }
    };
    const confirmDelete = async () => {
      deleteError.value = "";
      try {
        await store.deleteWebhook(toDelete.value.id);
        toDelete.value = null;
      } catch (err) {
        deleteError.value = err.message;
      }
    };
    const stat = (w, key) => stats[w.id]?.[key] ?? w[key];
    // Health refreshes on its own (the table's figures and states), backing off while nothing changes.
    const stopPolling = startPolling(async () => {
      if (store.currentIntegrationId !== route.integrationId || store.loading) return null;
      await store.fetchWebhooks({ quiet: true });
      await loadStats();
      return [store.webhooks.map((w) => [w.id, w.active, w.version]), Object.values(stats)];
    });
    onUnmounted(stopPolling);
    // Text search over name, description and URL, in the page (the API offers the same with ?q=).
    const query = ref("");
    const shown = computed(() => {
      const q = query.value.trim().toLowerCase();
      if (!q) return store.webhooks;
      return store.webhooks.filter((w) => [w.name, w.description ?? "", w.subscription_url].some((s) => s.toLowerCase().includes(q)));
    });
    return { query, shown, store, session, route, href, go, stats, stat, test, runTest, toggleActive, toDelete, deleteError, confirmDelete, rowError, refresh, fmtMs, fmtPercent, fmtTime };
  },
  template: `
  <section aria-labelledby="wh-title">
    <div class="titlebar">
      <h1 id="wh-title">Webhooks</h1>
      <button type="button" @click="refresh" :disabled="store.loading">{{ store.loading ? "Loading…" : "Refresh" }}</button>
      <a class="button" :href="href('deliveries', route.integrationId)">Search deliveries</a>
      <a class="button" :href="href('priority', route.integrationId)">Priority rules</a>
      <a v-if="session.canEdit" class="button primary" :href="href('new', route.integrationId)">New webhook</a>
    </div>
    <div class="row">
      <label for="wh-search" class="sr-only">Search webhooks</label>
      <input id="wh-search" type="search" v-model="query" placeholder="Search by name, description or URL…" autocomplete="off" data-testid="webhook-search" />
    </div>
    <p v-if="!session.canEdit" class="muted" data-testid="read-only-note">Read-only: your token's role is {{ session.role }}.</p>
    <p class="error" role="alert" v-if="store.error && !store.webhooks.length">{{ store.error.message }}</p>
    <p v-if="store.loading && !store.webhooks.length" class="muted" role="status">Loading webhooks…</p>
    <div class="table-wrap" v-else>
      <table class="rows" data-testid="webhook-table">
        <caption class="sr-only">Webhooks of this integration; figures cover the last 24 hours</caption>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">URL</th><th scope="col">Event types</th><th scope="col">State</th>
          <th scope="col">Success 24 h</th><th scope="col">p95 24 h</th><th scope="col">Last success</th>
          <th scope="col">Consecutive failures</th><th scope="col"><span class="sr-only">Actions</span></th>
        </tr></thead>
        <tbody>
          <tr v-for="w in shown" :key="w.id" :data-webhook="w.id">
            <th scope="row" data-label="Name">{{ w.name }}<span v-if="w.description" class="desc muted small" data-testid="webhook-description">{{ w.description }}</span></th>
            <td data-label="URL" class="url"><code>{{ w.subscription_url }}</code></td>
            <td data-label="Event types"><span class="tag" v-for="e in w.event_types" :key="e">{{ e }}</span></td>
            <td data-label="State">
              <span class="badge" :class="w.active ? 'ok' : 'bad'" data-testid="active-badge">{{ w.active ? "active" : "inactive" }}</span>
              <div v-if="!w.active && stat(w, 'deactivated_reason')" class="muted small" data-testid="deactivated-reason">{{ stat(w, 'deactivated_reason') }}</div>
            </td>
            <td data-label="Success 24 h">{{ fmtPercent(stats[w.id]?.success_rate) }}</td>
            <td data-label="p95 24 h">{{ fmtMs(stats[w.id]?.p95_ms) }}</td>
            <td data-label="Last success">{{ fmtTime(stat(w, 'last_success_at')) }}</td>
            <td data-label="Consecutive failures"><span :class="{ bad: stat(w, 'consecutive_failures') > 0 }">{{ stat(w, 'consecutive_failures') ?? 0 }}</span></td>
            <td class="actions">
              <a v-if="session.canEdit" class="button" :href="href('edit', route.integrationId, w.id)" :aria-label="'Edit ' + w.name">Edit</a>
              <button v-if="session.canOperate" type="button" @click="runTest(w)" :disabled="test.busy" :aria-label="'Send a test delivery to ' + w.name">Test</button>
              <a class="button" :href="href('logs', route.integrationId, w.id)" :aria-label="'Logs of ' + w.name">Logs</a>
              <a class="button" :href="href('status', route.integrationId, w.id)" :aria-label="'Status of ' + w.name">Status</a>
              <button v-if="session.canEdit" type="button" @click="toggleActive(w)" :disabled="store.updating" :aria-label="(w.active ? 'Deactivate ' : 'Activate ') + w.name">{{ w.active ? "Deactivate" : "Activate" }}</button>
              <button v-if="session.canEdit" type="button" class="danger" @click="toDelete = w; deleteError = ''" :disabled="store.deleting" :aria-label="'Delete ' + w.name">Delete</button>
              <p class="error" role="alert" v-if="rowError[w.id]">{{ rowError[w.id] }}</p>
            </td>
          </tr>
          <tr v-if="!store.loading && !store.webhooks.length"><td colspan="9" class="muted">No webhooks yet.</td></tr>
          <tr v-else-if="!shown.length"><td colspan="9" class="muted">No webhook matches "{{ query }}".</td></tr>
        </tbody>
      </table>
    </div>
    <TestResult v-if="test.webhookId" :result="test.result" :error="test.error" :busy="test.busy" />
    <ConfirmDialog :open="!!toDelete" title="Delete this webhook?" confirm-label="Delete" :busy="store.deleting" :error="deleteError"
      @cancel="toDelete = null" @confirm="confirmDelete">
      <p v-if="toDelete">"{{ toDelete.name }}" ({{ toDelete.subscription_url }}) stops receiving deliveries. This cannot be undone.</p>
    </ConfirmDialog>
  </section>`,
};
