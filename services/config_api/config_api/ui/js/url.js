// Mirror of webhook_core.urls.sanitize_url, used only for the live preview: the server's answer wins.
// Rule: remove every whitespace character (and zero-width/BOM copy-paste artefacts) anywhere,
// lower-case the scheme and the host (IDNA-encoded); path, query and userinfo keep their case.

// Python's \s also covers U+001C..U+001F and U+0085, which JavaScript's \s does not.
const WHITESPACE = /[\s\x1c-\x1f\x85\u200b\u200c\u200d\ufeff]+/gu;
// Same split as Python's urlsplit for absolute URLs: scheme "://" netloc, then path?query#fragment.
const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/su;

function idnaHost(host) {
  if (/^[\x00-\x7f]*$/.test(host)) return host;
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return host;
  }
}

export function sanitizeUrl(raw) {
  const text = String(raw ?? "").replace(WHITESPACE, "");
  const m = ABSOLUTE.exec(text);
  if (!m || !m[2]) return text;
  const [, scheme, netloc, path, query, fragment] = m;
  const at = netloc.lastIndexOf("@");
  const userinfo = at >= 0 ? netloc.slice(0, at) : "";
  const hostport = at >= 0 ? netloc.slice(at + 1) : netloc;
  let host;
  let portPart = "";
  if (hostport.startsWith("[")) {
    const end = hostport.indexOf("]");
    host = end >= 0 ? hostport.slice(0, end + 1) : hostport;
    portPart = end >= 0 ? hostport.slice(end + 1) : "";
  } else if (hostport.includes(":")) {
    const i = hostport.lastIndexOf(":");
    host = idnaHost(hostport.slice(0, i));
    portPart = hostport.slice(i);
  } else {
    host = idnaHost(hostport);
  }
  let out = `${scheme.toLowerCase()}://${userinfo ? `${userinfo}@` : ""}${host.toLowerCase()}${portPart}${path}`;
  // urlunsplit drops an empty query or fragment ("https://a/x?" -> "https://a/x").
  if (query) out += `?${query}`;
  if (fragment) out += `#${fragment}`;
  return out;
}
