// A hash router: navigation state only (integration and webhook ids), never the token.
import { reactive } from "vue";

const ROUTES = [
  ["integrations", /^\/?$/u],
  ["webhooks", /^\/integrations\/([^/]+)\/webhooks\/?$/u],
  ["new", /^\/integrations\/([^/]+)\/webhooks\/new$/u],
  ["edit", /^\/integrations\/([^/]+)\/webhooks\/([^/]+)\/edit$/u],
  ["logs", /^\/integrations\/([^/]+)\/webhooks\/([^/]+)\/logs$/u],
  ["status", /^\/integrations\/([^/]+)\/webhooks\/([^/]+)\/status$/u],
  ["priority", /^\/integrations\/([^/]+)\/priority-rules$/u],
  ["deliveries", /^\/integrations\/([^/]+)\/deliveries$/u],
];

export function parseHash(hash) {
  const path = hash.replace(/^#/u, "") || "/";
  for (const [name, re] of ROUTES) {
    const m = re.exec(path);
    if (m) return { name, integrationId: m[1] ? decodeURIComponent(m[1]) : null, webhookId: m[2] ? decodeURIComponent(m[2]) : null };
  }
  return { name: "notfound", integrationId: null, webhookId: null };
}

export const route = reactive(parseHash(window.location.hash));

window.addEventListener("hashchange", () => Object.assign(route, parseHash(window.location.hash)));

export function href(name, integrationId, webhookId) {
  const i = encodeURIComponent(integrationId ?? "");
  const w = encodeURIComponent(webhookId ?? "");
  return {
    integrations: "#/",
    webhooks: `#/integrations/${i}/webhooks`,
    new: `#/integrations/${i}/webhooks/new`,
    edit: `#/integrations/${i}/webhooks/${w}/edit`,
    logs: `#/integrations/${i}/webhooks/${w}/logs`,
    status: `#/integrations/${i}/webhooks/${w}/status`,
    priority: `#/integrations/${i}/priority-rules`,
    deliveries: `#/integrations/${i}/deliveries`,
  }[name];
}

export function go(name, integrationId, webhookId) {
  window.location.hash = href(name, integrationId, webhookId);
}
