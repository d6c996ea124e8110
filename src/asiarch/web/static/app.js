"use strict";
/* asiarch observatory: the page behind `asiarch serve` (live) and `asiarch report` (static).
 *
 * Live mode reads the read-only JSON API with fetch. A static report is opened from disk, where fetch is refused, so
 * there the same responses come from window.ASIARCH_DATA (set by data.js), keyed by their API path.
 *
 * Every string in the data (names, motivations, analysis text, reasons ...) may hold markup. Such strings reach the
 * page only through textContent, text nodes or setAttribute. innerHTML is used for nothing but the server-escaped
 * fields whose names end in _html (code_html, diff.html). */

const STATIC = window.ASIARCH_DATA || null;

const REFRESH_MS = 5000;
const LEADERBOARD_ROWS = 200;
const CHILDREN_SHOWN = 40;
const CHART_MARKERS_MAX = 12;  // series with this few points also get a dot per point, so single points show
const SVG_NS = "http://www.w3.org/2000/svg";
const DASH = "—";
const CAMPAIGN_VIEWS = ["overview", "tree", "leaderboard", "curve"];
const STATUSES = ["proposing", "proposed", "rejected", "failed", "trained", "analysed", "promoted", "discovery"];
const STATUS_COLOURS = {
  proposed: "#9aa5b1", rejected: "#c9ced6", failed: "#8c959f", trained: "#74a9cf",
  analysed: "#2b8cbe", promoted: "#2da44e", discovery: "#d4a017",
};
const OTHER_COLOUR = "#b0b7c0";
const SERIES_COLOURS = ["#0969da", "#cf222e", "#2da44e", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6e7781"];
// Diverging fitness scale: below the strongest reference (red), level with it (near white), above it (blue).
const FITNESS_STOPS = [[178, 24, 43], [239, 138, 98], [247, 247, 247], [103, 169, 207], [33, 102, 172]];
const FITNESS_STEPS = 100;
const FITNESS_QUANTILE = 0.95;  // the scale saturates here, so one outlier does not wash every other node out
const NULL_FITNESS_COLOUR = "#c8c8c8";

// Tree layout units are one generation (x) and one leaf slot (y); the view maps them to pixels with kx and ky.
const TREE = {
  margin: {left: 150, right: 140, top: 24, bottom: 24},
  fitMaxKx: 220, fitMaxKy: 28,       // a small tree is not blown up to fill the screen
  maxKy: 90, maxKx: 200, minZoomOfFit: 0.25,  // zoom limits: pixels per leaf and generation, share of the fit
  radius: {ref: 7, discovery: 7.5, promoted: 5.5, failed: 4, rejected: 3, other: 4.5},
  drawRank: {rejected: 0, failed: 0, proposed: 1, promoted: 3, discovery: 4},  // higher ranks are drawn on top
  otherRank: 2,
  labelMinKy: 15, labelMinKx: 80, labelMax: 300, labelCharPx: 6.5,
  dragPx: 4, wheelRate: 0.002, settleMs: 150, buttonZoom: 1.5, rootGap: 1, crossPx: 3,
};

const state = {
  campaigns: [],
  campaign: null,       // the campaign the current view belongs to
  versions: new Map(),  // campaign -> version last seen; a change triggers a re-render
  trees: new Map(),     // campaign -> {tx, ty, kx, ky}: zoom and pan survive tab switches and refreshes
  leaderboard: {key: "fitness", dir: -1, status: "", stage: "", text: ""},
  lastId: null,         // the experiment opened last, ringed in the tree
};
const cache = new Map();
let renderSeq = 0;

const enc = encodeURIComponent;
const api = {
  campaigns: () => "/api/campaigns",
  campaign: (name) => `/api/campaigns/${enc(name)}`,
  version: (name) => `/api/campaigns/${enc(name)}/version`,
  experiments: (name) => `/api/campaigns/${enc(name)}/experiments`,
  curve: (name) => `/api/campaigns/${enc(name)}/curve`,
  experiment: (id) => `/api/experiments/${id}`,
  compare: (groups) => "/api/compare?" + groups
    .map((g) => `group=${g.label}:${g.campaigns.map(enc).join(",")}`).join("&"),
};

/* ---------- data access ---------- */

function load(path) {
  if (STATIC) {
    if (Object.prototype.hasOwnProperty.call(STATIC, path)) return Promise.resolve(STATIC[path]);
    return Promise.reject(httpError(404, `not part of this static report: ${path}`));
  }
  return fetchJson(path);
}

async function fetchJson(path) {
  let response;
  try {
    response = await fetch(path, {cache: "no-store"});
  } catch {
    throw httpError(0, `cannot reach the observatory server for ${path}; is \`asiarch serve\` still running?`);
  }
  if (!response.ok) {
    const detail = (await errorDetail(response)) || response.statusText || "request failed";
    throw httpError(response.status, `${detail} (${path}, HTTP ${response.status})`);
  }
  return response.json();
}

/** The API says what went wrong in {"detail": "..."}; that line is what the user should read. */
async function errorDetail(response) {
  try {
    const body = await response.json();
    return body && typeof body.detail === "string" ? body.detail : "";
  } catch {
    return "";  // a body that is not JSON adds nothing to the status line
  }
}

function httpError(status, message) {
  const err = new Error(message);
  err.status = status;
  return err;
}

/** One request per path until the campaign's version changes (tree and leaderboard share the experiment list). */
function cached(path) {
  if (!cache.has(path)) {
    cache.set(path, load(path).catch((err) => {
      cache.delete(path);
      throw err;
    }));
  }
  return cache.get(path);
}

function noteVersion(campaign, version) {
  if (!STATIC && campaign && version != null && !state.versions.has(campaign)) state.versions.set(campaign, version);
}

/* ---------- DOM helpers: data goes in as text or attributes only ---------- */

function setProps(node, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  setProps(node, props);
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child);  // a string becomes a text node, never markup
  }
  return node;
}

function svgEl(tag, props) {
  const node = document.createElementNS(SVG_NS, tag);
  setProps(node, props);
  return node;
}

function svgTitle(text) {
  const title = svgEl("title");
  title.textContent = text;
  return title;
}

const muted = (text) => el("p", {class: "muted", text});
const card = (title, ...children) => el("section", {class: "card"}, el("h3", {text: title}), ...children);
const link = (href, text, props = {}) => el("a", {href, text, ...props});
const experimentLink = (x) => link(`#/e/${x.id}`, `${x.name ?? DASH} (#${x.id})`);

function statusBadge(status) {
  return el("span", {class: `badge st-${String(status ?? "unknown").replace(/[^a-z]/gi, "")}`, text: status ?? DASH});
}

function table(props, headers, rows) {
  const head = el("thead", null, el("tr", null, ...headers.map((h) => el("th", {text: h}))));
  const body = el("tbody", null, ...rows.map((cells) => el("tr", null, ...cells.map((c) =>
    (c instanceof Node && c.nodeName === "TD") ? c : el("td", null, c ?? DASH)))));
  return el("table", {class: "data", ...props}, head, body);
}

/* ---------- formatting ---------- */

const isNum = (x) => typeof x === "number" && Number.isFinite(x);
const own = (obj, key) => (Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined);
const r1 = (v) => Math.round(v * 10) / 10;

function fmt(x, digits = 3) {
  return isNum(x) ? x.toFixed(digits) : DASH;
}

function fmtNum(x) {
  if (!isNum(x)) return DASH;
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  const a = Math.abs(x);
  if (a >= 1e4) return x.toLocaleString("en-US", {maximumFractionDigits: 0});
  if (a >= 1e-3) return String(Number(x.toPrecision(4)));
  return x.toExponential(2);
}

