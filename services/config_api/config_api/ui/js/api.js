// The only module that talks to the config API. The bearer token lives in sessionStorage (gone when the
// tab closes) and travels only in the Authorization header, never in a URL.

const TOKEN_KEY = "carehooks.admin.token";

// The UI is served at <base>/ui/ next to the API routes under <base> (normally /admin).
export const API_BASE = window.location.pathname.replace(/\/ui(\/.*)?$/u, "") || "/admin";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An API answer that is not 2xx: `message` for the page, `fields` (dotted path -> message) for the form. */
export class ApiError extends Error {
  constructor(status, message, fields = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields;
  }
}

function fieldPath(loc) {
  // Locations look like ["body", "retry_policy", "max_attempts"] or ["body", "event_types", 0];
  // only body and query errors belong to a form field (["header", "Authorization"] does not).
  const parts = (Array.isArray(loc) ? loc : [loc]).filter((p) => typeof p === "string");
  if (!["body", "query"].includes(parts[0])) return "";
  return parts.slice(1).join(".");
}

/**
 * Turn an error answer into {message, fields}. The API answers every error as an RFC 9457 problem
 * (application/problem+json): {type, title, status, detail, errors: [{loc, msg, type}]}; `errors`
 * names the form fields at fault. Anything else (a proxy's error page) becomes the message as it is.
 * Exported for the browser tests.
 */
export function parseErrorBody(status, body) {
  const fields = {};
  let message = "";
  if (body && typeof body === "object") {
    for (const item of Array.isArray(body.errors) ? body.errors : []) {
      const path = fieldPath(item.loc ?? []);
      const msg = String(item.msg ?? "invalid value");
      if (path) fields[path] = fields[path] ? `${fields[path]}; ${msg}` : msg;
    }
    message = typeof body.detail === "string" ? body.detail : typeof body.title === "string" ? body.title : "";
  } else if (typeof body === "string") {
    message = body;
  }
  if (message && status === 422 && !Object.keys(fields).length) {
    // Messages such as "subscription_url: must use https" name the field first.
    const m = /^([a-z_]+(?:\.[a-z_]+)*)(?::|\s)/u.exec(message);
    if (m) fields[m[1]] = message;
  }
  if (!message) {
    const defaults = { 401: "The token is missing or unknown.", 403: "Your token's role may not do this.", 404: "Not found." };
    message = defaults[status] ?? `The API answered ${status}.`;
  }
  return { message, fields };
}

/**
 * Call the API; resolves with the parsed JSON (or null for 204), rejects with ApiError.
 * A GET that fails with a 5xx or a network error is tried once more after a short pause (reads are
 * idempotent; a transient server hiccup should not blank a table). Writes are never repeated.
 */
export async function request(method, path, options = {}) {
  try {
    return await requestOnce(method, path, options);
  } catch (err) {
    if (method !== "GET" || !(err instanceof ApiError) || (err.status !== 0 && err.status < 500)) throw err;
    console.warn(`GET ${path} failed (${err.status}): trying once more`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return requestOnce(method, path, options);
  }
}

async function requestOnce(method, path, { body, query } = {}) {
  const url = new URL(API_BASE + path, window.location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  const headers = { Accept: "application/json, application/problem+json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `Cannot reach the config API (${err.message}).`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (e.g. a proxy error page): keep the text for the message.
  }
  if (!response.ok) {
    const { message, fields } = parseErrorBody(response.status, data);
    // A token revoked mid-session: let the session store send the user back to the login form.
    if (response.status === 401 && token) window.dispatchEvent(new CustomEvent("carehooks:unauthorized"));
    throw new ApiError(response.status, message, fields);
  }
  return data;
}

/** Lists may come bare or wrapped ({items, next_cursor}); always return {items, nextCursor}. */
export function asPage(data) {
  if (Array.isArray(data)) return { items: data, nextCursor: null };
  const items = data?.items ?? data?.data ?? data?.webhooks ?? data?.integrations ?? data?.logs ?? [];
  return { items, nextCursor: data?.next_cursor ?? data?.nextCursor ?? data?.cursor ?? null };
}
