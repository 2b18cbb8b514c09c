// Who is logged in. The role only hides controls; the API enforces it on every call.
import { defineStore } from "pinia";
import { ApiError, clearToken, getToken, request, setToken } from "../api.js";
import { useIntegrationsStore } from "./integrations.js";
import { useWebhooksStore } from "./webhooks.js";

const RANK = { viewer: 0, operator: 1, admin: 2 };

async function askWhoAmI() {
  try {
    return await request("GET", "/me");
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 405)) throw err;
  }
  // No /admin/me on this server: a token that can list tokens is an admin; any other valid token is
  // shown the read-only page (an operator still gets its test and retry rights from the API).
  await request("GET", "/integrations");
  try {
    await request("GET", "/tokens");
    return { name: "admin", role: "admin", integration_ids: null };
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return { name: "token", role: "viewer", integration_ids: null };
    throw err;
  }
}

export const useSessionStore = defineStore("session", {
  state: () => ({ me: null, checking: false, error: null }),
  getters: {
    loggedIn: (state) => state.me !== null,
    role: (state) => state.me?.role ?? "viewer",
    canEdit: (state) => RANK[state.me?.role] >= RANK.admin,
    canOperate: (state) => RANK[state.me?.role] >= RANK.operator,
  },
  actions: {
    async login(token) {
      this.checking = true;
      this.error = null;
      setToken(token.trim());
      try {
        this.me = await askWhoAmI();
      } catch (err) {
        clearToken();
        this.me = null;
        this.error = err.status === 401 ? "That token is not valid." : err.message;
      } finally {
        this.checking = false;
      }
    },
    async restore() {
      // A reload keeps the session (sessionStorage survives reloads, not a closed tab).
      if (getToken()) await this.login(getToken());
    },
    logout(reason = null) {
      clearToken();
      this.me = null;
      this.error = reason;
      // Another token may see other integrations: drop everything the previous one loaded.
      useWebhooksStore().$reset();
      useIntegrationsStore().$reset();
    },
    /** Called once by App: a 401 on any call ends the session. */
    watchUnauthorized() {
      window.addEventListener("carehooks:unauthorized", () => {
        if (this.me) this.logout("Your token is no longer valid; sign in again.");
      });
    },
  },
});
