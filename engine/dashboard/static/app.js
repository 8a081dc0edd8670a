// ThoughtMill dashboard: polls the JSON API, draws the charts with Chart.js, browses records.
"use strict";

const api = (path) => fetch(path, { credentials: "same-origin" }).then((r) => {
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
});
const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
};

const charts = {};
function chart(id, type, options = {}) {
  if (!charts[id]) {
    charts[id] = new Chart($(id), {
      type,
      data: { labels: [], datasets: [] },
      options: Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, options),
    });
  }
  return charts[id];
}
function draw(id, type, labels, datasets, options) {
  const c = chart(id, type, options);
  c.data.labels = labels;
  c.data.datasets = datasets;
  c.update();
}

const TILES = [
  ["questions", (s) => `${s.questions_done}${s.questions_total ? " / " + s.questions_total : ""}`],
  ["samples", (s) => s.samples_written],
  ["req/s", (s) => s.requests_per_s],
  ["in flight", (s) => s.in_flight],
  ["retries", (s) => s.retries],
  ["429s", (s) => s.rate_limited],
  ["pass rate", (s) => (s.pass_rate === null ? "-" : (100 * s.pass_rate).toFixed(1) + "%")],
  ["eta", (s) => (s.eta_s === null ? "-" : Math.round(s.eta_s) + " s")],
];

let live = false;
async function refreshStatus() {
  const status = await api("status");
  live = status.live;
  document.body.dataset.live = String(live);
  $("state").textContent = status.state;
  $("state").dataset.state = status.state;
  const tiles = $("tiles");
  tiles.replaceChildren();
  if (!live) return;
  for (const [name, value] of TILES) {
    const tile = el("div", null, "tile");
    tile.append(el("span", value(status), "value"), el("span", name, "name"));
    tiles.append(tile);
  }
}

async function refreshSeries() {
  if (!live) return;
  const points = await api("api/series");
  const rates = points.map((p, i) => (i === 0 ? 0 : (p.samples - points[i - 1].samples) / Math.max(p.t - points[i - 1].t, 1e-9)));
  const labels = points.map((p) => p.t.toFixed(0));
  draw("chart-throughput", "line", labels, [{ label: "samples/s", data: rates, pointRadius: 0 }]);
  draw("chart-pass", "line", labels, [{ label: "pass rate", data: points.map((p) => p.pass_rate), pointRadius: 0 }],
    { scales: { y: { min: 0, max: 1 } } });
}

async function refreshSummary() {
  const summary = await api("api/summary");
  $("job-name").textContent = summary.name || "";
  if (summary.state && $("state").textContent === "loading") $("state").textContent = summary.state;
  const funnel = summary.funnel || {};
  const rows = [];
  for (const [stage, domains] of Object.entries(funnel)) {
    for (const [domain, outcomes] of Object.entries(domains)) {
      for (const [outcome, count] of Object.entries(outcomes)) rows.push([`${stage} ${outcome}`, domain, count]);
    }
  }
  const domains = [...new Set(rows.map((r) => r[1]))];
  const labels = [...new Set(rows.map((r) => r[0]))];
  draw("chart-funnel", "bar", labels, domains.map((d) => ({
    label: d, data: labels.map((l) => (rows.find((r) => r[0] === l && r[1] === d) || [0, 0, 0])[2]),
  })), { indexAxis: "y" });
  if (!live) passRateByDomain(summary);
  const failures = await api("api/failures");
  draw("chart-failures", "bar", Object.keys(failures), [{ label: "failed samples", data: Object.values(failures) }]);
  const lengths = await api("api/lengths");
  const edges = ["≤256", "≤512", "≤1k", "≤2k", "≤4k", "≤8k", "≤16k", "≤32k", ">32k"];
  draw("chart-lengths", "bar", edges, Object.entries(lengths).map(([domain, counts]) => ({ label: domain, data: counts })));
}

