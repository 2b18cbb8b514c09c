// A modal confirmation on the native <dialog>: focus moves into it, Escape cancels.
import { nextTick, ref, watch } from "vue";

export const ConfirmDialog = {
  props: { open: Boolean, title: String, confirmLabel: { type: String, default: "Confirm" }, busy: Boolean, error: String },
  emits: ["confirm", "cancel"],
  setup(props, { emit }) {
    const dialog = ref(null);
    const cancelButton = ref(null);
    watch(
      () => props.open,
      async (open) => {
        await nextTick();
        const el = dialog.value;
        if (!el) return;
        if (open && !el.open) {
          el.showModal();
          cancelButton.value?.focus();
        } else if (!open && el.open) el.close();
      },
      { immediate: true },
    );
    const onCancel = (event) => {
      event.preventDefault();
      emit("cancel");
    };
    return { dialog, cancelButton, onCancel };
  },
  template: `
  <dialog ref="dialog" class="confirm" aria-labelledby="confirm-title" @cancel="onCancel">
    <h2 id="confirm-title">{{ title }}</h2>
    <div><slot /></div>
    <p class="error" role="alert" v-if="error">{{ error }}</p>
    <div class="buttons">
      <button type="button" ref="cancelButton" @click="$emit('cancel')" :disabled="busy">Cancel</button>
      <button type="button" class="danger" @click="$emit('confirm')" :disabled="busy">{{ busy ? "Working…" : confirmLabel }}</button>
    </div>
  </dialog>`,
};
