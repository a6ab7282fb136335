// Cartwise dashboard: plain JavaScript over the JSON API; no build step.
// Every value shown comes from the API and is inserted as text (never as HTML).
"use strict";

const $ = (sel) => document.querySelector(sel);
const keyInput = $("#api-key");
keyInput.value = localStorage.getItem("cartwise-api-key") || "";
keyInput.addEventListener("change", () => {
  localStorage.setItem("cartwise-api-key", keyInput.value);
  loadAll();
});

async function api(path, options = {}) {
  const headers = { "content-type": "application/json" };
  if (keyInput.value) headers["X-API-Key"] = keyInput.value;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = body.error ? body.error.message : response.statusText;
    throw new Error(`${path}: ${message}`);
  }
  return body;
}

function showError(err) {
  const box = $("#error");
  box.textContent = String(err.message || err);
  box.hidden = false;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function price(item) {
  return item.price === null || item.price === undefined
    ? "" : `${item.price.toFixed(2)} ${item.currency}`;
}

function itemRow(entry) {
  const li = el("li");
  li.dataset.itemId = entry.item_id;
  li.append(el("div", "title", entry.item.title || entry.item_id));
  const cat = (entry.item.category || []).join(" › ");
  const meta = [entry.item_id, cat, price(entry.item), `score ${entry.score.toFixed(3)}`];
  li.append(el("div", "meta", meta.filter(Boolean).join(" · ")));
  li.append(el("div", "reason", entry.reason));
  return li;
}

function flatten(obj, prefix = "", out = []) {
  for (const [key, value] of Object.entries(obj || {})) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === "object" && !Array.isArray(value)) flatten(value, name, out);
    else if (typeof value === "number") out.push([name, Number.isInteger(value) ? value : value.toFixed(4)]);
    else if (typeof value === "string" && value.length < 40) out.push([name, value]);
  }
  return out;
}

async function loadStats() {
  const stats = await api("/stats");
  $("#item-count").textContent = stats.store.items.toLocaleString();
  $("#user-count").textContent = stats.store.users.toLocaleString();
  $("#event-count").textContent = stats.store.events.toLocaleString();
  $("#model-version").textContent = stats.model_version || "no model trained yet";
  const table = $("#model-metrics");
  table.replaceChildren();
  for (const [name, value] of flatten(stats.model_info)) {
    const tr = el("tr");
    tr.append(el("td", "muted", name), el("td", "mono", String(value)));
    table.append(tr);
  }
}

async function loadShoppers() {
  const page = await api("/users?limit=200");
  const select = $("#shopper-select");
  select.replaceChildren(el("option", null, "— pick a shopper —"));
  select.firstChild.value = "";
  for (const user of page.users) {
    const option = el("option", null, user.id);
    option.value = user.id;
    select.append(option);
  }
}

function currentShopper() {
  return $("#shopper-input").value.trim() || $("#shopper-select").value;
}

async function showShopper(userId) {
  if (!userId) return;
  const id = encodeURIComponent(userId);
  const [events, recs] = await Promise.all([
    api(`/users/${id}/events?limit=10`),
    api(`/users/${id}/recommendations?k=10&log=false`),
  ]);
  const history = $("#history");
  history.replaceChildren();
  if (!events.events.length) history.append(el("li", "muted", "no events yet (cold start)"));
  const ids = [...new Set(events.events.map((ev) => ev.item_id).filter(Boolean))];
  const titles = Object.fromEntries(await Promise.all(ids.map((itemId) =>
    api(`/items/${encodeURIComponent(itemId)}`)
      .then((item) => [itemId, item.title || itemId])
      .catch(() => [itemId, itemId]))));  // a deleted item still shows, by id
  for (const ev of events.events.slice().reverse()) {
    const what = ev.kind === "search" ? `“${ev.query}”` : titles[ev.item_id];
    const li = el("li");
    li.append(el("span", "title", `${ev.kind.replaceAll("_", " ")}: ${what}`));
    li.append(el("div", "meta", new Date(ev.timestamp).toLocaleString()));
    history.append(li);
  }
  const list = $("#recs");
  list.replaceChildren(...recs.items.map(itemRow));
  $("#recs-version").textContent = recs.model_version ? `(${recs.model_version})` : "";
}

async function runSearch(event) {
  event.preventDefault();
  const query = $("#search-input").value.trim();
  if (!query) return;
  const body = { query, k: 10, log: false };  // a preview: not counted as shown
  const shopper = currentShopper();
  if ($("#search-personal").checked && shopper) body.user_id = shopper;
  const result = await api("/search", { method: "POST", body: JSON.stringify(body) });
  const list = $("#search-results");
  list.replaceChildren(...result.items.map(itemRow));
  if (!result.items.length) list.append(el("li", "muted", result.message || "nothing matches"));
}