function passRateByDomain(summary) {
  // A finished or interrupted output: the pass rate of each domain, from the shard indexes.
  const outcomes = (summary.streams[summary.name] || { outcomes: {} }).outcomes;
  const counts = {};
  for (const [key, count] of Object.entries(outcomes)) {
    const [domain, label] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
    const c = (counts[domain] = counts[domain] || { passed: 0, verified: 0 });
    if (label === "passed") c.passed += count;
    if (!label.startsWith("failed:") && label !== "unverified" && label !== "infra_error") c.verified += count;
  }
  const domains = Object.keys(counts);
  $("pass-caption").textContent = "Pass rate per domain";
  draw("chart-pass", "bar", domains, [{ label: "pass rate", data: domains.map((d) => (counts[d].verified ? counts[d].passed / counts[d].verified : 0)) }],
    { scales: { y: { min: 0, max: 1 } } });
}

let offset = 0;
const LIMIT = 25;
async function refreshRecords() {
  const params = new URLSearchParams(new FormData($("filters")));
  params.set("offset", offset);
  params.set("limit", LIMIT);
  const page = await api(`api/records?${params}`);
  const body = $("records").querySelector("tbody");
  body.replaceChildren();
  for (const r of page.records) {
    const row = el("tr");
    row.dataset.question = r.question_id;
    row.dataset.index = r.sample_index;
    for (const value of [r.question_id, r.sample_index, r.domain, r.outcome, r.answer, r.completion_tokens, r.finish_reason]) {
      row.append(el("td", value));
    }
    row.querySelector("td:nth-child(4)").className = `outcome ${r.outcome.replace(":", "-")}`;
    row.addEventListener("click", () => openRecord(r.question_id, r.sample_index));
    body.append(row);
  }
  $("page").textContent = page.records.length ? `${offset + 1}-${offset + page.records.length}` : "no records";
  $("prev").disabled = offset === 0;
  $("next").disabled = !page.more;
}

async function openRecord(questionId, index) {
  const params = new URLSearchParams({ question_id: questionId, sample_index: index });
  const detail = await api(`api/record?${params}`);
  const sample = detail.sample;
  $("detail-title").textContent = `${sample.question_id} #${sample.sample_index}`;
  const facts = $("detail-facts");
  facts.replaceChildren();
  const verdict = sample.verdict || {};
  for (const [name, value] of [
    ["source", detail.source], ["domain", sample.domain],
    ["verdict", verdict.status || (sample.failure ? `failed: ${sample.failure.kind}` : "unverified")],
    ["extracted answer", verdict.answer], ["gold", detail.gold], ["detail", verdict.detail || (sample.failure && sample.failure.detail)],
    ["teacher", `${sample.teacher.backend} ${sample.teacher.model}`], ["seed", sample.seed],
    ["tokens", `${sample.usage.prompt_tokens} in, ${sample.usage.completion_tokens} out`], ["finish", sample.finish_reason],
  ]) {
    facts.append(el("dt", name), el("dd", value === undefined || value === null || value === "" ? "-" : value));
  }
  const prompt = $("detail-prompt");
  prompt.replaceChildren(...sample.messages.map((m) => {
    const block = el("pre", m.content, `message ${m.role}`);
    block.dataset.role = m.role;
    return block;
  }));
  const thinking = $("detail-thinking");
  thinking.hidden = detail.thinking === null;
  thinking.open = false;
  thinking.querySelector("pre").textContent = detail.thinking || "";
  $("detail-final").textContent = detail.final === null ? "(no final answer: the thinking never ended)" : detail.final.trim();
  $("detail").showModal();
}

$("filters").addEventListener("submit", (event) => { event.preventDefault(); offset = 0; refreshRecords(); });
$("prev").addEventListener("click", () => { offset = Math.max(0, offset - LIMIT); refreshRecords(); });
$("next").addEventListener("click", () => { offset += LIMIT; refreshRecords(); });

async function tick() {
  try {
    await Promise.all([refreshStatus(), refreshSeries()]);
  } catch (error) {
    $("state").textContent = `unreachable (${error.message})`;
  }
}
async function start() {
  await tick();
  await Promise.all([refreshSummary(), refreshRecords()]);
  document.body.dataset.ready = "true";
  setInterval(tick, 2000);
  setInterval(refreshSummary, 10000);
}
start();
