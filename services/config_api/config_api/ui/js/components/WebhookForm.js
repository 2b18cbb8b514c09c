// Create / edit one webhook. The server validates everything again; its 422 lands on the field it names.
import { computed, onMounted, onUnmounted, reactive, ref, watch } from "vue";
import { loadExamples } from "../examples.js";
import { authHint, catalogName } from "../format.js";
import { go, href, route } from "../router.js";
import { useIntegrationsStore } from "../stores/integrations.js";
import { useSessionStore } from "../stores/session.js";
import { useWebhooksStore } from "../stores/webhooks.js";
import { sanitizeUrl } from "../url.js";
import { SecretReveal } from "./SecretReveal.js";
import { TestResult } from "./TestResult.js";
import { TypePicker } from "./TypePicker.js";

// Shown as placeholders and hints; the server applies the same defaults to fields left empty.
export const RETRY_DEFAULTS = { max_attempts: 8, initial_delay_ms: 5000, multiplier: 5, max_delay_ms: 36000000, jitter: 0.2 };
export const TIMEOUT_DEFAULT_MS = 15000;
export const MAX_IN_FLIGHT_DEFAULT = 10;
// How long the form waits after the last keystroke before asking the server to check it.
const CHECK_DELAY_MS = 600;

function lines(text) {
  return text.split(/[\s,]+/u).map((s) => s.trim()).filter(Boolean);
}

function emptyForm() {
  return {
    name: "", description: "", subscription_url: "", event_types: [], object_types: [], object_ids: "", filter: "",
    priority: "normal", auth: { type: "none", username: "", password: "", token: "", name: "", value: "" },
    retry_policy: { max_attempts: "", initial_delay_ms: "", multiplier: "", max_delay_ms: "", jitter: "" },
    timeout_ms: "", max_in_flight: "", rate_limit_per_s: "", criteria: "", active: true, verify: false,
  };
}

