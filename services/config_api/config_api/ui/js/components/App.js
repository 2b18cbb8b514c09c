// Shell: login gate, header with who-am-I, breadcrumb "Admin → Integrations → <name> → Manage Webhooks".
import { computed, onMounted, watch } from "vue";
import { href, route } from "../router.js";
import { useIntegrationsStore } from "../stores/integrations.js";
import { useSessionStore } from "../stores/session.js";
import { useWebhooksStore } from "../stores/webhooks.js";
import { IntegrationsView } from "./IntegrationsView.js";
import { LoginView } from "./LoginView.js";
import { LogsView } from "./LogsView.js";
import { PriorityRulesView } from "./PriorityRulesView.js";
import { DeliverySearchView } from "./DeliverySearchView.js";
import { StatusView } from "./StatusView.js";
import { WebhookForm } from "./WebhookForm.js";
import { WebhooksView } from "./WebhooksView.js";

export const App = {
  components: { LoginView, IntegrationsView, WebhooksView, WebhookForm, LogsView, StatusView, PriorityRulesView, DeliverySearchView },
  setup() {
    const session = useSessionStore();
    const integrations = useIntegrationsStore();
    const webhooks = useWebhooksStore();
    onMounted(() => {
      session.watchUnauthorized();
      session.restore();
    });
    // Every page below the integrations list works inside one integration: load it when the route says so.
    watch(
      () => [session.loggedIn, route.integrationId],
      async ([loggedIn, id]) => {
        if (!loggedIn) return;
        if (!integrations.integrations.length) await integrations.fetchIntegrations();
        if (id && id !== webhooks.currentIntegrationId) await webhooks.selectIntegration(id);
      },
      { immediate: true },
    );
    const integration = computed(() => integrations.byId(route.integrationId));
    const webhook = computed(() => webhooks.byId(route.webhookId));
    const pageTitle = computed(() => ({ integrations: "Integrations", webhooks: "Manage Webhooks", new: "New webhook", edit: "Edit webhook", logs: "Delivery logs", status: "Status", priority: "Priority rules", deliveries: "Search deliveries" })[route.name] ?? "Not found");
    watch(pageTitle, (t) => { document.title = `${t} · carehooks admin`; }, { immediate: true });
    return { session, route, href, integration, webhook, pageTitle };
  },
  template: `
  <a class="skip" href="#main">Skip to content</a>
  <header class="topbar">
    <span class="brand">carehooks</span>
    <span class="spacer"></span>
    <template v-if="session.loggedIn">
      <span class="who">{{ session.me.name }} <span class="badge" :class="'role-' + session.role" data-testid="role">{{ session.role }}</span></span>
      <button type="button" class="link" @click="session.logout()">Log out</button>
    </template>
  </header>
  <main id="main" tabindex="-1">
    <LoginView v-if="!session.loggedIn" />
    <template v-else>
      <nav aria-label="Breadcrumb" class="crumbs">
        <ol>
          <li>Admin</li>
          <li><a :href="href('integrations')" :aria-current="route.name === 'integrations' ? 'page' : null">Integrations</a></li>
          <li v-if="route.integrationId">{{ integration ? integration.name : route.integrationId }}</li>
          <li v-if="route.integrationId"><a :href="href('webhooks', route.integrationId)" :aria-current="route.name === 'webhooks' ? 'page' : null">Manage Webhooks</a></li>
          <li v-if="route.webhookId">{{ webhook ? webhook.name : route.webhookId }}</li>
          <li v-if="['new','edit','logs','status','priority','deliveries'].includes(route.name)" aria-current="page">{{ pageTitle }}</li>
        </ol>
      </nav>
      <IntegrationsView v-if="route.name === 'integrations'" />
      <WebhooksView v-else-if="route.name === 'webhooks'" :key="route.integrationId" />
      <WebhookForm v-else-if="route.name === 'new' || route.name === 'edit'" :key="route.name + (route.webhookId || '')" :webhook-id="route.webhookId" />
      <LogsView v-else-if="route.name === 'logs'" :key="'logs' + route.webhookId" :webhook-id="route.webhookId" />
      <StatusView v-else-if="route.name === 'status'" :key="'status' + route.webhookId" :webhook-id="route.webhookId" />
      <DeliverySearchView v-else-if="route.name === 'deliveries'" :key="'deliveries' + route.integrationId" />
      <PriorityRulesView v-else-if="route.name === 'priority'" :key="'priority' + route.integrationId" />
      <p v-else role="alert">This page does not exist. <a :href="href('integrations')">Back to the integrations</a>.</p>
    </template>
  </main>`,
};