async function loadOnline() {
  const online = await api("/feedback/metrics");
  const withFeedback = online.rows.filter((r) => r.impressions || r.clicks || r.purchases);
  $("#online-panel").hidden = withFeedback.length === 0;
  const body = $("#online tbody");
  body.replaceChildren();
  for (const r of withFeedback) {
    const tr = el("tr");
    const ctr = r.ctr === null ? "–" : `${(100 * r.ctr).toFixed(1)}%`;
    for (const v of [r.model_version || "–", r.scenario, r.served, r.impressions, r.clicks, r.purchases, ctr]) {
      tr.append(el("td", null, String(v)));
    }
    body.append(tr);
  }
}

const METRIC_LABELS = {
  "add_to_cart_rate": "add to cart", "purchase_rate": "purchase", "revenue_per_1000": "revenue / 1000",
};

function fmt(value, name) {
  if (value === null || value === undefined) return "–";
  if (name === "revenue_per_1000") return value.toFixed(2);
  return `${(100 * value).toFixed(2)}%`;
}

function metricCell(m, control) {
  const td = el("td", "metric");
  td.dataset.metric = m.name;
  td.append(el("div", "value", fmt(m.value, m.name)));
  td.append(el("div", "ci muted", `[${fmt(m.ci_low, m.name)}, ${fmt(m.ci_high, m.name)}]`));
  if (!control && m.verdict) {
    const sign = m.effect > 0 ? "+" : "";
    const diff = `Δ ${sign}${fmt(m.effect, m.name)} [${fmt(m.effect_low, m.name)}, ${fmt(m.effect_high, m.name)}]`;
    td.append(el("div", "effect", `${diff} · p=${m.p_value.toPrecision(2)}`));
    td.append(el("span", `verdict ${m.verdict.replaceAll(" ", "-")}`, m.verdict));
  }
  return td;
}

function scenarioTable(exp, scen) {
  const wrap = el("div", "scenario");
  const how = scen.sequential ? "sequential (always-valid)" : "fixed horizon";
  const srm = scen.sample_ratio_p < 0.001 ? " · sample ratio mismatch!" : "";
  wrap.append(el("h4", null, `${scen.scenario} · ${how}${srm}`));
  const table = el("table", "grid experiment");
  const head = el("tr");
  const metrics = scen.variants[0].metrics.map((m) => m.name);
  for (const h of ["variant", "version", "impressions", ...metrics.map((n) => METRIC_LABELS[n] || n)]) {
    head.append(el("th", null, h));
  }
  const thead = el("thead");
  thead.append(head);
  table.append(thead);
  const body = el("tbody");
  for (const v of scen.variants) {
    const tr = el("tr");
    tr.dataset.variant = v.variant;
    tr.append(el("td", null, v.variant + (v.control ? " (control)" : "")));
    tr.append(el("td", "mono", v.model_version || "active"));
    tr.append(el("td", null, v.impressions.toLocaleString()));
    for (const m of v.metrics) tr.append(metricCell(m, v.control));
    body.append(tr);
  }
  table.append(body);
  wrap.append(table);
  return wrap;
}

async function loadExperiments() {
  const found = await api("/experiments?running=true");
  const box = $("#experiments");
  box.replaceChildren();
  if (found.experiments.length === 0) {
    box.append(el("p", "muted", "no running experiment"));
    return;
  }
  for (const report of found.experiments) {
    const exp = report.experiment;
    const div = el("div", "experiment");
    div.dataset.experimentId = exp.id;
    const split = exp.variants.map((v) => `${v.name} ${v.weight}`).join(" / ");
    div.append(el("h3", null, `${exp.id} `));
    div.firstChild.append(el("span", "muted", `${exp.description || ""} · split ${split} · planned ${exp.planned_impressions.toLocaleString()} impressions per variant`));
    if (report.scenarios.length === 0) div.append(el("p", "muted", "nothing served yet"));
    for (const scen of report.scenarios) div.append(scenarioTable(exp, scen));
    box.append(div);
  }
}

function guarded(fn) {
  return (...args) => fn(...args).catch(showError);
}

async function loadAll() {
  $("#error").hidden = true;
  await Promise.all([loadStats(), loadShoppers(), loadOnline(), loadExperiments()]);
}

$("#shopper-select").addEventListener("change", guarded(async () => {
  $("#shopper-input").value = "";
  await showShopper(currentShopper());
}));
$("#shopper-form").addEventListener("submit", guarded(async (event) => {
  event.preventDefault();
  await showShopper(currentShopper());
}));
$("#search-form").addEventListener("submit", guarded(runSearch));
guarded(loadAll)();