export const WebhookForm = {
  components: { SecretReveal, TestResult, TypePicker },
  props: { webhookId: String },
  setup(props) {
    const store = useWebhooksStore();
    const session = useSessionStore();
    const integrations = useIntegrationsStore();
    const form = reactive(emptyForm());
    const examples = ref({ filter: {}, criteria: {} });
    loadExamples().then((e) => { examples.value = e; });
    const integrationType = computed(() => integrations.byId(route.integrationId)?.type ?? "custom");
    const filterExamples = computed(() => examples.value.filter?.[integrationType.value] ?? []);
    const criteriaExamples = computed(() => examples.value.criteria?.[integrationType.value] ?? []);
    const useFilterExample = (value) => { form.filter = JSON.stringify(value, null, 2); };
    // The server's verdict on the form as typed, before saving: "checking", "ok" or "errors".
    const check = reactive({ state: "", timer: null, seq: 0 });
    const original = ref(null);
    const replaceAuth = ref(!props.webhookId);
    const errors = ref({});
    const formError = ref("");
    const loadingWebhook = ref(Boolean(props.webhookId));
    const createdSecret = ref("");
    const rotation = reactive({ hours: 24, busy: false, secret: "", note: "", error: "" });
    const test = reactive({ shown: false, busy: false, result: null, error: null });
    const saved = ref("");

    // A field's server error goes away as soon as the field is edited.
    watch(
      () => JSON.stringify(form),
      (now, before) => {
        if (!before) return;
        const a = JSON.parse(now);
        const b = JSON.parse(before);
        for (const key of Object.keys(a)) if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) delete errors.value[key];
        scheduleCheck();
      },
    );
    const scheduleCheck = () => {
      clearTimeout(check.timer);
      if (!session.canEdit || loadingWebhook.value || createdSecret.value) return;
      check.timer = setTimeout(runCheck, CHECK_DELAY_MS);
    };
    const runCheck = async () => {
      if (filterError.value) return;
      const seq = ++check.seq;
      check.state = "checking";
      try {
        await store.checkWebhook(fullBody(), props.webhookId);
        if (seq !== check.seq) return;
        check.state = "ok";
        errors.value = {};
      } catch (err) {
        if (seq !== check.seq) return;
        check.state = err.status === 422 ? "errors" : "";
        if (err.status === 422) errors.value = err.fields ?? {};
      }
    };
    onUnmounted(() => clearTimeout(check.timer));
    const preview = computed(() => sanitizeUrl(form.subscription_url));
    const previewDiffers = computed(() => form.subscription_url !== "" && preview.value !== form.subscription_url);
    const filterError = computed(() => {
      if (!form.filter.trim()) return "";
      try {
        const parsed = JSON.parse(form.filter);
        return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? "" : "The filter must be a JSON object.";
      } catch (err) {
        return `Not valid JSON: ${err.message}`;
      }
    });
    // Catalog entries plus wildcards ("*", "Appointment.*") for dotted (FHIR) event names, plus any
    // value the webhook already has, so editing never silently drops a subscription.
    const eventOptions = computed(() => {
      const names = store.eventTypes.map(catalogName);
      const prefixes = [...new Set(names.filter((n) => n.includes(".")).map((n) => `${n.split(".")[0]}.*`))];
      const wild = prefixes.length ? ["*", ...prefixes] : [];
      const described = Object.fromEntries(store.eventTypes.map((e) => [catalogName(e), e.description ?? ""]));
      return [...new Set([...names, ...wild, ...form.event_types])].map((n) => ({ name: n, description: described[n] ?? (n.includes("*") ? "wildcard" : "") }));
    });
    const objectOptions = computed(() => [...new Set([...store.objectTypes.map(catalogName), ...form.object_types])]);
    const currentAuth = computed(() => authHint(original.value));

    onMounted(async () => {
      if (!props.webhookId) return;
      try {
        const w = await store.fetchWebhook(props.webhookId);
        original.value = w;
        Object.assign(form, {
          name: w.name ?? "", description: w.description ?? "", subscription_url: w.subscription_url ?? "", event_types: [...(w.event_types ?? [])],
          object_types: [...(w.object_types ?? [])], object_ids: (w.object_ids ?? []).join("\n"),
          filter: w.filter ? JSON.stringify(w.filter, null, 2) : "", priority: w.priority ?? "normal",
          timeout_ms: w.timeout_ms ?? "", active: w.active !== false, criteria: w.criteria ?? "",
          max_in_flight: w.max_in_flight ?? "", rate_limit_per_s: w.rate_limit_per_s ?? "",
        });
        for (const key of Object.keys(RETRY_DEFAULTS)) form.retry_policy[key] = w.retry_policy?.[key] ?? "";
      } catch (err) {
        formError.value = err.message;
      } finally {
        loadingWebhook.value = false;
      }
    });

    const num = (v) => (v === "" || v === null || v === undefined ? undefined : Number(v));
    const buildBody = () => {
      const editing = Boolean(props.webhookId);
      const retry = Object.fromEntries(Object.keys(RETRY_DEFAULTS).map((k) => [k, num(form.retry_policy[k])]).filter(([, v]) => v !== undefined));
      const body = {
        // Create: an empty name lets the server default it to the URL's host.
        name: form.name.trim() || (editing ? form.name : undefined),
        description: form.description,
        // Sent as typed: the server sanitises and returns the stored form.
        subscription_url: form.subscription_url,
        event_types: [...form.event_types],
        object_types: form.object_types.length ? [...form.object_types] : editing ? null : undefined,
        object_ids: lines(form.object_ids).length ? lines(form.object_ids) : editing ? null : undefined,
        filter: form.filter.trim() ? JSON.parse(form.filter) : editing ? null : undefined,
        priority: form.priority,
        retry_policy: Object.keys(retry).length ? retry : undefined,
        timeout_ms: num(form.timeout_ms),
        max_in_flight: num(form.max_in_flight),
        rate_limit_per_s: form.rate_limit_per_s === "" ? (editing ? null : undefined) : num(form.rate_limit_per_s),
        criteria: form.criteria.trim() ? form.criteria.trim() : editing && integrationType.value === "fhir" ? null : undefined,
        active: form.active,
      };
      if (replaceAuth.value) {
        const a = form.auth;
        body.auth = { none: { type: "none" }, basic: { type: "basic", username: a.username, password: a.password }, bearer: { type: "bearer", token: a.token }, header: { type: "header", name: a.name, value: a.value } }[a.type];
      }
      return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
    };
    // The check endpoint takes a whole webhook (as create or PUT would): cleared fields are left out.
    const fullBody = () => {
      const body = Object.fromEntries(Object.entries(buildBody()).filter(([, v]) => v !== null));
      if (!body.name) delete body.name;
      return body;
    };

    const save = async () => {
      errors.value = {};
      formError.value = "";
      saved.value = "";
      if (filterError.value) {
        errors.value = { filter: filterError.value };
        return;
      }
      try {
        if (props.webhookId) {
          const w = await store.updateWebhook(props.webhookId, buildBody(), { verify: form.verify });
          original.value = w;
          form.subscription_url = w.subscription_url;
          replaceAuth.value = false;
          saved.value = "Saved.";
        } else {
          const w = await store.createWebhook(buildBody(), { verify: form.verify });
          createdSecret.value = w.signing_secret ?? w.secret ?? "";
          original.value = w;
          form.subscription_url = w.subscription_url;
          if (!createdSecret.value) go("webhooks", route.integrationId);
        }
      } catch (err) {
        errors.value = err.fields ?? {};
        formError.value = Object.keys(errors.value).length ? "Please correct the highlighted fields." : err.message;
      }
    };

    const sendTest = async () => {
      Object.assign(test, { shown: true, busy: true, result: null, error: null });
      const unchanged = original.value && sanitizeUrl(form.subscription_url) === original.value.subscription_url;
      const concrete = form.event_types.find((e) => !e.includes("*")) ?? catalogName(store.eventTypes[0] ?? "");
      const body = unchanged ? { webhook_id: original.value.id } : { subscription_url: form.subscription_url, event_type: concrete };
      try {
        test.result = await store.testDelivery(body);
      } catch (err) {
        test.error = err;
      } finally {
        test.busy = false;
      }
    };

    const rotate = async () => {
      Object.assign(rotation, { busy: true, secret: "", note: "", error: "" });
      try {
        const graceS = Math.round(Number(rotation.hours) * 3600);
        const answer = await store.rotateSecret(props.webhookId, graceS);
        rotation.secret = answer?.signing_secret ?? answer?.secret ?? "";
        // The answer lists the current secret first, then older ones with their expiry.
        const until = answer?.secrets?.find((s) => s.expires_at)?.expires_at ?? answer?.previous_expires_at;
        rotation.note = until ? `The previous secret stays valid until ${new Date(until).toLocaleString()}.` : `The previous secret stays valid for ${rotation.hours} h.`;
      } catch (err) {
        rotation.error = err.status === 422 ? (err.fields.grace_period_s ?? err.message) : err.message;
      } finally {
        rotation.busy = false;
      }
    };

    const describedBy = (field, hint) => [hint, errors.value[field] ? `${field.replace(/\./gu, "-")}-error` : ""].filter(Boolean).join(" ") || null;
    return {
      store, session, form, errors, formError, saved, loadingWebhook, preview, previewDiffers, filterError, eventOptions, objectOptions,
      currentAuth, replaceAuth, check, integrationType, filterExamples, criteriaExamples, useFilterExample, MAX_IN_FLIGHT_DEFAULT, createdSecret, rotation, test, save, sendTest, rotate, describedBy, href, route, RETRY_DEFAULTS, TIMEOUT_DEFAULT_MS,
      editing: computed(() => Boolean(props.webhookId)), busy: computed(() => store.creating || store.updating),
    };
  },
  template: `
  <section aria-labelledby="form-title">
    <h1 id="form-title">{{ editing ? "Edit webhook" : "New webhook" }}</h1>
    <p v-if="!session.canEdit" class="error" role="alert">Your token's role ({{ session.role }}) may not change webhooks.</p>
    <p v-if="loadingWebhook" role="status" class="muted">Loading the webhook…</p>
    <SecretReveal v-if="createdSecret" :secret="createdSecret" title="Webhook created: signing secret" />
    <p v-if="createdSecret"><a class="button primary" :href="href('webhooks', route.integrationId)">Done: back to the webhooks</a></p>
    <form v-else-if="!loadingWebhook && session.canEdit" class="card form" @submit.prevent="save" novalidate>
      <div class="field">
        <label for="f-name">Name</label>
        <input id="f-name" v-model="form.name" required maxlength="200" :aria-invalid="!!errors.name" :aria-describedby="describedBy('name')" />
        <p id="name-error" class="error" v-if="errors.name">{{ errors.name }}</p>
      </div>
      <div class="field">
        <label for="f-description">Description</label>
        <textarea id="f-description" v-model="form.description" rows="2" maxlength="2000" :aria-invalid="!!errors.description" :aria-describedby="describedBy('description', 'description-hint')"></textarea>
        <p id="description-hint" class="hint">Optional: what this webhook is for and who owns it. Searchable in the list.</p>
        <p id="description-error" class="error" v-if="errors.description">{{ errors.description }}</p>
      </div>
      <div class="field">
        <label for="f-url">Subscription URL</label>
        <input id="f-url" v-model="form.subscription_url" required inputmode="url" autocomplete="off" spellcheck="false"
          :aria-invalid="!!errors.subscription_url" :aria-describedby="describedBy('subscription_url', 'url-preview')" />
        <p id="url-preview" class="hint" aria-live="polite" data-testid="url-preview">
          <template v-if="form.subscription_url">Will be saved as <code>{{ preview }}</code><span v-if="previewDiffers"> (whitespace removed, scheme and host lower-cased)</span></template>
          <template v-else>https only (http only where the server allows it); spaces and tabs from copy-paste are removed.</template>
        </p>
        <p id="subscription_url-error" class="error" v-if="errors.subscription_url" data-testid="url-error">{{ errors.subscription_url }}</p>
      </div>
      <div class="grid2">
        <TypePicker id="f-events" label="Event types" :entries="store.eventTypes" :integration-type="integrationType" wildcards
          v-model="form.event_types" :error="errors.event_types || ''"
          :hint="'Required: pick one or more (' + form.event_types.length + ' selected). * and Resource.* are wildcards.'" />
        <TypePicker id="f-objects" label="Object types" :entries="store.objectTypes" :integration-type="integrationType"
          v-model="form.object_types" :error="errors.object_types || ''" hint="Optional: none selected means every object type." />
      </div>
      <div class="field">
        <label for="f-ids">Object ids</label>
        <textarea id="f-ids" v-model="form.object_ids" rows="2" :aria-describedby="describedBy('object_ids', 'ids-hint')"></textarea>
        <p id="ids-hint" class="hint">Optional: one per line or comma-separated (e.g. survey ids, Patient ids).</p>
        <p id="object_ids-error" class="error" v-if="errors.object_ids">{{ errors.object_ids }}</p>
      </div>
      <div class="field">
        <label for="f-filter">Filter (JSON)</label>
        <textarea id="f-filter" v-model="form.filter" rows="3" spellcheck="false" class="mono" :aria-invalid="!!(filterError || errors.filter)" :aria-describedby="describedBy('filter', 'filter-hint')"></textarea>
        <p id="filter-hint" class="hint">Optional predicate over the event: <code>type</code>, <code>object_type</code>, <code>object_id</code> or <code>data.&lt;path&gt;</code> with <code>$eq $ne $in $nin $gt $gte $lt $lte $exists $prefix $contains</code>, combined with <code>$and $or $not</code>.</p>
        <div class="examples" v-if="filterExamples.length" data-testid="filter-examples">
          <span class="muted small">Examples:</span>
          <button type="button" class="link small" v-for="ex in filterExamples" :key="ex.label" @click="useFilterExample(ex.value)" :title="JSON.stringify(ex.value)">{{ ex.label }}</button>
        </div>
        <p class="error" v-if="filterError" data-testid="filter-error">{{ filterError }}</p>
        <p id="filter-error" class="error" v-else-if="errors.filter">{{ errors.filter }}</p>
      </div>
      <div class="field" v-if="integrationType === 'fhir'">
        <label for="f-criteria">FHIR search criteria</label>
        <input id="f-criteria" v-model="form.criteria" spellcheck="false" class="mono" maxlength="2048" :aria-invalid="!!errors.criteria" :aria-describedby="describedBy('criteria', 'criteria-hint')" />
        <p id="criteria-hint" class="hint">Optional, ANDed with the filter: <code>&lt;ResourceType&gt;?&lt;param&gt;=&lt;value&gt;[&amp;…]</code>.
          <template v-if="criteriaExamples.length"> Examples:
            <button type="button" class="link small" v-for="ex in criteriaExamples" :key="ex.value" @click="form.criteria = ex.value" :title="ex.value" data-testid="criteria-example">{{ ex.label }}</button>
          </template>
        </p>
        <p id="criteria-error" class="error" v-if="errors.criteria">{{ errors.criteria }}</p>
      </div>
      <div class="grid2">
        <div class="field">
          <label for="f-priority">Priority</label>
          <select id="f-priority" v-model="form.priority"><option value="normal">normal</option><option value="high">high</option></select>
        </div>
        <div class="field">
          <label for="f-timeout">Timeout (ms)</label>
          <input id="f-timeout" type="number" min="100" max="30000" v-model="form.timeout_ms" :placeholder="String(TIMEOUT_DEFAULT_MS)" :aria-describedby="describedBy('timeout_ms', 'timeout-hint')" />
          <p id="timeout-hint" class="hint">100–30000, default {{ TIMEOUT_DEFAULT_MS }}.</p>
          <p id="timeout_ms-error" class="error" v-if="errors.timeout_ms">{{ errors.timeout_ms }}</p>
        </div>
      </div>
      <div class="grid2">
        <div class="field">
          <label for="f-inflight">Max in flight</label>
          <input id="f-inflight" type="number" min="1" max="1000" v-model="form.max_in_flight" :placeholder="String(MAX_IN_FLIGHT_DEFAULT)" :aria-invalid="!!errors.max_in_flight" :aria-describedby="describedBy('max_in_flight', 'inflight-hint')" />
          <p id="inflight-hint" class="hint">Concurrent requests to this endpoint, 1–1000, default {{ MAX_IN_FLIGHT_DEFAULT }}.</p>
          <p id="max_in_flight-error" class="error" v-if="errors.max_in_flight">{{ errors.max_in_flight }}</p>
        </div>
        <div class="field">
          <label for="f-rate">Rate limit (requests/s)</label>
          <input id="f-rate" type="number" min="0" step="any" v-model="form.rate_limit_per_s" placeholder="unlimited" :aria-invalid="!!errors.rate_limit_per_s" :aria-describedby="describedBy('rate_limit_per_s', 'rate-hint')" />
          <p id="rate-hint" class="hint">Optional: at most this many requests per second; empty means no limit.</p>
          <p id="rate_limit_per_s-error" class="error" v-if="errors.rate_limit_per_s">{{ errors.rate_limit_per_s }}</p>
        </div>
      </div>
      <fieldset>
        <legend>Authentication</legend>
        <div v-if="editing && !replaceAuth" class="row">
          <span data-testid="auth-current">Current: <strong>{{ currentAuth.type }}</strong> <code v-if="currentAuth.hint">{{ currentAuth.hint }}</code></span>
          <button type="button" @click="replaceAuth = true">Replace</button>
        </div>
        <template v-else>
          <div class="field">
            <label for="f-auth-type">Auth type</label>
            <select id="f-auth-type" v-model="form.auth.type">
              <option value="none">none</option><option value="basic">basic</option><option value="bearer">bearer token</option><option value="header">custom header</option>
            </select>
          </div>
          <div class="grid2" v-if="form.auth.type === 'basic'">
            <div class="field"><label for="f-auth-user">Username</label><input id="f-auth-user" v-model="form.auth.username" autocomplete="off" />
              <p class="error" v-if="errors['auth.username']">{{ errors['auth.username'] }}</p></div>
            <div class="field"><label for="f-auth-pass">Password</label><input id="f-auth-pass" type="password" v-model="form.auth.password" autocomplete="new-password" />
              <p class="error" v-if="errors['auth.password']">{{ errors['auth.password'] }}</p></div>
          </div>
          <div class="field" v-if="form.auth.type === 'bearer'"><label for="f-auth-token">Bearer token</label><input id="f-auth-token" type="password" v-model="form.auth.token" autocomplete="new-password" />
            <p class="error" v-if="errors['auth.token']">{{ errors['auth.token'] }}</p></div>
          <div class="grid2" v-if="form.auth.type === 'header'">
            <div class="field"><label for="f-auth-hname">Header name</label><input id="f-auth-hname" v-model="form.auth.name" autocomplete="off" />
              <p class="error" v-if="errors['auth.name']">{{ errors['auth.name'] }}</p></div>
            <div class="field"><label for="f-auth-hvalue">Header value</label><input id="f-auth-hvalue" type="password" v-model="form.auth.value" autocomplete="new-password" />
              <p class="error" v-if="errors['auth.value']">{{ errors['auth.value'] }}</p></div>
          </div>
          <p class="hint">Write-only: after saving, only the type and a masked hint are shown.</p>
          <button v-if="editing" type="button" class="link" @click="replaceAuth = false">Keep the current credentials</button>
        </template>
        <p class="error" v-if="errors.auth">{{ errors.auth }}</p>
      </fieldset>
      <fieldset>
        <legend>Retry policy</legend>
        <div class="grid5">
          <div class="field" v-for="(def, key) in RETRY_DEFAULTS" :key="key">
            <label :for="'f-retry-' + key">{{ key.replace(/_/g, " ") }}</label>
            <input :id="'f-retry-' + key" type="number" step="any" v-model="form.retry_policy[key]" :placeholder="String(def)" :aria-describedby="'retry-hint-' + key" />
            <p :id="'retry-hint-' + key" class="hint">default {{ def }}</p>
            <p class="error" v-if="errors['retry_policy.' + key]">{{ errors['retry_policy.' + key] }}</p>
          </div>
        </div>
        <p class="error" v-if="errors.retry_policy">{{ errors.retry_policy }}</p>
      </fieldset>
      <div class="row check">
        <input id="f-active" type="checkbox" role="switch" v-model="form.active" />
        <label for="f-active">Active (deliveries are sent)</label>
      </div>
      <div class="row check">
        <input id="f-verify" type="checkbox" v-model="form.verify" />
        <label for="f-verify">Send a test delivery before saving and refuse the change unless it answers 2xx</label>
      </div>
      <p class="muted small" aria-live="polite" data-testid="check-state">
        <template v-if="check.state === 'checking'">Checking with the server…</template>
        <template v-else-if="check.state === 'ok'">✓ The server accepts these settings.</template>
        <template v-else-if="check.state === 'errors'">The server would refuse these settings: see the highlighted fields.</template>
      </p>
      <p class="error" role="alert" v-if="formError" data-testid="form-error">{{ formError }}</p>
      <p role="status" class="ok-text" v-if="saved">{{ saved }}</p>
      <div class="buttons">
        <button type="submit" class="primary" :disabled="busy || !!filterError">{{ store.creating ? "Creating…" : store.updating ? "Saving…" : editing ? "Save changes" : "Create webhook" }}</button>
        <button type="button" @click="sendTest" :disabled="test.busy || !form.subscription_url || !eventOptions.length">{{ test.busy ? "Testing…" : "Send test delivery" }}</button>
        <a class="button" :href="href('webhooks', route.integrationId)">Cancel</a>
      </div>
    </form>
    <TestResult v-if="test.shown" :result="test.result" :error="test.error" :busy="test.busy" />
    <section v-if="editing && session.canEdit && !loadingWebhook" class="card" aria-labelledby="rotate-title">
      <h2 id="rotate-title">Rotate signing secret</h2>
      <p class="muted">A new secret is created; during the grace period deliveries carry both signatures.</p>
      <form class="row" @submit.prevent="rotate">
        <label for="f-grace">Grace period (hours)</label>
        <input id="f-grace" type="number" min="0" step="any" v-model="rotation.hours" class="short" />
        <button type="submit" :disabled="rotation.busy || store.updating">{{ rotation.busy ? "Rotating…" : "Rotate secret" }}</button>
      </form>
      <p class="error" role="alert" v-if="rotation.error">{{ rotation.error }}</p>
      <SecretReveal v-if="rotation.secret" :secret="rotation.secret" title="New signing secret" :note="rotation.note" />
    </section>
  </section>`,
};