const fmtSigned = (x) => (isNum(x) && x > 0 ? "+" : "") + fmtNum(x);

function fmtCount(x) {
  if (!isNum(x)) return DASH;
  const a = Math.abs(x);
  if (a >= 1e9) return `${Number((x / 1e9).toPrecision(3))}B`;
  if (a >= 1e6) return `${Number((x / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((x / 1e3).toPrecision(3))}k`;
  return String(x);
}

const fmtP = (p) => (isNum(p) ? (p < 1e-4 ? p.toExponential(1) : p.toFixed(4)) : DASH);
const fmtTime = (iso) => (typeof iso === "string" && iso ? iso.replace("T", " ").slice(0, 16) : DASH);

/** Budget labels name their unit ("experiments", "wall-clock hours", "LLM dollars" ...). */
function fmtBudget(label, value) {
  if (!isNum(value)) return DASH;
  const name = String(label ?? "").toLowerCase();
  if (name.includes("experiment")) return fmtNum(Math.round(value));
  if (name.includes("usd") || name.includes("dollar")) return `$${value.toFixed(2)}`;
  if (name.includes("hour")) return `${value.toFixed(2)} h`;
  return fmtNum(value);
}

/* ---------- errors, live indicator ---------- */

function showError(err) {
  const box = document.getElementById("error");
  const message = String(err && err.message ? err.message : err).replace(/\s+/g, " ").slice(0, 300);
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  const box = document.getElementById("error");
  box.textContent = "";
  box.hidden = true;
}

function setLive(text) {
  document.getElementById("live").textContent = text;
}

/* ---------- routing and rendering ---------- */

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const parts = (q < 0 ? raw : raw.slice(0, q)).split("/").map(safeDecode);
  if (parts[0] === "c" && parts[1]) {
    return {view: CAMPAIGN_VIEWS.includes(parts[2]) ? parts[2] : "overview", campaign: parts[1]};
  }
  if (parts[0] === "e" && /^\d+$/.test(parts[1] || "")) return {view: "detail", id: Number(parts[1])};
  if (parts[0] === "compare") return {view: "compare", query: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1))};
  return null;
}

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const campaignHash = (name, view) => `#/c/${enc(name)}/${view}`;

const VIEWS = {
  overview: viewOverview, tree: viewTree, leaderboard: viewLeaderboard,
  curve: viewCurve, detail: viewDetail, compare: viewCompare,
};

/** Draw the view the hash names. keep=true (a live refresh) holds scroll position and focus. */
async function render(keep = false) {
  const seq = ++renderSeq;
  const body = document.body;
  let route = parseRoute();
  if (!route) {
    if (!state.campaigns.length) {
      document.getElementById("main").replaceChildren(
        muted("No campaigns in this store yet: start one with `asiarch run`, then reload."));
      body.dataset.view = "overview";
      body.dataset.ready = "1";
      return;
    }
    history.replaceState(null, "", campaignHash(state.campaigns[0].name, "overview"));
    route = parseRoute();
  }
  body.dataset.ready = "0";
  body.dataset.view = route.view;
  if (route.campaign) {
    state.campaign = route.campaign;
    if (!STATIC && !state.versions.has(route.campaign)) {  // asked before the data, so it is never newer than it
      load(api.version(route.campaign)).then((v) => noteVersion(route.campaign, v.version)).catch(() => undefined);
    }
  }
  let view;
  try {
    view = await VIEWS[route.view](route);
  } catch (err) {
    view = {node: el("div", {class: "empty"}), error: err};
  }
  if (seq !== renderSeq) return;  // a newer navigation owns the page now
  const restore = keep ? snapshot() : null;
  clearError();
  document.getElementById("main").replaceChildren(view.node);
  try {
    if (view.mounted) view.mounted();
  } catch (err) {
    view.error = err;
  }
  if (view.error) showError(view.error);
  syncTopbar(route);
  if (restore) restore();
  body.dataset.ready = "1";
}

function snapshot() {
  const x = window.scrollX;
  const y = window.scrollY;
  const active = document.activeElement;
  const id = active && active.id && document.getElementById("main").contains(active) ? active.id : null;
  const range = id && typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd] : null;
  return () => {
    window.scrollTo(x, y);
    const again = id && document.getElementById(id);
    if (!again) return;
    again.focus({preventScroll: true});
    if (range && typeof again.setSelectionRange === "function") again.setSelectionRange(range[0], range[1]);
  };
}

function syncTopbar(route) {
  const select = document.getElementById("campaign");
  if (state.campaign && ![...select.options].some((o) => o.value === state.campaign)) {
    select.append(new Option(state.campaign, state.campaign));
  }
  select.value = state.campaign || "";
  for (const tab of document.querySelectorAll("#tabs a")) {
    const view = tab.dataset.tab;
    if (view === "compare") tab.setAttribute("href", "#/compare");
    else if (state.campaign) tab.setAttribute("href", campaignHash(state.campaign, view));
    else tab.removeAttribute("href");
    const active = view === route.view;
    tab.classList.toggle("active", active);
    if (active) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  document.title = `${state.campaign && route.view !== "compare" ? state.campaign + " · " : ""}asiarch observatory`;
}

function fillCampaigns() {
  const select = document.getElementById("campaign");
  const current = select.value;
  select.replaceChildren(...state.campaigns.map((c) => new Option(`${c.name} · ${c.state ?? DASH}`, c.name)));
  select.value = current || state.campaign || "";
}

/* ---------- live refresh ---------- */

async function poll() {
  const campaign = state.campaign;
  const route = parseRoute();
  if (!campaign || !route || route.view === "compare" || document.hidden || document.body.dataset.ready !== "1") return;
  let version;
  try {
    version = (await load(api.version(campaign))).version;
  } catch {
    setLive("live · server not answering");
    return;
  }
  setLive(`live · checked ${new Date().toLocaleTimeString()}`);
  const seen = state.versions.get(campaign);
  state.versions.set(campaign, version);
  if (seen === undefined || seen === version || campaign !== state.campaign) return;
  cache.clear();
  load(api.campaigns()).then((list) => {
    state.campaigns = list;
    fillCampaigns();
  }).catch(() => undefined);
  render(true);
}

/* ---------- overview ---------- */

async function viewOverview(route) {
  const c = await cached(api.campaign(route.campaign));
  noteVersion(route.campaign, c.version);
  const meta = el("p", {class: "meta"}, statusBadge(c.state), ` strategy ${c.strategy ?? DASH} · started `,
    fmtTime(c.started_at), c.ended_at ? ` · ended ${fmtTime(c.ended_at)}` : "");
  const root = el("div", {id: "overview", class: "overview"},
    el("header", {class: "view-head"}, el("h2", {text: c.name}), meta),
    el("div", {class: "cards"}, budgetCard(c.budget), statusCard(route.campaign, c.by_status),
      computeCard(c.compute), bestCard(c.best)),
    discoveriesCard(c.discoveries));
  if (c.curve_png) {
    root.append(card("Discovery curve", el("img", {class: "curve-png", src: c.curve_png, alt: "discovery curve"})));
  }
  return {node: root};
}

function barRow(label, fraction, value, colour, extraClass = "") {
  const fill = el("span", {class: "bar-fill", style: `width:${(Math.max(0, Math.min(1, fraction)) * 100).toFixed(1)}%`
    + (colour ? `;background:${colour}` : "")});
  return el("div", {class: `bar-row ${extraClass}`}, el("span", {class: "bar-label"}, label),
    el("span", {class: "bar"}, fill), el("span", {class: "bar-value", text: value}));
}

function budgetCard(budget) {
  const rows = (budget || []).map((b) => {
    const limited = isNum(b.limit) && b.limit > 0;
    const fraction = limited && isNum(b.used) ? b.used / b.limit : 0;
    const value = limited ? `${fmtBudget(b.label, b.used)} / ${fmtBudget(b.label, b.limit)}`
      : `${fmtBudget(b.label, b.used)} · no limit`;
    return barRow(b.label, fraction, value, null, limited ? (fraction >= 1 ? "full" : "") : "unlimited");
  });
  return card("Budget used", ...(rows.length ? rows : [muted("no budget set")]));
}

function statusCard(campaign, byStatus) {
  const counts = byStatus || {};
  const names = [...STATUSES.filter((s) => s in counts), ...Object.keys(counts).filter((s) => !STATUSES.includes(s))];
  const total = names.reduce((sum, s) => sum + (counts[s] || 0), 0);
  const most = Math.max(1, ...names.map((s) => counts[s] || 0));
  const rows = names.map((s) => {
    const open = link(campaignHash(campaign, "leaderboard"), s, {onclick: () => {
      state.leaderboard.status = s;
    }});
    return barRow(open, (counts[s] || 0) / most, fmtNum(counts[s] || 0), own(STATUS_COLOURS, s) || OTHER_COLOUR);
  });
  return card(`Experiments by status (${fmtNum(total)})`, ...(rows.length ? rows : [muted("no experiments yet")]));
}

function computeCard(compute) {
  const c = compute || {};
  const items = [["CPU hours", fmt(c.cpu_hours, 2)], ["GPU hours", fmt(c.gpu_hours, 2)],
    ["wall hours", fmt(c.wall_hours, 2)], ["LLM dollars", isNum(c.llm_usd) ? `$${c.llm_usd.toFixed(2)}` : DASH]];
  return card("Compute", el("dl", {class: "stats"}, ...items.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {text: v})])));
}

