// Integrations and their per-integration summary (webhook count, failing count).
import { defineStore } from "pinia";
import { asPage, request } from "../api.js";

export const useIntegrationsStore = defineStore("integrations", {
  state: () => ({ integrations: [], summaries: {}, loading: false, error: null }),
  getters: {
    byId: (state) => (id) => state.integrations.find((i) => i.id === id) ?? null,
  },
  actions: {
    async fetchIntegrations() {
      this.loading = true;
      this.error = null;
      try {
        this.integrations = asPage(await request("GET", "/integrations")).items;
        await Promise.all(this.integrations.map((i) => this.fetchSummary(i)));
      } catch (err) {
        this.error = err;
      } finally {
        this.loading = false;
      }
    },
    async fetchSummary(integration) {
      // Use the API's counts when it sends them; otherwise count from the webhook list.
      const failing = integration.failing_webhook_count ?? integration.failing_count;
      if (integration.webhook_count !== undefined && failing !== undefined && failing !== null) {
        this.summaries[integration.id] = { webhooks: integration.webhook_count, failing };
        return;
      }
      try {
        const summary = await request("GET", `/integration/${encodeURIComponent(integration.id)}/delivery-summary`);
        this.summaries[integration.id] = { webhooks: integration.webhook_count ?? summary.webhooks.length, failing: summary.failing };
      } catch {
        this.summaries[integration.id] = { webhooks: "?", failing: "?" };
      }
    },
  },
});
