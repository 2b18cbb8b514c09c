// Display helpers (pure).
export function fmtTime(value) {
  if (!value) return "—";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function fmtPercent(rate) {
  if (rate === null || rate === undefined || Number.isNaN(Number(rate))) return "—";
  const r = Number(rate);
  return `${(r <= 1 ? r * 100 : r).toFixed(1)} %`;
}

export function fmtMs(ms) {
  return ms === null || ms === undefined ? "—" : `${Math.round(Number(ms))} ms`;
}

export function catalogName(entry) {
  return typeof entry === "string" ? entry : entry.name;
}

/** {type, hint} of a webhook's write-only auth, e.g. {type: "basic", hint: "username alice, password ****abcd"}. */
export function authHint(webhook) {
  const auth = webhook?.auth ?? { type: webhook?.auth_type ?? "none" };
  const hint = Object.entries(auth)
    .filter(([k]) => k !== "type")
    .map(([k, v]) => `${k.replace(/_hint$/u, "")} ${v}`)
    .join(", ");
  return { type: auth.type ?? "none", hint };
}
