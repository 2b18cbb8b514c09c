// Pure grouping of catalog entries for the type pickers (exported for the browser tests).
const SURVEYMONKEY_GROUPS = [
  ["Responses", /^response_/u],
  ["Collectors", /^collector_/u],
  ["Surveys", /^survey_/u],
  ["Contact lists", /^contact_list_/u],
  ["Contacts", /^contact_/u],
];

/** The group an event or object type belongs to: SurveyMonkey by prefix, FHIR and dotted custom names
 * by the part before the dot (the resource type), anything else in "Other". */
export function groupOf(name, integrationType) {
  if (name === "*") return "All";
  if (integrationType === "surveymonkey") {
    for (const [label, re] of SURVEYMONKEY_GROUPS) if (re.test(name)) return label;
    return "Other";
  }
  return name.includes(".") ? name.split(".")[0] : "Other";
}

/** [{label, items: [{name, description}]}] in a stable order; `extra` adds values the webhook already has. */
export function groupEntries(entries, integrationType, { wildcards = false, extra = [] } = {}) {
  const described = new Map(entries.map((e) => [e.name, e.description ?? ""]));
  for (const name of extra) if (!described.has(name)) described.set(name, name.includes("*") ? "wildcard" : "");
  if (wildcards) {
    const prefixes = new Set([...described.keys()].filter((n) => n.includes(".") && !n.endsWith(".*")).map((n) => n.split(".")[0]));
    if (prefixes.size) described.set("*", "every event type");
    for (const p of prefixes) described.set(`${p}.*`, `every ${p} event`);
  }
  const groups = new Map();
  for (const [name, description] of described) {
    const label = groupOf(name, integrationType);
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push({ name, description });
  }
  const order = (label) => (label === "All" ? 0 : label === "Other" ? 2 : 1);
  return [...groups.entries()]
    .sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b))
    .map(([label, items]) => ({ label, items: items.sort((x, y) => (x.name.endsWith("*") ? -1 : y.name.endsWith("*") ? 1 : x.name.localeCompare(y.name))) }));
}