function bestCard(best) {
  if (!best) return card("Best experiment", muted("no scored experiment yet"));
  return card("Best experiment", el("p", {class: "best"}, experimentLink(best)),
    el("p", {class: "big"}, `fitness ${fmt(best.fitness)}`));
}

function discoveriesCard(discoveries) {
  const list = discoveries || [];
  if (!list.length) return card("Discoveries", muted("no discoveries yet"));
  const rows = list.map((d) => [String(d.id), experimentLink(d), fmt(d.fitness), fmtP(d.p)]);
  return card(`Discoveries (${list.length})`, table({id: "discoveries"}, ["id", "name", "fitness", "p"], rows));
}

/* ---------- discovery curve ---------- */

async function viewCurve(route) {
  const data = await cached(api.curve(route.campaign));
  const points = data.points || [];
  const root = el("div", {id: "curve", class: "curve-view"},
    el("header", {class: "view-head"}, el("h2", {text: `Discovery curve · ${route.campaign}`})));
  if (!points.length) {
    root.append(muted("no experiments yet"));
    return {node: root};
  }
  const col = (key) => points.map((p) => p[key]);
  const last = points[points.length - 1];
  const hours = last.compute_hours;
  root.append(el("p", {class: "meta", text: `${fmtNum(last.discoveries)} discoveries and ${fmtNum(last.promoted)} `
    + `promoted in ${fmtNum(last.experiment)} experiments and ${fmt(hours, 2)} compute-hours: `
    + `${fmt(100 * (last.discoveries || 0) / Math.max(1, last.experiment), 2)} discoveries per 100 experiments, `
    + `${isNum(hours) && hours > 0 ? fmt((last.discoveries || 0) / hours, 3) : DASH} per compute-hour.`}));
  const counts = (x) => [
    {label: "discoveries", colour: STATUS_COLOURS.discovery, x, y: col("discoveries"), step: true},
    {label: "promoted", colour: STATUS_COLOURS.promoted, x, y: col("promoted"), step: true},
  ];
  const size = {width: 640, height: 280};
  root.append(el("div", {class: "chart-grid wide"},
    figure("Cumulative discoveries and promoted vs compute", lineChart({...size,
      series: counts(col("compute_hours")), xLabel: "cumulative compute (hours)", yLabel: "count", yZero: true})),
    figure("Cumulative discoveries and promoted vs experiments", lineChart({...size,
      series: counts(col("experiment")), xLabel: "experiments", yLabel: "count", yZero: true, integerX: true})),
    figure("Best fitness so far", lineChart({...size,
      series: [{label: "best fitness so far", colour: SERIES_COLOURS[0], x: col("experiment"), y: col("best_fitness"),
        step: true}], xLabel: "experiments", yLabel: "fitness", integerX: true}))));
  return {node: root};
}

const figure = (caption, chart) => el("figure", {class: "card chart-card"}, el("figcaption", {text: caption}), chart);

/* ---------- compare campaigns ---------- */

async function viewCompare(route) {
  const campaigns = await cached(api.campaigns());
  const wanted = (key) => (route.query.get(key) || "").split(",").filter(Boolean);
  const picker = (id, label, chosen) => {
    const select = el("select", {id, multiple: true, size: Math.min(10, Math.max(4, campaigns.length))});
    for (const c of campaigns) {
      const option = new Option(`${c.name} · ${fmtNum(c.experiments)} exp. · best ${fmt(c.best_fitness)}`, c.name);
      option.selected = chosen.includes(c.name);
      select.append(option);
    }
    return el("label", {class: "picker"}, el("span", {text: label}), select);
  };
  const pickA = picker("group-a", "group A", wanted("A"));
  const pickB = picker("group-b", "group B", wanted("B"));
  const result = el("div", {id: "compare-result"});
  const groupsChosen = () => [["A", pickA], ["B", pickB]].map(([label, p]) => ({
    label, campaigns: [...p.querySelector("select").selectedOptions].map((o) => o.value)})).filter((g) => g.campaigns.length);
  const button = el("button", {id: "compare-button", type: "button", text: "compare", onclick: async () => {
    const groups = groupsChosen();
    if (!groups.length) {
      showError("choose at least one campaign in group A or group B, then press compare");
      return;
    }
    const seq = renderSeq;
    document.body.dataset.ready = "0";
    clearError();
    const hash = "#/compare?" + groups.map((g) => `${g.label}=${g.campaigns.map(enc).join(",")}`).join("&");
    if (location.hash !== hash) history.pushState(null, "", hash);
    try {
      await drawCompare(result, groups);
    } catch (err) {
      result.replaceChildren();
      showError(err);
    }
    if (seq === renderSeq) document.body.dataset.ready = "1";
  }});
  const root = el("div", {id: "compare", class: "compare"},
    el("header", {class: "view-head"}, el("h2", {text: "Compare campaigns"}),
      muted("Best fitness so far against experiments: the line is the group's mean, the band its min–max over the "
        + "group's campaigns (e.g. seeds). Hold Ctrl or Shift to choose several.")),
    el("div", {class: "pickers"}, pickA, pickB, button), result);
  const initial = groupsChosen();
  let error = null;
  if (initial.length) {
    try {
      await drawCompare(result, initial);
    } catch (err) {
      error = err;
    }
  }
  return {node: root, error};
}

