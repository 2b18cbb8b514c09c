// Priority rules of one integration: which contacts and events go to the priority lane. Admins edit,
// everyone else reads. The server validates again (field "1".."6", catalog event types).
import { computed, onMounted, reactive, ref } from "vue";
import { request } from "../api.js";
import { fmtTime } from "../format.js";
import { href, route } from "../router.js";
import { useIntegrationsStore } from "../stores/integrations.js";
import { useSessionStore } from "../stores/session.js";
import { useWebhooksStore } from "../stores/webhooks.js";
import { TypePicker } from "./TypePicker.js";

const FIELDS = ["1", "2", "3", "4", "5", "6"];
const split = (text) => text.split(/[\s,]+/u).map((s) => s.trim()).filter(Boolean);

export const PriorityRulesView = {
  components: { TypePicker },
  setup() {
    const session = useSessionStore();
    const webhooks = useWebhooksStore();
    const integrations = useIntegrationsStore();
    const integrationType = computed(() => integrations.byId(route.integrationId)?.type ?? "custom");
    const form = reactive({ custom_field_rules: [], contact_ids: "", contact_list_ids: "", event_types: [] });
    const meta = reactive({ loading: true, saving: false, updatedAt: null, error: "", saved: "" });
    const errors = ref({});
    const path = () => `/integration/${encodeURIComponent(route.integrationId)}/priority-rules`;
    const load = async () => {
      meta.loading = true;
      meta.error = "";
      try {
        const rules = await request("GET", path());
        Object.assign(form, {
          custom_field_rules: (rules.custom_field_rules ?? []).map((r) => ({ ...r })),
          contact_ids: (rules.contact_ids ?? []).join("\n"),
          contact_list_ids: (rules.contact_list_ids ?? []).join("\n"),
          event_types: [...(rules.event_types ?? [])],
        });
        meta.updatedAt = rules.updated_at;
      } catch (err) {
        meta.error = err.message;
      } finally {
        meta.loading = false;
      }
    };
    const save = async () => {
      Object.assign(meta, { saving: true, error: "", saved: "" });
      errors.value = {};
      try {
        const rules = await request("PUT", path(), {
          body: {
            custom_field_rules: form.custom_field_rules.map((r) => ({ field: String(r.field), equals: r.equals })),
            contact_ids: split(form.contact_ids),
            contact_list_ids: split(form.contact_list_ids),
            event_types: [...form.event_types],
          },
        });
        meta.updatedAt = rules.updated_at;
        meta.saved = "Saved: the dispatcher uses the new rules within seconds.";
      } catch (err) {
        errors.value = err.fields ?? {};
        meta.error = err.message;
      } finally {
        meta.saving = false;
      }
    };
    const addRule = () => form.custom_field_rules.push({ field: "1", equals: "" });
    const removeRule = (i) => form.custom_field_rules.splice(i, 1);
    const ruleError = (i) => Object.entries(errors.value).filter(([k]) => k.startsWith(`custom_field_rules.${i}`)).map(([, v]) => v).join("; ");
    onMounted(load);
    return { session, webhooks, integrationType, form, meta, errors, save, addRule, removeRule, ruleError, href, route, fmtTime, FIELDS };
  },
  template: `
  <section aria-labelledby="pr-title">
    <div class="titlebar">
      <h1 id="pr-title">Priority rules</h1>
      <a class="button" :href="href('webhooks', route.integrationId)">Back to the webhooks</a>
    </div>
    <p class="muted">Events of matching contacts, and events of the types listed here, are delivered on the priority lane,
      ahead of the normal backlog. Last changed: {{ fmtTime(meta.updatedAt) }}.</p>
    <p v-if="!session.canEdit" class="muted" data-testid="rules-read-only">Read-only: your token's role is {{ session.role }}.</p>
    <p v-if="meta.loading" role="status" class="muted">Loading the rules…</p>
    <form v-else class="card form" @submit.prevent="save" novalidate data-testid="priority-rules">
      <fieldset :disabled="!session.canEdit">
        <legend>Contact custom fields</legend>
        <p class="hint">A contact is a priority contact when custom field N equals the value (case-insensitive).</p>
        <div class="rules-list">
          <div class="row" v-for="(rule, i) in form.custom_field_rules" :key="i" data-testid="field-rule">
            <label :for="'pr-field-' + i" class="inline">Field</label>
            <select :id="'pr-field-' + i" v-model="rule.field" class="short"><option v-for="f in FIELDS" :key="f" :value="f">{{ f }}</option></select>
            <label :for="'pr-equals-' + i" class="inline">equals</label>
            <input :id="'pr-equals-' + i" v-model="rule.equals" />
            <button type="button" class="link" @click="removeRule(i)" :aria-label="'Remove rule ' + (i + 1)">Remove</button>
            <p class="error" v-if="ruleError(i)">{{ ruleError(i) }}</p>
          </div>
        </div>
        <button type="button" @click="addRule">Add a field rule</button>
      </fieldset>
      <div class="grid2">
        <div class="field">
          <label for="pr-contacts">Contact ids</label>
          <textarea id="pr-contacts" v-model="form.contact_ids" rows="3" :disabled="!session.canEdit"></textarea>
          <p class="hint">One per line or comma-separated.</p>
          <p class="error" v-if="errors.contact_ids">{{ errors.contact_ids }}</p>
        </div>
        <div class="field">
          <label for="pr-lists">Contact list ids</label>
          <textarea id="pr-lists" v-model="form.contact_list_ids" rows="3" :disabled="!session.canEdit"></textarea>
          <p class="error" v-if="errors.contact_list_ids">{{ errors.contact_list_ids }}</p>
        </div>
      </div>
      <TypePicker id="pr-events" label="Event types always on the priority lane" :entries="webhooks.eventTypes" :integration-type="integrationType"
        wildcards v-model="form.event_types" :error="errors.event_types || ''" hint="Optional." />
      <p class="error" role="alert" v-if="meta.error" data-testid="rules-error">{{ meta.error }}</p>
      <p role="status" class="ok-text" v-if="meta.saved">{{ meta.saved }}</p>
      <div class="buttons" v-if="session.canEdit">
        <button type="submit" class="primary" :disabled="meta.saving">{{ meta.saving ? "Saving…" : "Save rules" }}</button>
      </div>
    </form>
  </section>`,
};
