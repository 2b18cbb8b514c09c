// Inline SVG bar chart of attempts (blue) and failures (red) per time bucket, with a text alternative.
import { computed } from "vue";

const W = 1000;
const H = 160;
const PAD = 24;

/** Normalise a series bucket whatever the server calls its fields. Exported for tests. */
export function toPoint(b) {
  const t = b.t ?? b.ts ?? b.time ?? b.bucket ?? b.bucket_start ?? b.start ?? b.at;
  const attempts = Number(b.attempts ?? b.total ?? b.count ?? 0);
  const failures = Number(b.failed ?? b.failures ?? b.failed_attempts ?? 0);
  return { t, attempts, failures };
}

export const AttemptsChart = {
  props: { series: { type: Array, default: () => [] } },
  setup(props) {
    const points = computed(() => props.series.map(toPoint));
    const max = computed(() => Math.max(1, ...points.value.map((p) => p.attempts)));
    const bars = computed(() => {
      const n = Math.max(points.value.length, 1);
      const slot = (W - 2 * PAD) / n;
      const scale = (v) => (v / max.value) * (H - 2 * PAD);
      return points.value.map((p, i) => ({
        x: PAD + i * slot + slot * 0.1, w: Math.max(slot * 0.8, 1),
        ha: scale(p.attempts), hf: scale(p.failures), label: `${p.t ? new Date(p.t).toLocaleString() : i}: ${p.attempts} attempts, ${p.failures} failed`,
      }));
    });
    const totals = computed(() => points.value.reduce((a, p) => ({ attempts: a.attempts + p.attempts, failures: a.failures + p.failures }), { attempts: 0, failures: 0 }));
    return { W, H, PAD, bars, max, totals, points };
  },
  template: `
  <figure class="chart" data-testid="status-chart">
    <svg :viewBox="'0 0 ' + W + ' ' + H" role="img" :aria-label="'Attempts per interval: ' + totals.attempts + ' attempts, ' + totals.failures + ' failed, peak ' + max + ' per interval'">
      <line :x1="PAD" :y1="H - PAD" :x2="W - PAD" :y2="H - PAD" class="axis" />
      <text :x="PAD" :y="PAD - 8" class="axis-label">{{ max }}</text>
      <text :x="PAD" :y="H - 6" class="axis-label">{{ points.length ? "older" : "no attempts in this window" }}</text>
      <text :x="W - PAD" :y="H - 6" class="axis-label" text-anchor="end" v-if="points.length">now</text>
      <g v-for="(b, i) in bars" :key="i">
        <rect :x="b.x" :y="H - PAD - b.ha" :width="b.w" :height="b.ha" class="bar-attempts"><title>{{ b.label }}</title></rect>
        <rect :x="b.x" :y="H - PAD - b.hf" :width="b.w" :height="b.hf" class="bar-failures"><title>{{ b.label }}</title></rect>
      </g>
    </svg>
    <figcaption><span class="key attempts"></span> attempts <span class="key failures"></span> failures</figcaption>
  </figure>`,
};