async function drawCompare(target, groups) {
  let data;
  try {
    data = await load(api.compare(groups));
  } catch (err) {
    if (STATIC && err.status === 404) {
      throw new Error("this comparison is not part of the static report; `asiarch serve` compares any campaigns");
    }
    throw err;
  }
  const series = [];
  const bands = [];
  const rows = [];
  (data.groups || []).forEach((g, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length];
    const names = g.campaigns || [];
    bands.push({x: g.x || [], lo: g.low || [], hi: g.high || [], colour, step: true});
    series.push({label: `group ${g.label}: mean of ${names.length} (${names.join(", ")})`, colour, x: g.x || [],
      y: g.mean || [], step: true});
    const at = lastIndex(g.mean || []);
    rows.push([String(g.label), names.join(", "), at < 0 ? DASH : fmtNum((g.x || [])[at]), at < 0 ? DASH : fmt(g.mean[at]),
      at < 0 ? DASH : `${fmt((g.low || [])[at])} … ${fmt((g.high || [])[at])}`]);
  });
  const chart = figure("Best fitness so far vs experiments", lineChart({series, bands, xLabel: "experiments",
    yLabel: "best fitness so far", integerX: true, width: 820, height: 320}));
  chart.append(table({id: "compare-table"}, ["group", "campaigns", "experiments", "final mean", "final min … max"], rows));
  target.replaceChildren(chart);
}

function lastIndex(values) {
  for (let i = values.length - 1; i >= 0; i--) if (isNum(values[i])) return i;
  return -1;
}

/* ---------- leaderboard ---------- */

const COLUMNS = [
  {key: "id", label: "id", numeric: true},
  {key: "name", label: "name"},
  {key: "status", label: "status", rank: (s) => STATUSES.indexOf(s)},
  {key: "stage", label: "stage"},
  {key: "fitness", label: "fitness", numeric: true},
  {key: "parameters", label: "parameters", numeric: true},
  {key: "operator", label: "operator"},
];

async function viewLeaderboard(route) {
  const data = await cached(api.experiments(route.campaign));
  const experiments = data.experiments || [];
  const scale = fitnessScale(experiments);
  const opts = state.leaderboard;
  const choices = (key) => {
    const counts = new Map();
    for (const e of experiments) if (e[key] != null) counts.set(e[key], (counts.get(e[key]) || 0) + 1);
    const keys = [...counts.keys()];
    if (key === "status") keys.sort((a, b) => STATUSES.indexOf(a) - STATUSES.indexOf(b));
    else keys.sort();
    return keys.map((k) => new Option(`${k} (${counts.get(k)})`, k));
  };
  const statusSelect = el("select", {id: "filter-status"}, new Option("all statuses", ""), ...choices("status"));
  const stageSelect = el("select", {id: "filter-stage"}, new Option("all stages", ""), ...choices("stage"));
  const textInput = el("input", {id: "filter-name", type: "search", placeholder: "filter by name", autocomplete: "off"});
  statusSelect.value = opts.status;
  stageSelect.value = opts.stage;
  textInput.value = opts.text;
  const count = el("p", {id: "leaderboard-count", class: "muted"});
  const headRow = el("tr", null, ...COLUMNS.map((c) => el("th", {"data-key": c.key, class: c.numeric ? "num" : null},
    el("button", {type: "button", class: "sort", text: c.label}))));
  const tbody = el("tbody");
  const tableEl = el("table", {id: "leaderboard", class: "data leaderboard"}, el("thead", null, headRow), tbody);

  const fill = () => {
    opts.status = statusSelect.value;
    opts.stage = stageSelect.value;
    opts.text = textInput.value;
    const needle = opts.text.trim().toLowerCase();
    const rows = experiments.filter((e) => (!opts.status || e.status === opts.status)
      && (!opts.stage || e.stage === opts.stage)
      && (!needle || String(e.name ?? "").toLowerCase().includes(needle)));
    rows.sort(comparator(opts.key, opts.dir));
    const shown = rows.slice(0, LEADERBOARD_ROWS);
    tbody.replaceChildren(...shown.map((e) => leaderboardRow(e, scale)));
    count.textContent = rows.length > shown.length ? `showing ${shown.length} of ${fmtNum(rows.length)}`
      : `showing ${fmtNum(rows.length)} of ${fmtNum(rows.length)}`;
    if (rows.length < experiments.length) count.textContent += ` (filtered from ${fmtNum(experiments.length)})`;
    for (const th of headRow.children) {
      const sorted = th.dataset.key === opts.key;
      th.setAttribute("aria-sort", sorted ? (opts.dir > 0 ? "ascending" : "descending") : "none");
    }
  };
  statusSelect.addEventListener("change", fill);
  stageSelect.addEventListener("change", fill);
  textInput.addEventListener("input", fill);
  headRow.addEventListener("click", (event) => {
    const th = event.target.closest("th");
    if (!th) return;
    const column = COLUMNS.find((c) => c.key === th.dataset.key);
    if (opts.key === column.key) opts.dir = -opts.dir;
    else {
      opts.key = column.key;
      opts.dir = column.numeric ? -1 : 1;
    }
    fill();
  });
  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row && !event.target.closest("a")) location.hash = `#/e/${row.dataset.id}`;
  });
  fill();
  const root = el("div", {class: "leaderboard-view"},
    el("header", {class: "view-head"}, el("h2", {text: `Leaderboard · ${route.campaign}`})),
    el("div", {class: "filters"}, el("label", null, "status ", statusSelect), el("label", null, "stage ", stageSelect),
      el("label", null, "name ", textInput), count),
    el("div", {class: "table-scroll"}, tableEl));
  return {node: root};
}

function comparator(key, dir) {
  const column = COLUMNS.find((c) => c.key === key) || COLUMNS[0];
  const value = column.rank ? (e) => column.rank(e[key]) : (e) => e[key];
  return (a, b) => {
    const va = value(a);
    const vb = value(b);
    const missingA = va == null || va === -1 || (typeof va === "number" && Number.isNaN(va));
    const missingB = vb == null || vb === -1 || (typeof vb === "number" && Number.isNaN(vb));
    if (missingA || missingB) return missingA === missingB ? a.id - b.id : (missingA ? 1 : -1);  // missing last
    const order = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
    return order === 0 ? a.id - b.id : dir * order;
  };
}

function leaderboardRow(e, scale) {
  const swatch = el("span", {class: "swatch", style: `background:${scale.colour(e.fitness)}`});
  return el("tr", {"data-id": e.id},
    el("td", {class: "num", text: e.id}),
    el("td", {class: "name"}, link(`#/e/${e.id}`, e.name ?? DASH)),
    el("td", null, statusBadge(e.status)),
    el("td", {text: e.stage ?? DASH}),
    el("td", {class: "num"}, swatch, fmt(e.fitness)),
    el("td", {class: "num", text: fmtCount(e.parameters), title: isNum(e.parameters) ? e.parameters : null}),
    el("td", {text: e.operator ?? DASH}));
}

/* ---------- fitness colour scale ---------- */

function fitnessScale(experiments) {
  const sizes = [];
  for (const e of experiments) if (isNum(e.fitness)) sizes.push(Math.abs(e.fitness));
  sizes.sort((a, b) => a - b);
  const q = sizes.length ? sizes[Math.floor(FITNESS_QUANTILE * (sizes.length - 1))] : 0;
  const span = q > 0 ? q : (sizes.length && sizes[sizes.length - 1] > 0 ? sizes[sizes.length - 1] : 1);
  const palette = [];
  for (let i = 0; i <= FITNESS_STEPS; i++) palette.push(stopColour(i / FITNESS_STEPS));
  return {
    span,
    colour(f) {
      if (!isNum(f)) return NULL_FITNESS_COLOUR;
      const t = Math.max(-1, Math.min(1, f / span));
      return palette[Math.round(((t + 1) / 2) * FITNESS_STEPS)];
    },
  };
}

