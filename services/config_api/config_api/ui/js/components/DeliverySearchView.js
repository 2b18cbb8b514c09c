// Delivery search across an integration: "did this event reach every webhook?". One line per delivery
// with its latest attempt and the webhook's name, newest first, cursor paging.
import { reactive, ref } from "vue";
import { asPage, request } from "../api.js";
import { fmtMs, fmtTime } from "../format.js";
import { href, route } from "../router.js";
import { useWebhooksStore } from "../stores/webhooks.js";

const OUTCOMES = ["succeeded", "failed", "retrying", "dead_lettered", "cancelled"];
const KINDS = { event_id: "Event id", object_id: "Object id", delivery_id: "Delivery id" };

function isoOrUndefined(local) {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export const DeliverySearchView = {
  setup() {
    const webhooks = useWebhooksStore();
    const form = reactive({ kind: "event_id", text: "", webhook_id: "", outcome: "", event_type: "", since: "", until: "" });
    const result = reactive({ items: [], next: null, loading: false, error: "", searched: false });
    const query = () => ({
      [form.kind]: form.text.trim() || undefined,
      webhook_id: form.webhook_id || undefined,
      outcome: form.outcome || undefined,
      event_type: form.event_type.trim() || undefined,
      since: isoOrUndefined(form.since),
      until: isoOrUndefined(form.until),
      limit: 50,
    });
    const search = async (more = false) => {
      Object.assign(result, { loading: true, error: "" });
      try {
        const page = asPage(await request("GET", `/integration/${encodeURIComponent(route.integrationId)}/deliveries`, {
          query: { ...query(), cursor: more ? result.next : undefined },
        }));
        result.items = more ? [...result.items, ...page.items] : page.items;
        result.next = page.nextCursor;
        result.searched = true;
      } catch (err) {
        result.error = err.message;
      } finally {
        result.loading = false;
      }
    };
    const logsHref = (item) => href("logs", route.integrationId, item.webhook_id);
    return { webhooks, form, result, search, OUTCOMES, KINDS, logsHref, fmtMs, fmtTime, href, route };
  },
  template: `
  <section aria-labelledby="ds-title">
    <div class="titlebar">
      <h1 id="ds-title">Search deliveries</h1>
      <a class="button" :href="href('webhooks', route.integrationId)">Back to the webhooks</a>
    </div>
    <form class="card form" @submit.prevent="search(false)" role="search" data-testid="delivery-search">
      <div class="row">
        <label for="ds-kind" class="sr-only">Search by</label>
        <select id="ds-kind" v-model="form.kind" class="short"><option v-for="(label, k) in KINDS" :key="k" :value="k">{{ label }}</option></select>
        <label for="ds-text" class="sr-only">Id to search for</label>
        <input id="ds-text" type="search" v-model="form.text" placeholder="e.g. the event id of the patient's appointment event" autocomplete="off" />
        <button type="submit" class="primary" :disabled="result.loading">{{ result.loading ? "Searching…" : "Search" }}</button>
      </div>
      <div class="grid5">
        <div class="field"><label for="ds-webhook">Webhook</label>
          <select id="ds-webhook" v-model="form.webhook_id"><option value="">any</option><option v-for="w in webhooks.webhooks" :key="w.id" :value="w.id">{{ w.name }}</option></select></div>
        <div class="field"><label for="ds-outcome">Outcome</label>
          <select id="ds-outcome" v-model="form.outcome"><option value="">any</option><option v-for="o in OUTCOMES" :key="o" :value="o">{{ o }}</option></select></div>
        <div class="field"><label for="ds-type">Event type</label><input id="ds-type" v-model="form.event_type" autocomplete="off" /></div>
        <div class="field"><label for="ds-since">Since</label><input id="ds-since" type="datetime-local" v-model="form.since" /></div>
        <div class="field"><label for="ds-until">Until</label><input id="ds-until" type="datetime-local" v-model="form.until" /></div>
      </div>
    </form>
    <p class="error" role="alert" v-if="result.error">{{ result.error }}</p>
    <div class="table-wrap" v-if="result.searched">
      <table class="rows" data-testid="search-table">
        <caption class="sr-only">Deliveries matching the search, newest first</caption>
        <thead><tr><th scope="col">Webhook</th><th scope="col">Event</th><th scope="col">Object</th><th scope="col">Outcome</th>
          <th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">First attempt</th><th scope="col">Latest</th><th scope="col"><span class="sr-only">Logs</span></th></tr></thead>
        <tbody>
          <tr v-for="d in result.items" :key="d.delivery_id" :data-delivery="d.delivery_id">
            <th scope="row" data-label="Webhook">{{ d.webhook_name ?? d.webhook_id + " (deleted)" }}</th>
            <td data-label="Event"><code>{{ d.event_type }}</code><div class="muted small">{{ d.event_id }}</div></td>
            <td data-label="Object">{{ d.object_type ?? "—" }} <code v-if="d.object_id">{{ d.object_id }}</code></td>
            <td data-label="Outcome"><span class="badge" :class="d.outcome === 'succeeded' ? 'ok' : 'bad'" data-testid="search-outcome">{{ d.outcome }}</span>
              <div v-if="d.recovered_from" class="muted small">recovered from {{ d.recovered_from }}</div></td>
            <td data-label="Status">{{ d.status_code ?? d.error_category ?? "—" }}</td>
            <td data-label="Attempts">{{ d.attempt }}</td>
            <td data-label="First attempt">{{ fmtTime(d.first_attempt_at) }}</td>
            <td data-label="Latest">{{ fmtTime(d.last_attempt_at) }} · {{ fmtMs(d.response_ms) }}</td>
            <td class="actions"><a class="button" :href="logsHref(d)" :aria-label="'Logs of ' + (d.webhook_name ?? d.webhook_id)">Logs</a></td>
          </tr>
          <tr v-if="!result.items.length"><td colspan="9" class="muted">No delivery matches.</td></tr>
        </tbody>
      </table>
      <button v-if="result.next" type="button" @click="search(true)" :disabled="result.loading">More</button>
    </div>
  </section>`,
};
