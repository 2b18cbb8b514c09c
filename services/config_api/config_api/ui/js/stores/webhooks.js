// The webhooks of the current integration. State names are fixed by the product documentation:
// webhooks, loading, creating, updating, deleting, error, currentIntegrationId, eventTypes, objectTypes.
// Results of test deliveries, logs and status are returned to the caller rather than kept here.
import { defineStore } from "pinia";
import { asPage, request } from "../api.js";

const enc = encodeURIComponent;

export const useWebhooksStore = defineStore("webhooks", {
  state: () => ({
    webhooks: [],
    loading: false,
    creating: false,
    updating: false,
    deleting: false,
    error: null,
    currentIntegrationId: null,
    eventTypes: [],
    objectTypes: [],
  }),
  getters: {
    base: (state) => `/integration/${enc(state.currentIntegrationId ?? "")}`,
    byId: (state) => (id) => state.webhooks.find((w) => w.id === id) ?? null,
  },
  actions: {
    async _run(flag, work) {
      if (flag) this[flag] = true;
      this.error = null;
      try {
        return await work();
      } catch (err) {
        this.error = err;
        throw err;
      } finally {
        if (flag) this[flag] = false;
      }
    },
    /** Switch integration: loads its catalogs and its webhooks. */
    async selectIntegration(integrationId) {
      if (this.currentIntegrationId !== integrationId) {
        this.currentIntegrationId = integrationId;
        this.webhooks = [];
        this.eventTypes = [];
        this.objectTypes = [];
      }
      await Promise.allSettled([this.fetchCatalogs(), this.fetchWebhooks()]);
    },
    async fetchCatalogs() {
      return this._run(null, async () => {
        const [events, objects] = await Promise.all([
          request("GET", `${this.base}/event-types`),
          request("GET", `${this.base}/object-types`),
        ]);
        this.eventTypes = asPage(events).items;
        this.objectTypes = asPage(objects).items;
      });
    },
    /** All webhooks of the integration; `quiet` (background refresh) leaves `loading` alone so nothing flickers. */
    async fetchWebhooks({ quiet = false } = {}) {
      return this._run(quiet ? null : "loading", async () => {
        // Follow the cursor so the table shows every webhook of the integration.
        const all = [];
        let cursor = null;
        do {
          const page = asPage(await request("GET", `${this.base}/webhooks`, { query: { limit: 100, cursor } }));
          all.push(...page.items);
          cursor = page.nextCursor;
        } while (cursor && all.length < 5000);
        this.webhooks = all;
        return all;
      });
    },
    async fetchWebhook(webhookId) {
      return this._run(null, async () => {
        const webhook = await request("GET", `${this.base}/webhooks/${enc(webhookId)}`);
        this._replace(webhook);
        return webhook;
      });
    },
    /** Create; the answer carries the signing secret, shown once by the caller. */
    async createWebhook(body, { verify = false } = {}) {
      return this._run("creating", async () => {
        const created = await request("POST", `${this.base}/webhooks`, { body, query: { verify: verify || undefined } });
        this.webhooks.push(created);
        return created;
      });
    },
    /** Partial update (PATCH): fields left out, such as write-only auth, stay as they are. */
    async updateWebhook(webhookId, changes, { verify = false } = {}) {
      return this._run("updating", async () => {
        const updated = await request("PATCH", `${this.base}/webhooks/${enc(webhookId)}`, { body: changes, query: { verify: verify || undefined } });
        this._replace(updated);
        return updated;
      });
    },
    async setActive(webhookId, active) {
      return this.updateWebhook(webhookId, { active });
    },
    async deleteWebhook(webhookId) {
      return this._run("deleting", async () => {
        await request("DELETE", `${this.base}/webhooks/${enc(webhookId)}`);
        this.webhooks = this.webhooks.filter((w) => w.id !== webhookId);
      });
    },
    /** The server's verdict on a whole webhook body (as create, or as PUT of webhookId), nothing saved. */
    async checkWebhook(body, webhookId = null) {
      return request("POST", `${this.base}/webhooks/check`, { body, query: { webhook_id: webhookId || undefined } });
    },
    /** One synchronous test delivery: {webhook_id} or {subscription_url, event_type}. */
    async testDelivery(body) {
      return this._run(null, () => request("POST", `${this.base}/webhooks/test`, { body }));
    },
    async fetchLogs(webhookId, filters = {}, cursor = null) {
      return this._run(null, async () => asPage(await request("GET", `${this.base}/webhooks/${enc(webhookId)}/logs`, { query: { ...filters, cursor, limit: filters.limit ?? 20 } })));
    },
    async fetchStatus(webhookId, window = "24h") {
      return this._run(null, () => request("GET", `${this.base}/webhooks/${enc(webhookId)}/status`, { query: { window } }));
    },
    async retryDelivery(webhookId, deliveryId) {
      return this._run(null, () => request("POST", `${this.base}/webhooks/${enc(webhookId)}/deliveries/${enc(deliveryId)}/retry`));
    },
    async rotateSecret(webhookId, gracePeriodS) {
      return this._run("updating", () => request("POST", `${this.base}/webhooks/${enc(webhookId)}/secret/rotate`, { body: { grace_period_s: gracePeriodS } }));
    },
    async fetchSecret(webhookId) {
      return this._run(null, () => request("GET", `${this.base}/webhooks/${enc(webhookId)}/secret`));
    },
    _replace(webhook) {
      const i = this.webhooks.findIndex((w) => w.id === webhook.id);
      if (i >= 0) this.webhooks.splice(i, 1, webhook);
      else this.webhooks.push(webhook);
    },
  },
});