function stopColour(position) {
  const scaled = position * (FITNESS_STOPS.length - 1);
  const i = Math.min(FITNESS_STOPS.length - 2, Math.floor(scaled));
  const t = scaled - i;
  const [a, b] = [FITNESS_STOPS[i], FITNESS_STOPS[i + 1]];
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * t)).join(",")})`;
}

/* ---------- lineage tree ---------- */

/**
 * Tidy layered layout in O(n): x is the depth below the root, leaves take consecutive y slots in depth-first order,
 * an inner node sits midway between its first and last child. Only parents listed earlier count, so it is acyclic.
 */
function layoutTree(data) {
  const refs = (data.references || []).map((r) => r.name);
  const experiments = data.experiments || [];
  const refIndex = new Map(refs.map((name, i) => [name, i]));
  for (const e of experiments) {
    if (e.root != null && !refIndex.has(e.root)) {
      refIndex.set(e.root, refs.length);
      refs.push(e.root);
    }
  }
  const R = refs.length;
  const n = R + experiments.length;
  const index = new Map(experiments.map((e, i) => [e.id, R + i]));
  const parent = new Int32Array(n).fill(-1);
  const extra = [];  // pairs (child, other parent) for crossover links
  experiments.forEach((e, i) => {
    const self = R + i;
    for (const pid of e.parents || []) {
      const p = index.get(pid);
      if (p === undefined || p >= self) continue;
      if (parent[self] < 0) parent[self] = p;
      else extra.push(self, p);
    }
    if (parent[self] < 0 && e.root != null) parent[self] = refIndex.get(e.root);
  });
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) if (parent[i] >= 0) start[parent[i] + 1]++;
  for (let i = 0; i < n; i++) start[i + 1] += start[i];
  const children = new Int32Array(Math.max(1, start[n]));
  const next = start.slice(0, n);
  for (let i = 0; i < n; i++) if (parent[i] >= 0) children[next[parent[i]]++] = i;
  const depth = new Int32Array(n);
  let maxDepth = 0;
  for (let i = 0; i < n; i++) {
    if (parent[i] >= 0) depth[i] = depth[parent[i]] + 1;
    if (depth[i] > maxDepth) maxDepth = depth[i];
  }
  const y = new Float64Array(n);
  const order = new Int32Array(n);
  const stack = [];
  let visited = 0;
  let slot = 0;
  for (let r = 0; r < n; r++) {
    if (parent[r] >= 0) continue;
    if (visited > 0) slot += TREE.rootGap;
    stack.push(r);
    while (stack.length) {
      const v = stack.pop();
      order[visited++] = v;
      if (start[v] === start[v + 1]) y[v] = slot++;
      for (let j = start[v + 1] - 1; j >= start[v]; j--) stack.push(children[j]);
    }
  }
  for (let j = n - 1; j >= 0; j--) {  // children come after their parent in preorder
    const v = order[j];
    if (start[v] < start[v + 1]) y[v] = (y[children[start[v]]] + y[children[start[v + 1] - 1]]) / 2;
  }
  return {refs, experiments, R, n, parent, extra, depth, y, maxDepth, maxY: Math.max(0, slot - 1)};
}

function fitView(layout, width, height) {
  const m = TREE.margin;
  const spanX = Math.max(layout.maxDepth, 1);
  const spanY = Math.max(layout.maxY, 1);
  const kx = Math.max(1e-3, Math.min((width - m.left - m.right) / spanX, TREE.fitMaxKx));
  const ky = Math.max(1e-3, Math.min((height - m.top - m.bottom) / spanY, TREE.fitMaxKy));
  const spare = height - m.top - m.bottom - layout.maxY * ky;
  return {tx: m.left, ty: m.top + Math.max(0, spare / 2), kx, ky};
}

async function viewTree(route) {
  const campaign = route.campaign;
  const data = await cached(api.experiments(campaign));
  const layout = layoutTree(data);
  const scale = fitnessScale(layout.experiments);
  const {R, n, parent, extra, depth, y, experiments} = layout;

  const svg = svgEl("svg", {id: "tree", class: "tree", role: "img", "aria-label": `lineage tree of ${campaign}`});
  const pan = svgEl("g", {class: "pan"});
  const edges = svgEl("path", {class: "edges"});
  const links = svgEl("path", {class: "links"});
  const nodes = svgEl("g", {class: "nodes"});
  const crosses = svgEl("path", {class: "crosses"});
  const refLabels = svgEl("g", {class: "ref-labels"});
  const labels = svgEl("g", {class: "labels"});
  pan.append(edges, links, crosses, nodes, refLabels, labels);
  svg.append(pan);

  const circles = new Array(n);
  const buckets = [[], [], [], [], []];
  for (let i = R; i < n; i++) buckets[own(TREE.drawRank, experiments[i - R].status) ?? TREE.otherRank].push(i);
  const fragment = document.createDocumentFragment();
  const refText = [];
  for (let i = 0; i < R; i++) {
    const c = svgEl("circle", {class: "ref", "data-ref": layout.refs[i], r: TREE.radius.ref});
    c.append(svgTitle(`reference ${layout.refs[i]}`));
    fragment.append(c);
    circles[i] = c;
    const label = svgEl("text", {class: "ref-label", "text-anchor": "end", dy: "0.35em"});
    label.textContent = layout.refs[i];
    refLabels.append(label);
    refText.push(label);
  }
  const failed = [];
  for (const bucket of buckets) {
    for (const i of bucket) {
      const e = experiments[i - R];
      const status = String(e.status ?? "");
      const c = svgEl("circle", {
        class: `node ${status.replace(/[^a-z]/gi, "")}${e.id === state.lastId ? " selected" : ""}`,
        "data-id": e.id, r: own(TREE.radius, status) ?? TREE.radius.other, fill: scale.colour(e.fitness)});
      c.append(svgTitle(`${e.name ?? DASH} (#${e.id}) · ${status || DASH} · fitness ${fmt(e.fitness)}`
        + (e.failure_gate ? ` · failed at ${e.failure_gate}` : "")));
      fragment.append(c);
      circles[i] = c;
      if (status === "failed") failed.push(i);
    }
  }
  nodes.append(fragment);

  let view = null;
  let limits = null;
  let placed = null;  // the scales the node positions were last computed for
  let settleTimer = 0;
  let frame = 0;
  const size = () => {
    const box = svg.getBoundingClientRect();
    return [box.width || 1000, box.height || 600];
  };

  const place = () => {
    const {kx, ky} = view;
    for (let i = 0; i < n; i++) {
      circles[i].setAttribute("cx", r1(depth[i] * kx));
      circles[i].setAttribute("cy", r1(y[i] * ky));
    }
    let d = "";
    for (let i = R; i < n; i++) {
      const p = parent[i];
      if (p < 0) continue;
      const px = depth[p] * kx;
      d += `M${r1(px)} ${r1(y[p] * ky)}H${r1(px + kx / 2)}V${r1(y[i] * ky)}H${r1(depth[i] * kx)}`;
    }
    edges.setAttribute("d", d);
    d = "";
    for (let j = 0; j < extra.length; j += 2) {
      const [c, p] = [extra[j], extra[j + 1]];
      d += `M${r1(depth[p] * kx)} ${r1(y[p] * ky)}L${r1(depth[c] * kx)} ${r1(y[c] * ky)}`;
    }
    links.setAttribute("d", d);
    const s = TREE.crossPx;
    d = "";
    for (const i of failed) d += `M${r1(depth[i] * kx - s)} ${r1(y[i] * ky - s)}l${2 * s} ${2 * s}m0 ${-2 * s}l${-2 * s} ${2 * s}`;
    crosses.setAttribute("d", d);
    refText.forEach((label, i) => {
      label.setAttribute("x", r1(depth[i] * kx - TREE.radius.ref - 4));
      label.setAttribute("y", r1(y[i] * ky));
    });
  };

  // Names appear beside the nodes once zoomed in far enough for them to be readable, for visible nodes only.
  const drawLabels = () => {
    const {tx, ty, kx, ky} = view;
    if (ky < TREE.labelMinKy || kx < TREE.labelMinKx) {
      if (labels.firstChild) labels.replaceChildren();
      return;
    }
    const [w, h] = size();
    const chars = Math.max(4, Math.floor((kx - 16) / TREE.labelCharPx));
    const out = [];
    for (let i = R; i < n && out.length < TREE.labelMax; i++) {
      const sx = tx + depth[i] * kx;
      const sy = ty + y[i] * ky;
      if (sx < -kx || sx > w || sy < 0 || sy > h) continue;
      const name = String(experiments[i - R].name ?? "");
      const t = svgEl("text", {class: "label", x: r1(depth[i] * kx + 9), y: r1(y[i] * ky), dy: "0.35em"});
      t.textContent = name.length > chars ? name.slice(0, chars - 1) + "…" : name;
      out.push(t);
    }
    labels.replaceChildren(...out);
  };

  // During a zoom gesture only the group's transform changes (one attribute); the thousands of node positions are
  // recomputed once the gesture pauses, which keeps radii, strokes and labels at their true size.
  const draw = () => {
    frame = 0;
    const sx = view.kx / placed.kx;
    const sy = view.ky / placed.ky;
    const exact = sx === 1 && sy === 1;
    pan.setAttribute("transform", `translate(${r1(view.tx)},${r1(view.ty)})${exact ? "" : ` scale(${sx} ${sy})`}`);
    if (exact) drawLabels();
  };
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(draw);
  };
  const settle = () => {
    clearTimeout(settleTimer);
    settleTimer = 0;
    place();
    placed = {kx: view.kx, ky: view.ky};
    draw();
  };
  // A big tree fits as a tall thin strip, so zooming stretches y freely but x only until generations are readable.
  const zoomAt = (px, py, factor) => {
    const ky = Math.min(Math.max(view.ky * factor, limits.minKy), limits.maxKy);
    const kx = Math.min(limits.maxKx, limits.fit.kx * (ky / limits.fit.ky));
    view.tx = px - (px - view.tx) * (kx / view.kx);
    view.ty = py - (py - view.ty) * (ky / view.ky);
    view.kx = kx;
    view.ky = ky;
    schedule();
    clearTimeout(settleTimer);
    settleTimer = setTimeout(settle, TREE.settleMs);
  };
  const zoomCentre = (factor) => {
    const [w, h] = size();
    zoomAt(w / 2, h / 2, factor);
  };
  // The fitted view anchors the zoom limits and the x-to-y zoom relation; it is measured again on each fit.
  const measureFit = () => {
    const fitted = fitView(layout, ...size());
    limits = {fit: fitted, minKy: fitted.ky * TREE.minZoomOfFit, maxKy: Math.max(TREE.maxKy, fitted.ky),
      maxKx: Math.max(TREE.maxKx, fitted.kx)};
    return fitted;
  };
  const fit = () => {
    Object.assign(view, measureFit());
    settle();
  };

  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const rect = svg.getBoundingClientRect();
    const unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? rect.height : 1;
    zoomAt(event.clientX - rect.left, event.clientY - rect.top, Math.exp(-event.deltaY * unit * TREE.wheelRate));
  }, {passive: false});
  let drag = null;
  let dragged = false;
  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    drag = {id: event.pointerId, x: event.clientX, y: event.clientY, tx: view.tx, ty: view.ty, moving: false};
    dragged = false;
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.moving) {
      if (Math.hypot(dx, dy) < TREE.dragPx) return;
      drag.moving = true;  // capture only now: capturing on pointerdown would retarget a plain click to the svg
      svg.setPointerCapture(event.pointerId);
      svg.classList.add("dragging");
    }
    view.tx = drag.tx + dx;
    view.ty = drag.ty + dy;
    schedule();
  });
  const endDrag = (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    dragged = drag.moving;
    drag = null;
    svg.classList.remove("dragging");
  };
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);
  svg.addEventListener("click", (event) => {
    if (dragged) {
      dragged = false;
      return;
    }
    const node = event.target.closest("circle.node");
    if (node) location.hash = `#/e/${node.dataset.id}`;
  });

  const toolbar = el("div", {class: "toolbar"},
    el("button", {id: "fit", type: "button", text: "fit", title: "show the whole tree", onclick: fit}),
    el("button", {type: "button", text: "+", title: "zoom in", "aria-label": "zoom in",
      onclick: () => zoomCentre(TREE.buttonZoom)}),
    el("button", {type: "button", text: "−", title: "zoom out", "aria-label": "zoom out",
      onclick: () => zoomCentre(1 / TREE.buttonZoom)}),
    el("span", {class: "muted", text: `${fmtNum(experiments.length)} experiments · ${R} references · `
      + `${layout.maxDepth} generation${layout.maxDepth === 1 ? "" : "s"} deep`}),
    treeLegend(scale),
    el("span", {class: "muted hint", text: "wheel: zoom · drag: pan · click a node: details"}));
  const root = el("div", {class: "tree-view"}, toolbar, svg);
  if (!experiments.length) root.append(muted("no experiments yet: the references are the roots they will grow from"));

  return {
    node: root,
    mounted() {
      const fitted = measureFit();
      view = state.trees.get(campaign);
      if (!view) {
        view = {...fitted};
        state.trees.set(campaign, view);
      }
      settle();  // synchronously, so the tree is on screen when the page says it is ready
    },
  };
}

