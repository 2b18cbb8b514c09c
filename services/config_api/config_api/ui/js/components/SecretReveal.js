// A signing secret shown once, with a copy button (the API will not show it again).
import { ref } from "vue";

export const SecretReveal = {
  props: { secret: String, title: { type: String, default: "Signing secret" }, note: String },
  setup(props) {
    const copied = ref("");
    const field = ref(null);
    const copy = async () => {
      try {
        await navigator.clipboard.writeText(props.secret);
        copied.value = "Copied to the clipboard.";
      } catch {
        // Clipboard API refused (insecure context or permission): select the text for Ctrl+C instead.
        field.value?.select();
        copied.value = "Selected: press Ctrl+C (⌘C) to copy.";
      }
    };
    return { copied, copy, field };
  },
  template: `
  <section class="card secret" aria-labelledby="secret-title" data-testid="secret-reveal">
    <h2 id="secret-title">{{ title }}</h2>
    <p>Store it now: it is shown only once. Receivers verify the <code>webhook-signature</code> header with it.</p>
    <p v-if="note" class="muted">{{ note }}</p>
    <label for="secret-value">Secret</label>
    <div class="row">
      <input id="secret-value" ref="field" readonly :value="secret" data-testid="secret-value" />
      <button type="button" @click="copy">Copy</button>
    </div>
    <p role="status" class="muted">{{ copied }}</p>
  </section>`,
};
