// The Outbound webhook portal. Its credential arrives in the URL's fragment (never sent
// to a server, never in a Referer), is kept for this tab only, and goes to the webhook's
// own API routes as a bearer token.
"use strict";

// Relative to where the page is served: behind an API Gateway stage (`/prod/portal`) too.
const ROOT = location.pathname.replace(/\/portal\/?$/, "");
const DEFAULT_ROUTES = "/v1/webhooks/outbound";
// The routes of the endpoint shown: the default's, or `/v1/endpoints/<id>`'s (the same).
let routes = DEFAULT_ROUTES;
const api = () => ROOT + routes;
// Whether the endpoint shown exists: the default does not until its first save.
let exists = false;
const $ = (id) => document.getElementById(id);

function token() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem("outflow-portal-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("outflow-portal-token");
}

class Refused extends Error {}

// A call to the routes of the endpoint shown.
const call = (method, path, body) => request(method, api() + path, body);

async function request(method, url, body, extra = {}) {
  const headers = { ...extra, authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (response.status === 401) throw new Refused(json?.error?.message ?? "unauthorized");
  return { status: response.status, json };
}

function refused(message) {
  const why = /expired/.test(message)
    ? "This link has expired."
    : /revoked/.test(message)
      ? "This link was revoked."
      : "This link is not valid.";
  $("refused-why").textContent = why;
  $("refused").hidden = false;
  $("workspace").hidden = true;
  sessionStorage.removeItem("outflow-portal-token");
  $("refused-title").focus();
}

const when = (rfc3339) =>
  new Date(rfc3339).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });

