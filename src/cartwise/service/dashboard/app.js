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

// ---- model versions: offline and online side by side, activate / roll back (admin key) ----

function num(value, digits = 4) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function pct(value) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(2)}%`;
}

async function activate(version) {
  await api(`/models/${encodeURIComponent(version)}/activate`, { method: "POST" });
  await Promise.all([loadVersions(), loadStats()]);
}

async function rollback() {
  await api("/models/rollback", { method: "POST" });
  await Promise.all([loadVersions(), loadStats()]);
}

async function loadVersions() {
  const models = await api("/models");
  const body = $("#versions tbody");
  body.replaceChildren();
  for (const v of models.details.slice().reverse()) {  // newest first
    const tr = el("tr", v.active ? "active-version" : null);
    tr.dataset.version = v.version;
    const name = el("td", "mono", v.version);
    if (v.active) name.append(el("span", "badge", "active"));
    if (v.deleted_shoppers) name.append(el("span", "badge", "has deleted shoppers"));
    const until = v.window && v.window.last ? String(v.window.last).slice(0, 16) : "–";
    tr.append(name, el("td", null, v.model || "–"),
      el("td", null, v.trained_at ? String(v.trained_at).slice(0, 16) : "–"), el("td", null, until),
      el("td", "offline-ndcg", num(v.offline["ndcg@10"])), el("td", null, num(v.offline["hr@10"])),
      el("td", null, v.online.served.toLocaleString()),
      el("td", null, v.online.impressions.toLocaleString()),
      el("td", "online-ctr", pct(v.online.ctr)));
    const actions = el("td");
    if (!v.active) {
      const button = el("button", "activate", "Activate");
      button.type = "button";
      button.addEventListener("click", guarded(() => activate(v.version)));
      actions.append(button);
    }
    tr.append(actions);
    body.append(tr);
  }
  $("#rollback").hidden = !models.rollback_target;
  $("#versions-note").textContent = models.rollback_target
    ? `a rollback activates ${models.rollback_target}` : "";
  if (!models.details.length) body.append(el("tr", "muted", "no model trained yet"));
}

// ---- online metrics over time: small SVG line charts, no library ----

const PALETTE = ["#0f766e", "#b45309", "#7c3aed", "#be123c", "#2563eb", "#4d7c0f", "#0e7490", "#a21caf"];
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function day(seconds) {
  return new Date(seconds * 1000).toISOString().slice(5, 10);
}

// series: [{name, points: [[x, y], ...]}], y a rate in [0, 1]
function lineChart(box, series) {
  const W = 520, H = 220, L = 48, R = 10, T = 10, B = 28;
  box.replaceChildren();
  if (!series.length) {
    box.append(el("p", "muted", "nothing to draw yet"));
    return;
  }
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const top = Math.max(...ys) > 0 ? Math.max(...ys) * 1.1 : 1;
  const px = (x) => (x1 === x0 ? L + (W - L - R) / 2 : L + ((x - x0) / (x1 - x0)) * (W - L - R));
  const py = (y) => T + (1 - y / top) * (H - T - B);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  chart.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
  chart.append(svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
  for (const f of [0, 0.5, 1]) {
    const label = svg("text", { x: L - 4, y: py(top * f) + 4, "text-anchor": "end" });
    label.textContent = `${(100 * top * f).toFixed(1)}%`;
    chart.append(label);
  }
  for (const [x, anchor] of [[x0, "start"], [x1, "end"]]) {
    const label = svg("text", { x: px(x), y: H - 8, "text-anchor": anchor });
    label.textContent = day(x);
    chart.append(label);
  }
  const legend = el("div", "legend");
  series.forEach((s, n) => {
    const color = PALETTE[n % PALETTE.length];
    const line = svg("polyline", {
      points: s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" "),
      stroke: color, "data-series": s.name, "data-points": s.points.length,
    });
    const title = svg("title");
    title.textContent = s.points.map(([x, y]) => `${day(x)} ${(100 * y).toFixed(2)}%`).join(", ");
    line.append(title);
    chart.append(line);
    for (const [x, y] of s.points) chart.append(svg("circle", { cx: px(x), cy: py(y), r: 2.5, fill: color }));
    const entry = el("span", null);
    const swatch = el("span", "swatch");
    swatch.style.background = color;
    entry.append(swatch, document.createTextNode(s.name));
    legend.append(entry);
  });
  box.append(chart, legend);
}

// sum the counts of rows sharing a key and day, then a rate per day
function seriesBy(rows, keyOf, numerator) {
  const groups = new Map();
  for (const r of rows) {
    const key = keyOf(r);
    if (key === null) continue;
    if (!groups.has(key)) groups.set(key, new Map());
    const days = groups.get(key);
    const acc = days.get(r.start) || { shown: 0, hits: 0 };
    acc.shown += r.impressions;
    acc.hits += r[numerator];
    days.set(r.start, acc);
  }
  const out = [];
  for (const [name, days] of [...groups.entries()].sort()) {
    const points = [...days.entries()].filter(([, a]) => a.shown > 0)
      .sort((a, b) => a[0] - b[0]).map(([x, a]) => [x, a.hits / a.shown]);
    if (points.length) out.push({ name, points });
  }
  return out;
}

async function loadTimeline() {
  const timeline = await api("/feedback/timeline?days=30&bucket=day");
  const rows = timeline.rows;
  $("#timeline-empty").hidden = rows.some((r) => r.impressions > 0);
  const byScenario = (r) => r.scenario;
  const byVariant = (r) => (r.experiment_id ? `${r.experiment_id} · ${r.variant}` : null);
  lineChart($("#chart-ctr-scenario"), seriesBy(rows, byScenario, "clicks"));
  lineChart($("#chart-conversion-scenario"), seriesBy(rows, byScenario, "purchases"));
  lineChart($("#chart-ctr-variant"), seriesBy(rows, byVariant, "clicks"));
  lineChart($("#chart-conversion-variant"), seriesBy(rows, byVariant, "purchases"));
}

async function loadCoverage() {
  const c = await api("/feedback/coverage?days=30");
  $("#coverage").textContent = c.share === null ? "–" : `${(100 * c.share).toFixed(1)}%`;
  $("#coverage-detail").textContent =
    `${c.items_recommended.toLocaleString()} of ${c.catalog_items.toLocaleString()} items shown in ${c.answers.toLocaleString()} answers`;
}

function guarded(fn) {
  return (...args) => fn(...args).catch(showError);
}

async function loadAll() {
  $("#error").hidden = true;
  await Promise.all([
    loadStats(), loadShoppers(), loadOnline(), loadExperiments(), loadVersions(), loadTimeline(),
    loadCoverage(),
  ]);
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
$("#rollback").addEventListener("click", guarded(rollback));
guarded(loadAll)();