function treeLegend(scale) {
  const stops = FITNESS_STOPS.map((c, i) => `rgb(${c.join(",")}) ${(100 * i / (FITNESS_STOPS.length - 1)).toFixed(0)}%`);
  const marker = (cls, r, extra) => {
    const icon = svgEl("svg", {class: "marker", width: 18, height: 18, viewBox: "-9 -9 18 18", "aria-hidden": "true"});
    icon.append(svgEl("circle", {class: `mark ${cls}`, r, fill: "#9ecae1"}));
    if (extra) icon.append(extra);
    return el("span", {class: "legend-item"}, icon, cls);
  };
  return el("span", {class: "legend tree-legend"},
    el("span", {class: "muted", text: "fitness"}),
    el("span", {class: "gradient-labels"}, el("span", {text: `−${fmtNum(scale.span)}`}),
      el("span", {class: "gradient", style: `background:linear-gradient(to right,${stops.join(",")})`}),
      el("span", {text: `+${fmtNum(scale.span)}`})),
    el("span", {class: "legend-item"}, el("span", {class: "swatch", style: `background:${NULL_FITNESS_COLOUR}`}), "none"),
    marker("discovery", TREE.radius.discovery),
    marker("promoted", TREE.radius.promoted),
    marker("failed", TREE.radius.failed, svgEl("path", {class: "crosses", d: "M-3 -3l6 6m0 -6l-6 6"})),
    marker("rejected", TREE.radius.rejected),
    marker("reference", 5));
}

/* ---------- experiment detail ---------- */