function show(webhook) {
  $("aggregation").value = webhook.aggregation;
  $("url").value = webhook.url;
  $("enabled").checked = webhook.enabled;
  $("continuous").checked = webhook.continuous_conversation;
  for (const box of eventTypeBoxes()) box.checked = webhook.event_types.includes(box.value);
  $("secret").dataset.secret = webhook.secret;
  if ($("reveal").getAttribute("aria-expanded") === "true") $("secret").textContent = webhook.secret;
  const status = webhook.status;
  if (webhook.enabled) {
    $("state").textContent = "Enabled: deliveries go to your URL.";
    $("state").className = "state on";
  } else if (status.disabled_at) {
    const why = status.disabled_reason ? `: ${status.disabled_reason}` : "";
    $("state").textContent = `Disabled automatically since ${when(status.disabled_at)}${why}.`;
    $("state").className = "state off";
  } else {
    $("state").textContent = "Disabled: deliveries are held until you enable it.";
    $("state").className = "state off";
  }
  $("failures").textContent = `Consecutive failures: ${status.consecutive_failures}`;
  $("reenable").hidden = webhook.enabled;
  const list = $("activity");
  list.replaceChildren(
    ...webhook.activity.map((entry) => {
      const item = document.createElement("li");
      const time = document.createElement("time");
      time.dateTime = entry.time;
      time.textContent = when(entry.time);
      const detail = document.createElement("span");
      detail.textContent = entry.detail;
      item.append(time, detail);
      return item;
    }),
  );
  $("no-activity").hidden = webhook.activity.length > 0;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Succeeded and failed requests per hour as stacked bars, with the success rate in words.
function chart(counts) {
  const total = counts.succeeded + counts.failed;
  $("rate").textContent = total === 0
    ? "No requests in the last 24 hours."
    : `${Math.round((100 * counts.succeeded) / total)}% succeeded: ${counts.succeeded} of ` +
      `${total} ${total === 1 ? "request" : "requests"} (${counts.failed} failed).`;
  const tallest = Math.max(1, ...counts.hours.map((h) => h.succeeded + h.failed));
  const [width, top, bottom] = [20, 8, 116];
  const scale = (n) => ((bottom - top) * n) / tallest;
  const bars = counts.hours.flatMap((hour, i) => {
    const x = i * width + 3;
    const label = new Date(hour.hour).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    const ok = svg("rect", { x, width: width - 6, y: bottom - scale(hour.succeeded), height: scale(hour.succeeded), class: "ok" });
    const bad = svg("rect", {
      x, width: width - 6, class: "bad", "data-failed": hour.failed,
      y: bottom - scale(hour.succeeded) - scale(hour.failed), height: scale(hour.failed),
    });
    const group = svg("g", {});
    group.append(svg("title", {}, `${label}: ${hour.succeeded} succeeded, ${hour.failed} failed`), ok, bad);
    const tick = i % 6 === 0 ? [svg("text", { x, y: 134, class: "tick" }, label)] : [];
    return [group, ...tick];
  });
  $("chart").replaceChildren(svg("line", { x1: 0, x2: 480, y1: bottom, y2: bottom, class: "axis" }), ...bars);
}

function clearErrors() {
  for (const id of ["url", "aggregation", "since", "event-types", "new-url", "new-description"]) {
    $(`${id}-error`).textContent = "";
    $(id).removeAttribute("aria-invalid");
  }
}

function fieldError(field, message, fallback) {
  const known = { url: "url", aggregation: "aggregation", since: "since", "new-url": "new-url", "new-description": "new-description" };
  const id = field?.startsWith("event_types") ? "event-types" : known[field] ?? fallback;
  $(`${id}-error`).textContent = message;
  $(id).setAttribute("aria-invalid", "true");
  // A group of boxes takes no focus itself: its first box does.
  (id === "event-types" ? $("type-received") : $(id)).focus();
}

// The workspace's endpoints, to pick one from when it has more than its default.
async function listEndpoints(chosen = $("endpoint").value || "default") {
  const { status, json } = await request("GET", `${ROOT}/v1/endpoints`);
  if (status !== 200) return;
  const { endpoints } = json;
  // Shown once the workspace has its default endpoint (the settings below make it).
  $("endpoints").hidden = endpoints.length === 0;
  $("add-details").hidden = endpoints.length >= json.limit;
  $("endpoint").replaceChildren(
    ...endpoints.map((endpoint) => {
      const option = document.createElement("option");
      option.value = endpoint.endpoint_id;
      const name = endpoint.description || (endpoint.endpoint_id === "default" ? "Default" : endpoint.endpoint_id);
      option.textContent = `${name}: ${endpoint.url}${endpoint.enabled ? "" : " (disabled)"}`;
      option.selected = endpoint.endpoint_id === chosen;
      return option;
    }),
  );
}

async function choose() {
  const id = $("endpoint").value;
  routes = id === "default" ? DEFAULT_ROUTES : `/v1/endpoints/${encodeURIComponent(id)}`;
  // The default is the workspace's webhook: it is disabled, never deleted.
  $("delete-endpoint").hidden = id === "default";
  // Whether a closed chat continues is the default's to say for the workspace.
  for (const node of [$("continuous").parentElement, $("continuous-help")]) node.hidden = id !== "default";
  $("delete-confirm").hidden = true;
  for (const status of ["saved", "reenabled", "rotated", "replayed", "test-outcome"]) $(status).textContent = "";
  await load();
}

async function load() {
  const [settings, counts] = await Promise.all([
    call("GET", ""),
    call("GET", "/deliveries"),
    listEndpoints(),
  ]);
  // Only a clear answer changes it: after a failed read a save must not replace the whole.
  if (settings.status === 200 || settings.status === 404) exists = settings.status === 200;
  if (settings.status === 200) show(settings.json);
  else if (settings.status !== 404) throw new Error(settings.json?.error?.message ?? `status ${settings.status}`);
  if (counts.status === 200) chart(counts.json);
  $("workspace").hidden = false;
}

const eventTypeBoxes = () => document.querySelectorAll('input[name="event_types"]');

async function save(event) {
  event.preventDefault();
  clearErrors();
  $("saved").textContent = "";
  const eventTypes = [...eventTypeBoxes()].filter((box) => box.checked).map((box) => box.value);
  if (eventTypes.length === 0) {
    // The API reads an empty list as "every type": say so rather than guess.
    fieldError("event_types", "Choose at least one event to send.", "event-types");
    return;
  }
  // The default is made whole (PUT) by its first save. After that a save changes what the
  // form names (PATCH, the default's under /v1/endpoints too), so what the page does not
  // show, such as a filter set through the API, stays as it is.
  const url = routes !== DEFAULT_ROUTES ? api() : exists ? `${ROOT}/v1/endpoints/default` : null;
  const { status, json } = await request(url ? "PATCH" : "PUT", url ?? api(), {
    url: $("url").value.trim(),
    enabled: $("enabled").checked,
    aggregation: $("aggregation").value,
    continuous_conversation: $("continuous").checked,
    event_types: eventTypes,
  });
  if (status === 200) {
    exists = true;
    show(json);
    await listEndpoints();
    $("saved").textContent = "Saved.";
  } else {
    fieldError(json?.error?.field, json?.error?.message ?? `Not saved (status ${status}).`, "url");
  }
}

// One Idempotency-Key per endpoint as typed: adding it again after an error or a lost
// answer makes no second endpoint (a changed form is another request, with a new key).
let adding = null;

function addKey(body) {
  const text = JSON.stringify(body);
  if (adding?.text !== text) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    adding = { text, key: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") };
  }
  return adding.key;
}

async function addEndpoint(event) {
  event.preventDefault();
  clearErrors();
  $("added").textContent = "";
  const body = {
    url: $("new-url").value.trim(),
    description: $("new-description").value.trim() || undefined,
  };
  const idempotency = { "idempotency-key": addKey(body) };
  const { status, json } = await request("POST", `${ROOT}/v1/endpoints`, body, idempotency);
  // Only a failure on our side leaves the key for the next try: any other answer is final.
  if (status < 500) adding = null;
  if (status !== 201) {
    const message = json?.error?.message ?? `Not added (status ${status}).`;
    return fieldError(json?.error?.field === "description" ? "new-description" : "new-url", message, "new-url");
  }
  $("new-url").value = "";
  $("new-description").value = "";
  $("add-details").open = false;
  await listEndpoints(json.endpoint_id);
  await choose();
  $("added").textContent = "Endpoint added: it has its own signing secret, below.";
}

async function deleteEndpoint() {
  const id = $("endpoint").value;
  const { status, json } = await request("DELETE", `${ROOT}/v1/endpoints/${encodeURIComponent(id)}`);
  if (status !== 200 && status !== 202) {
    $("added").textContent = json?.error?.message ?? `Not deleted (status ${status}).`;
    return;
  }
  await listEndpoints("default");
  await choose();
  $("added").textContent = `Endpoint deleted; ${json.dropped} held ${json.dropped === 1 ? "delivery" : "deliveries"} dropped.`;
  $("endpoint").focus();
}

async function reenable() {
  const { status, json } = await call("POST", "/enable");
  if (status !== 200) {
    $("reenabled").textContent = json?.error?.message ?? `Not enabled (status ${status}).`;
    return;
  }
  show(json);
  const n = json.released;
  $("reenabled").textContent = `Re-enabled; ${n} held ${n === 1 ? "delivery" : "deliveries"} released.`;
}

async function sendTest() {
  $("test-outcome").textContent = "Sending…";
  $("test-body").hidden = true;
  const { status, json } = await call("POST", "/test");
  if (status === 429) {
    $("test-outcome").textContent = "One test event every 5 seconds: try again in a moment.";
    return;
  }
  if (status !== 200) {
    $("test-outcome").textContent = json?.error?.message ?? `Not sent (status ${status}).`;
    return;
  }
  const answer = json.status ? `HTTP ${json.status}` : "no answer";
  $("test-outcome").textContent = json.delivered
    ? `Delivered: ${answer} in ${json.latency_ms} ms.`
    : `Failed: ${json.error ?? answer} after ${json.latency_ms} ms.`;
  if (json.body) {
    $("test-body").textContent = json.body;
    $("test-body").hidden = false;
  }
}

function reveal() {
  const shown = $("reveal").getAttribute("aria-expanded") === "true";
  $("secret").textContent = shown ? "••••••••••••••••••••••••" : $("secret").dataset.secret ?? "";
  $("reveal").setAttribute("aria-expanded", String(!shown));
  $("reveal").textContent = shown ? "Reveal secret" : "Hide secret";
}

async function rotate() {
  $("rotate-confirm").hidden = true;
  const { status, json } = await call("POST", "/rotate-secret");
  if (status !== 200) {
    $("rotated").textContent = json?.error?.message ?? `Not rotated (status ${status}).`;
    return;
  }
  show(json);
  $("rotated").textContent = "Secret rotated. The previous one keeps signing for 24 hours.";
  $("rotate").focus();
}

async function replay(event) {
  event.preventDefault();
  clearErrors();
  $("replayed").textContent = "";
  const local = $("since").value;
  if (!local) return fieldError("since", "Choose the date and time to replay from.");
  const { status, json } = await call("POST", "/replay", { since: new Date(local).toISOString() });
  if (status === 202 || status === 200) {
    const n = json.replayed;
    $("replayed").textContent = `${n} ${n === 1 ? "delivery" : "deliveries"} re-queued.`;
  } else {
    fieldError(json?.error?.field, json?.error?.message ?? `Not replayed (status ${status}).`, "since");
  }
}

async function download(event) {
  event.preventDefault();
  const response = await fetch(`${api()}/log`, {
    headers: { authorization: `Bearer ${token()}` },
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 401) throw new Refused((await response.json()).error.message);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = "outflow-requests.json";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

function guarded(action) {
  return (event) =>
    action(event).catch((error) => {
      if (error instanceof Refused) refused(error.message);
      else $("saved").textContent = `Something went wrong: ${error.message}`;
    });
}

// A new link opened in the same tab only changes the fragment: start again with it.
window.addEventListener("hashchange", () => {
  if (/(?:^#|&)token=/.test(location.hash)) location.reload();
});

document.addEventListener("DOMContentLoaded", () => {
  $("settings").addEventListener("submit", guarded(save));
  $("endpoint").addEventListener("change", guarded(choose));
  $("add-endpoint").addEventListener("submit", guarded(addEndpoint));
  $("delete-endpoint").addEventListener("click", () => {
    $("delete-confirm").hidden = false;
    $("delete-yes").focus();
  });
  $("delete-no").addEventListener("click", () => {
    $("delete-confirm").hidden = true;
    $("delete-endpoint").focus();
  });
  $("delete-yes").addEventListener("click", guarded(deleteEndpoint));
  $("reenable").addEventListener("click", guarded(reenable));
  $("reveal").addEventListener("click", reveal);
  $("test").addEventListener("click", guarded(sendTest));
  $("rotate").addEventListener("click", () => {
    $("rotate-confirm").hidden = false;
    $("rotate-yes").focus();
  });
  $("rotate-no").addEventListener("click", () => {
    $("rotate-confirm").hidden = true;
    $("rotate").focus();
  });
  $("rotate-yes").addEventListener("click", guarded(rotate));
  $("replay").addEventListener("submit", guarded(replay));
  $("download").addEventListener("click", guarded(download));
  $("refused-title").tabIndex = -1;
  if (!token()) {
    refused("invalid");
  } else {
    guarded(load)().finally(() => $("portal").setAttribute("aria-busy", "false"));
  }
});
