// The filter and criteria examples the form offers (ui/examples.json; a server test submits every one).
let cached = null;

export function loadExamples() {
  cached ??= fetch(new URL("../examples.json", import.meta.url))
    .then((r) => (r.ok ? r.json() : { filter: {}, criteria: {} }))
    .catch(() => ({ filter: {}, criteria: {} }));
  return cached;
}
