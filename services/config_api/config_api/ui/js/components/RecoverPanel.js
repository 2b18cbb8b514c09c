// "Recover failed deliveries since…": one bulk recovery through the API (re-sent once each through the
// normal worker path, paced), then its progress until it is done. Operators and admins.
import { onUnmounted, reactive } from "vue";
import { request } from "../api.js";

function localHourAgo() {
  const d = new Date(Date.now() - 3600 * 1000);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}

export const RecoverPanel = {
  props: { integrationId: { type: String, required: true }, webhookId: { type: String, required: true } },
  setup(props) {
    const form = reactive({ since: localHourAgo(), outcome: "", force: false });
    const state = reactive({ busy: false, error: "", recovery: null, timer: null });
    const base = () => `/integration/${encodeURIComponent(props.integrationId)}/webhooks/${encodeURIComponent(props.webhookId)}`;
    const follow = async () => {
      clearTimeout(state.timer);
      try {
        state.recovery = await request("GET", `${base()}/recoveries/${encodeURIComponent(state.recovery.id)}`);
      } catch (err) {
        state.error = err.message;
        return;
      }
      if (state.recovery.state === "running") state.timer = setTimeout(follow, 1000);
    };
    const start = async () => {
      Object.assign(state, { busy: true, error: "" });
      try {
        const since = new Date(form.since);
        if (Number.isNaN(since.getTime())) throw new Error("Pick the time the outage started.");
        state.recovery = await request("POST", `${base()}/recover`, {
          body: { since: since.toISOString(), outcome: form.outcome || null, force: form.force },
        });
        if (state.recovery.state === "running") state.timer = setTimeout(follow, 500);
      } catch (err) {
        state.error = err.message;
      } finally {
        state.busy = false;
      }
    };
    onUnmounted(() => clearTimeout(state.timer));
    return { form, state, start };
  },
  template: `
  <section class="card" aria-labelledby="recover-title" data-testid="recover-panel">
    <h2 id="recover-title">Recover failed deliveries</h2>
    <p class="muted">After the receiver's outage: every delivery since the time below whose last attempt failed is sent
      once more (with its own delivery id, so receivers de-duplicate), paced, audited. Deliveries an earlier recovery
      already re-sent are left out unless you force it.</p>
    <form class="row" @submit.prevent="start">
      <label for="rc-since" class="inline">Since</label>
      <input id="rc-since" type="datetime-local" v-model="form.since" class="short" required />
      <label for="rc-outcome" class="inline">Outcome</label>
      <select id="rc-outcome" v-model="form.outcome" class="short">
        <option value="">failed or dead-lettered</option><option value="failed">failed</option><option value="dead_lettered">dead-lettered</option>
      </select>
      <span class="row check"><input id="rc-force" type="checkbox" v-model="form.force" /><label for="rc-force">Again, even if already recovered</label></span>
      <button type="submit" class="primary" :disabled="state.busy || state.recovery?.state === 'running'">{{ state.busy ? "Starting…" : "Recover failed deliveries" }}</button>
    </form>
    <p class="error" role="alert" v-if="state.error">{{ state.error }}</p>
    <div v-if="state.recovery" role="status" aria-live="polite" data-testid="recover-progress">
      <p><span class="badge" :class="state.recovery.state === 'failed' ? 'bad' : 'ok'" data-testid="recover-state">{{ state.recovery.state }}</span>
        <span data-testid="recover-counts">{{ state.recovery.sent }} of {{ state.recovery.total }} sent</span>,
        {{ state.recovery.already_recovered }} already recovered, {{ state.recovery.skipped }} skipped (payload gone).
        <span v-if="state.recovery.error" class="error">{{ state.recovery.error }}</span></p>
    </div>
  </section>`,
};
