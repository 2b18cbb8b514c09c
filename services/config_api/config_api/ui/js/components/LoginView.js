// Token login. The token goes to sessionStorage only (see api.js).
import { ref } from "vue";
import { useSessionStore } from "../stores/session.js";

export const LoginView = {
  setup() {
    const session = useSessionStore();
    const token = ref("");
    const submit = async () => {
      if (token.value.trim()) await session.login(token.value);
      token.value = "";
    };
    return { session, token, submit };
  },
  template: `
  <section class="card narrow" aria-labelledby="login-title">
    <h1 id="login-title">Sign in</h1>
    <p class="muted">Paste an API token (admin, operator or viewer). It is kept for this browser tab only.</p>
    <form @submit.prevent="submit">
      <label for="token">API token</label>
      <input id="token" v-model="token" type="password" autocomplete="off" required aria-describedby="login-error" />
      <p id="login-error" class="error" role="alert" v-if="session.error">{{ session.error }}</p>
      <button type="submit" class="primary" :disabled="session.checking || !token.trim()">
        {{ session.checking ? "Checking…" : "Sign in" }}
      </button>
    </form>
  </section>`,
};
