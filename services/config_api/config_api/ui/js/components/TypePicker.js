// A searchable checkbox list grouped by category (replaces a multi-select that needed Ctrl-click).
import { computed, ref } from "vue";
import { groupEntries } from "../catalog_groups.js";

export const TypePicker = {
  props: {
    id: { type: String, required: true },
    label: { type: String, required: true },
    entries: { type: Array, required: true },
    integrationType: { type: String, default: "custom" },
    wildcards: { type: Boolean, default: false },
    modelValue: { type: Array, required: true },
    hint: { type: String, default: "" },
    error: { type: String, default: "" },
  },
  emits: ["update:modelValue"],
  setup(props, { emit }) {
    const query = ref("");
    const groups = computed(() => groupEntries(props.entries, props.integrationType, { wildcards: props.wildcards, extra: props.modelValue }));
    const visible = computed(() => {
      const q = query.value.trim().toLowerCase();
      if (!q) return groups.value;
      return groups.value
        .map((g) => ({ ...g, items: g.items.filter((i) => i.name.toLowerCase().includes(q) || i.description.toLowerCase().includes(q) || g.label.toLowerCase().includes(q)) }))
        .filter((g) => g.items.length);
    });
    const selected = computed(() => new Set(props.modelValue));
    const toggle = (name, on) => {
      const next = props.modelValue.filter((n) => n !== name);
      if (on) next.push(name);
      emit("update:modelValue", next);
    };
    const clear = () => emit("update:modelValue", []);
    return { query, visible, selected, toggle, clear };
  },
  template: `
  <fieldset class="picker" :aria-describedby="id + '-hint'" :aria-invalid="!!error">
    <legend>{{ label }}</legend>
    <div class="row">
      <input :id="id + '-search'" type="search" v-model="query" :aria-label="'Search ' + label.toLowerCase()" placeholder="Search…" autocomplete="off" />
      <button type="button" class="link" @click="clear" :disabled="!modelValue.length">Clear ({{ modelValue.length }})</button>
    </div>
    <div class="picker-list" :data-testid="id + '-list'">
      <div v-for="g in visible" :key="g.label" class="picker-group">
        <h3>{{ g.label }}</h3>
        <label v-for="item in g.items" :key="item.name" class="check" :title="item.description">
          <input type="checkbox" :value="item.name" :checked="selected.has(item.name)" @change="toggle(item.name, $event.target.checked)" />
          <code>{{ item.name }}</code> <span class="muted small">{{ item.description }}</span>
        </label>
      </div>
      <p v-if="!visible.length" class="muted">Nothing matches "{{ query }}".</p>
    </div>
    <p :id="id + '-hint'" class="hint">{{ hint }}</p>
    <p :id="id + '-error'" class="error" v-if="error">{{ error }}</p>
  </fieldset>`,
};
