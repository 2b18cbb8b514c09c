// Admin → Integrations: the list; selecting one shows its card with "Manage Webhooks".
import { computed, onMounted, ref } from "vue";
import { go } from "../router.js";
import { useIntegrationsStore } from "../stores/integrations.js";

export const IntegrationsView = {
  setup() {
    const store = useIntegrationsStore();
    const selectedId = ref(null);
    const selected = computed(() => store.byId(selectedId.value));
    const manage = (id) => go("webhooks", id);
    // Coming back to the list: counts may have changed since App loaded it at sign-in.
    onMounted(() => {
      if (store.integrations.length && !store.loading) store.fetchIntegrations();
    });
    return { store, selectedId, selected, manage };
  },
  template: `
  <section aria-labelledby="int-title">
    <div class="titlebar">
      <h1 id="int-title">Integrations</h1>
      <button type="button" @click="store.fetchIntegrations()" :disabled="store.loading">{{ store.loading ? "Loading…" : "Refresh" }}</button>
    </div>
    <p class="error" role="alert" v-if="store.error">{{ store.error.message }}</p>
    <p v-if="store.loading && !store.integrations.length" class="muted" role="status">Loading integrations…</p>
    <div class="table-wrap" v-else>
      <table class="rows">
        <caption class="sr-only">Integrations</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Webhooks</th><th scope="col">Failing</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          <tr v-for="i in store.integrations" :key="i.id" :class="{ selected: i.id === selectedId }" :data-integration="i.id">
            <td data-label="Name"><button type="button" class="link" :aria-pressed="i.id === selectedId" @click="selectedId = i.id">{{ i.name }}</button></td>
            <td data-label="Type"><span class="badge">{{ i.type }}</span></td>
            <td data-label="Webhooks">{{ store.summaries[i.id]?.webhooks ?? "…" }}</td>
            <td data-label="Failing"><span :class="{ bad: store.summaries[i.id]?.failing > 0 }">{{ store.summaries[i.id]?.failing ?? "…" }}</span></td>
            <td class="actions"><button type="button" @click="manage(i.id)" :aria-label="'Manage Webhooks of ' + i.name">Manage Webhooks</button></td>
          </tr>
          <tr v-if="!store.loading && !store.integrations.length"><td colspan="5" class="muted">No integrations.</td></tr>
        </tbody>
      </table>
    </div>
    <section v-if="selected" class="card" aria-labelledby="sel-title" data-testid="selected-integration">
      <h2 id="sel-title">{{ selected.name }}</h2>
      <dl class="facts">
        <div><dt>Id</dt><dd><code>{{ selected.id }}</code></dd></div>
        <div><dt>Type</dt><dd>{{ selected.type }}</dd></div>
        <div><dt>Webhooks</dt><dd>{{ store.summaries[selected.id]?.webhooks ?? "…" }}</dd></div>
        <div><dt>Failing</dt><dd>{{ store.summaries[selected.id]?.failing ?? "…" }}</dd></div>
      </dl>
      <button type="button" class="primary" @click="manage(selected.id)">Manage Webhooks</button>
    </section>
  </section>`,
};