async function viewDetail(route) {
  let d;
  try {
    d = await cached(api.experiment(route.id));
  } catch (err) {
    if (err.status === 404) throw new Error(`experiment ${route.id} not found${STATIC ? " in this report" : ""}`);
    throw err;
  }
  state.campaign = d.campaign || state.campaign;
  state.lastId = d.id;
  if (!STATIC && d.campaign && !state.versions.has(d.campaign)) {
    load(api.version(d.campaign)).then((v) => noteVersion(d.campaign, v.version)).catch(() => undefined);
  }
  const list = (items, limit = Infinity) => {
    if (!items || !items.length) return DASH;
    const out = el("span", {class: "links"});
    items.slice(0, limit).forEach((x, i) => out.append(i ? ", " : "", experimentLink(x)));
    if (items.length > limit) out.append(` … and ${items.length - limit} more`);
    return out;
  };
  const facts = [
    ["status", statusBadge(d.status)], ["stage", d.stage], ["fitness", fmt(d.fitness)],
    ["operator", d.operator], ["researcher", d.researcher],
    ["parameters", isNum(d.parameters) ? `${fmtCount(d.parameters)} (${fmtNum(d.parameters)})` : DASH],
    ["created", fmtTime(d.created_at)],
    ["campaign", d.campaign ? link(campaignHash(d.campaign, "overview"), d.campaign) : DASH],
    ["root", d.root], ["parents", list(d.parents)], ["children", list(d.children, CHILDREN_SHOWN)],
  ];
  const root = el("article", {id: "detail", class: "detail"},
    el("header", {class: "view-head"}, el("h2", null, el("span", {class: "id", text: `#${d.id} `}), d.name ?? DASH)));
  if (d.failure) {
    root.append(el("p", {class: "failure", id: "failure"}, el("strong", {text: `failed at gate ${d.failure.gate ?? DASH}`}),
      ": ", d.failure.reason ?? DASH));
  }
  const code = el("div", {id: "code", class: "code"});
  if (d.code_html) code.innerHTML = d.code_html;  // server-escaped, highlighted HTML
  else code.textContent = "no code stored";
  const diff = el("div", {id: "diff", class: "code diff"});
  let diffHead = "Diff against parent";
  if (d.diff) {
    diff.innerHTML = d.diff.html || "";  // server-escaped HTML
    diffHead = `Diff against ${d.diff.against ?? "parent"} (+${d.diff.added ?? 0} −${d.diff.removed ?? 0})`;
  } else {
    diff.textContent = "no parent";
  }
  root.append(
    el("dl", {class: "facts"}, ...facts.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", null, v ?? DASH)])),
    section("Motivation", el("p", {id: "motivation", class: "prose", text: d.motivation || DASH})),
    section("Results per task", resultsTable(d.results || [])),
    section("Learning curves", curvesGrid(d.curves || [])),
    section("Analysis", analysisBlock(d.analyses || [])),
    section("Code", code),
    section(diffHead, diff),
    section("Cited cognition", cognitionList(d.cognition || [])),
    section("Gate attempts", gatesBlock(d.gates || [])));
  return {node: root};
}

const section = (title, ...children) => el("section", {class: "card"}, el("h3", {text: title}), ...children);

function ciCell(x) {
  if (!x) return el("td", {text: DASH});
  if (Array.isArray(x.ci) && x.ci.length === 2) {
    const [lo, hi] = x.ci;
    const clear = isNum(lo) && isNum(hi) && (lo > 0 || hi < 0);
    return el("td", {class: clear ? "num sig" : "num", title: clear ? "the interval excludes zero" : null,
      text: `[${fmtNum(lo)}, ${fmtNum(hi)}]`});
  }
  return el("td", {class: "note", text: x.note ?? DASH});
}

function resultsTable(results) {
  const headers = ["stage", "task", "metric", "candidate mean", "n", "reference", "reference mean", "Δ vs reference",
    "95% CI / note", "Δ vs parent", "parent CI / note"];
  const rows = results.map((r) => {
    const cand = r.candidate || {};
    const ref = r.reference;
    const par = r.parent;
    const values = Array.isArray(cand.values) ? cand.values.map(fmtNum).join(", ") : null;
    return [r.stage, el("td", {text: r.label ?? r.task, title: r.task}), r.metric,
      el("td", {class: "num", text: fmtNum(cand.mean), title: values}), el("td", {class: "num", text: fmtNum(cand.n)}),
      ref ? ref.name : DASH, el("td", {class: "num", text: fmtNum(ref && ref.mean)}),
      el("td", {class: "num", text: fmtSigned(ref && ref.delta)}), ciCell(ref),
      el("td", {class: "num", text: fmtSigned(par && par.delta), title: par && par.name ? `parent ${par.name}` : null}),
      ciCell(par)];
  });
  if (!rows.length) rows.push([el("td", {colspan: headers.length, class: "muted", text: "no results yet"})]);
  return el("div", {class: "table-scroll"}, table({id: "results"}, headers, rows));
}

function curvesGrid(curves) {
  const box = el("div", {id: "curves", class: "chart-grid"});
  const groups = new Map();
  for (const c of curves) {
    const key = `${c.stage ?? ""}\u0000${c.label ?? ""}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(c);
  }
  for (const list of groups.values()) {
    const series = list.map((c, i) => {
      const pts = Array.isArray(c.points) ? c.points : [];
      return {label: `seed ${c.seed ?? DASH} · lr ${fmtNum(c.lr)}`, colour: SERIES_COLOURS[i % SERIES_COLOURS.length],
        x: pts.map((p) => p[0]), y: pts.map((p) => p[1])};
    });
    box.append(figure(`${list[0].label ?? DASH} · ${list[0].stage ?? DASH}`,
      lineChart({series, xLabel: "step", yLabel: "loss", width: 420, height: 220})));
  }
  if (!groups.size) box.append(muted("no learning curves recorded"));
  return box;
}

function analysisBlock(analyses) {
  const box = el("div", {id: "analysis"});
  for (const a of analyses) {
    const part = el("div", {class: "analysis"},
      el("h4", {text: `${a.stage ?? DASH} · fitness ${fmt(a.fitness)}`}),
      el("p", {class: "prose", text: a.text || DASH}));
    if (Array.isArray(a.weaknesses) && a.weaknesses.length) {
      part.append(el("p", {class: "sub", text: "weaknesses"}),
        el("ul", null, ...a.weaknesses.map((w) => el("li", {text: w}))));
    }
    if (a.significance && typeof a.significance === "object" && Object.keys(a.significance).length) {
      part.append(el("p", {class: "sub", text: "significance"}), el("dl", {class: "stats"},
        ...Object.entries(a.significance).flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {text: plain(v)})])));
    }
    box.append(part);
  }
  if (!analyses.length) box.append(muted("not analysed yet"));
  return box;
}

function plain(value) {
  if (isNum(value)) return fmtNum(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (value == null) return DASH;
  if (Array.isArray(value)) return value.map(plain).join(", ");
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}: ${plain(v)}`).join(" · ");
  return String(value);
}

function cognitionList(items) {
  if (!items.length) return el("ul", {id: "cognition", class: "plain"}, el("li", {class: "muted", text: "none cited"}));
  return el("ul", {id: "cognition", class: "plain"},
    ...items.map((c) => el("li", null, el("span", {class: "source", text: c.source ?? DASH}), " — ", c.title ?? DASH)));
}

function gatesBlock(attempts) {
  const box = el("div", {id: "gates"});
  for (const g of attempts) {
    const verdicts = (g.verdicts || []).map((v) => [v.gate, passBadge(v.passed), el("td", {class: "reason", text: v.reason ?? DASH})]);
    box.append(el("div", {class: "gate-attempt"},
      el("p", {class: "gate-head"}, `round ${g.round ?? DASH} · ${g.operator ?? DASH} · `, passBadge(g.passed)),
      verdicts.length ? table(null, ["gate", "passed", "reason"], verdicts) : muted("no verdicts")));
  }
  if (!attempts.length) box.append(muted("no gate attempts recorded"));
  return box;
}

const passBadge = (passed) => el("span", {class: passed ? "badge pass" : "badge fail", text: passed ? "passed" : "failed"});

/* ---------- line charts (inline SVG) ---------- */

function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Round tick positions (1, 2 or 5 times a power of ten) covering [lo, hi]. */
function ticks(lo, hi, count, integer = false) {
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  let step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  if (integer) step = Math.max(1, Math.round(step));
  const first = Math.floor(lo / step) * step;
  const last = Math.ceil(hi / step) * step;
  const values = [];
  for (let k = 0; first + k * step <= last + step * 1e-9; k++) values.push(Number((first + k * step).toPrecision(12)));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return {values, first, last, label: (v) => (decimals ? v.toFixed(decimals) : v.toLocaleString("en-US"))};
}

function linePath(xs, ys, sx, sy, step) {
  let d = "";
  let pen = false;
  for (let i = 0; i < xs.length; i++) {
    if (!isNum(xs[i]) || !isNum(ys[i])) {
      pen = false;
      continue;
    }
    const X = r1(sx(xs[i]));
    const Y = r1(sy(ys[i]));
    d += !pen ? `M${X} ${Y}` : step ? `H${X}V${Y}` : `L${X} ${Y}`;
    pen = true;
  }
  return d;
}

function bandPath(xs, lo, hi, sx, sy, step) {
  let d = "";
  let run = [];
  const flush = () => {
    if (run.length) {
      const X = (i) => r1(sx(xs[i]));
      d += `M${X(run[0])} ${r1(sy(hi[run[0]]))}`;
      for (let k = 1; k < run.length; k++) {
        const b = run[k];
        d += step ? `H${X(b)}V${r1(sy(hi[b]))}` : `L${X(b)} ${r1(sy(hi[b]))}`;
      }
      const last = run[run.length - 1];
      d += `L${X(last)} ${r1(sy(lo[last]))}`;
      for (let k = run.length - 1; k > 0; k--) {
        const b = run[k - 1];
        d += step ? `V${r1(sy(lo[b]))}H${X(b)}` : `L${X(b)} ${r1(sy(lo[b]))}`;
      }
      d += "Z";
    }
    run = [];
  };
  for (let i = 0; i < xs.length; i++) {
    if (isNum(xs[i]) && isNum(lo[i]) && isNum(hi[i])) run.push(i);
    else flush();
  }
  flush();
  return d;
}

/**
 * series: [{label, colour, x: [], y: [], step}], bands: [{colour, x, lo, hi}]; nulls break a line.
 * Returns a figure body: the SVG plus an HTML legend (labels are data, so they go in as text).
 */
function lineChart({series = [], bands = [], xLabel = "", yLabel = "", width = 560, height = 240, yZero = false,
  integerX = false}) {
  const xs = [];
  const ys = [];
  for (const s of series) {
    s.x.forEach((x, i) => {
      if (isNum(x) && isNum(s.y[i])) {
        xs.push(x);
        ys.push(s.y[i]);
      }
    });
  }
  for (const b of bands) {
    b.x.forEach((x, i) => {
      if (isNum(x) && isNum(b.lo[i]) && isNum(b.hi[i])) {
        xs.push(x);
        ys.push(b.lo[i], b.hi[i]);
      }
    });
  }
  if (!xs.length) return muted("no data yet");
  const m = {left: 58, right: 16, top: 12, bottom: 42};
  let [x0, x1] = extent(xs);
  let [y0, y1] = extent(ys);
  if (yZero) y0 = Math.min(0, y0);
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - (Math.abs(y0) * 0.1 || 1), y1 + (Math.abs(y1) * 0.1 || 1)];
  const yTicks = ticks(y0, y1, 5);
  [y0, y1] = [yTicks.first, yTicks.last];
  const xTicks = ticks(x0, x1, 6, integerX);
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sx = (x) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (v) => m.top + (1 - (v - y0) / (y1 - y0)) * ph;

  const svg = svgEl("svg", {class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${yLabel} against ${xLabel}`});
  const grid = svgEl("g", {class: "grid"});
  for (const v of yTicks.values) {
    const Y = r1(sy(v));
    grid.append(svgEl("line", {x1: m.left, x2: width - m.right, y1: Y, y2: Y}));
    const t = svgEl("text", {class: "tick", x: m.left - 6, y: Y, dy: "0.35em", "text-anchor": "end"});
    t.textContent = yTicks.label(v);
    grid.append(t);
  }
  for (const v of xTicks.values) {
    if (v < x0 - 1e-9 || v > x1 + 1e-9) continue;
    const X = r1(sx(v));
    grid.append(svgEl("line", {x1: X, x2: X, y1: m.top, y2: height - m.bottom}));
    const t = svgEl("text", {class: "tick", x: X, y: height - m.bottom + 16, "text-anchor": "middle"});
    t.textContent = xTicks.label(v);
    grid.append(t);
  }
  svg.append(grid, svgEl("rect", {class: "frame", x: m.left, y: m.top, width: pw, height: ph}));
  for (const b of bands) {
    svg.append(svgEl("path", {class: "band", d: bandPath(b.x, b.lo, b.hi, sx, sy, b.step), fill: b.colour}));
  }
  for (const s of series) {
    const path = svgEl("path", {class: "line", d: linePath(s.x, s.y, sx, sy, s.step), stroke: s.colour});
    path.append(svgTitle(s.label));
    svg.append(path);
    const valid = s.x.filter((x, i) => isNum(x) && isNum(s.y[i])).length;
    if (valid <= CHART_MARKERS_MAX) {
      s.x.forEach((x, i) => {
        if (isNum(x) && isNum(s.y[i])) {
          svg.append(svgEl("circle", {class: "dot", cx: r1(sx(x)), cy: r1(sy(s.y[i])), r: 2.5, fill: s.colour}));
        }
      });
    }
  }
  const xText = svgEl("text", {class: "axis-label", x: m.left + pw / 2, y: height - 6, "text-anchor": "middle"});
  xText.textContent = xLabel;
  const yText = svgEl("text", {class: "axis-label", transform: `translate(14 ${m.top + ph / 2}) rotate(-90)`,
    "text-anchor": "middle"});
  yText.textContent = yLabel;
  svg.append(xText, yText);
  const legend = el("ul", {class: "legend"}, ...series.map((s) => el("li", null,
    el("span", {class: "swatch", style: `background:${s.colour}`}), s.label)));
  return el("div", {class: "chart-body"}, svg, legend);
}

/* ---------- start ---------- */

async function init() {
  document.getElementById("campaign").addEventListener("change", (event) => {
    const route = parseRoute();
    const view = route && CAMPAIGN_VIEWS.includes(route.view) ? route.view : "overview";
    location.hash = campaignHash(event.target.value, view);
  });
  window.addEventListener("hashchange", () => render());
  setLive(STATIC ? "static report" : "live");
  try {
    state.campaigns = await load(api.campaigns());
  } catch (err) {
    showError(err);
    document.body.dataset.view = parseRoute()?.view || "overview";
    document.body.dataset.ready = "1";
    return;
  }
  fillCampaigns();
  await render();
  if (!STATIC) setInterval(poll, REFRESH_MS);
}

init();
