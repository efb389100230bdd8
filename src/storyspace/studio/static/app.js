// Storyspace Studio: the page. Plain JavaScript, no library. Every text that comes from a run, a
// study or a person is put on the page with textContent (never as HTML), so it cannot run.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const view = document.getElementById("view");

// -- helpers -------------------------------------------------------------------------------------
async function api(method, url, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(url, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
  return data;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function toast(message, isError) {
  const t = document.getElementById("toast");
  t.textContent = message;
  t.className = "toast" + (isError ? " error" : "");
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, isError ? 8000 : 3000);
}

// What every number the studio shows means, in plain words (a tooltip on its name).
const GLOSSARY = {
  depth: "How many passages into the story this node is (the premise is 0).",
  visits: "How many times the search went through this node: the more visits, the more the search trusted it.",
  Q: "The mean value the search found in the story below this node (0 to 1): where it expects the better stories.",
  value: "This passage's own value from the value model (0 to 1): high when it is surprising but coherent, " +
    "low when it is repetitive, off-topic or broken.",
  prior: "How natural the writer model found this passage: its mean log-probability per token (nearer 0 = more expected).",
  "story value": "The mean value of a story's passages (0 to 1).",
  "step values": "Each passage's own value, in story order (0 to 1).",
  surprisal: "How unexpected the passage was to the reader model after the story so far (nats per token; higher = more surprising).",
  surprisal_z: "Surprisal measured against human stories: 0 is a typical human passage, below 0 more predictable.",
  surprisal_neutral: "Surprisal of the passage with no premise and no story before it.",
  surprisal_sd: "How much the surprisal varies from word to word in the passage.",
  pmi: "How much the premise and the story so far make the passage likelier (nats per token): does it follow on?",
  curiosity: "The reward for moderate surprise (0 to 1): highest for passages about as surprising as good human prose.",
  coherence: "How well the passage follows from the story so far (0 to 1), from the PMI.",
  coherence_raw: "The coherence signal before it is mapped to 0-1.",
  predictable: "Share of the passage's tokens the reader guessed with probability at least one half.",
  log_words: "The passage's length: log of 1 + its number of words.",
  repetition: "How much the passage repeats itself (0 = not at all).",
  copying: "How much of the passage copies the story so far or the premise (0 = nothing).",
  cut_off: "1 when the passage stops mid-sentence.",
  too_short: "1 when the passage is too short to count as a step.",
  meta: "1 when the passage talks about writing the story instead of telling it.",
  meta_before: "1 when the story before this passage already had such talk.",
  repeated_sentences: "Sentences that repeat earlier ones.",
  word_loop: "1 when the passage loops on the same words.",
  penalty: "The factor the value is multiplied by for degenerate text (1 = no penalty, lower = penalised).",
  premise_sim: "How close the passage is to the premise in meaning (cosine of sentence embeddings, -1 to 1).",
  premise_recall: "How much likelier the story makes the premise (does it stay on the prompt?).",
};

// The name of a number, with its meaning as a tooltip.
function term(name, shown) {
  const span = el("span", shown === undefined ? name : shown, "term");
  if (GLOSSARY[name]) span.title = GLOSSARY[name];
  return span;
}

function fmt(x) {
  return typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toFixed(3)) : String(x);
}

function template(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

// An export is fetched, so that an error is a toast (the page stays), and saved under the clean
// file name the server gives it (the premise's first words).
async function download(url) {
  try {
    const res = await fetch(url);
    if (!res.ok) {
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
    }
    const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
    const a = el("a");
    a.href = URL.createObjectURL(await res.blob());
    a.download = name ? name[1] : "story.md";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  } catch (e) {
    toast(`the export failed: ${e.message}`, true);
  }
}

function exportUrl(run, extra) {
  return `/api/export?run=${encodeURIComponent(run)}${extra || ""}`;
}

// -- jobs --------------------------------------------------------------------------------------
// Every job the page follows has its own entry in the tray (outside the view, so it outlives a
// page change), named by what it works on: its progress is that job's, whatever node is open.
const tray = document.getElementById("jobs");
let typed = 0; // counts the writer's keystrokes: a finished job never takes the page from under them
document.addEventListener("input", () => { typed += 1; });

// The header's jobs button: how many of the tray's jobs run or wait, and how many finished
// notices wait to be read; it shows or hides the tray (a new job always shows it).
const jobsToggle = document.getElementById("jobs-toggle");
function countJobs() {
  const entries = [...tray.querySelectorAll(".job")];
  const live = entries.filter((e) => e.dataset.status === "running" || e.dataset.status === "queued").length;
  const ended = entries.length - live;
  const parts = [live ? `${live} running` : "", ended ? `${ended} finished` : ""].filter(Boolean);
  jobsToggle.textContent = `jobs: ${parts.join(", ") || "none"}`;
  jobsToggle.classList.toggle("busy", live > 0);
}
jobsToggle.addEventListener("click", () => {
  tray.hidden = !tray.hidden;
  jobsToggle.setAttribute("aria-expanded", String(!tray.hidden));
});
new MutationObserver(countJobs).observe(tray, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-status"] });

// The runs that have a job queued or running (one job per run: the server refuses a second).
const activeRuns = new Map();
function busyRun(run) { return (activeRuns.get(run) || 0) > 0; }

function jobName(job) {
  if (job.kind === "explore") return `new run ${job.run}`;
  return job.node === null ? `${job.kind} in ${job.run}` : `${job.kind} at #${job.node} of ${job.run}`;
}

// The bar only moves forward and claims a time left only while the server has an estimate in
// force; without one (none yet, or it ran out) the bar is indeterminate and says the time so far.
function drawJob(entry, job) {
  const timed = job.status === "running" && job.total > 0 && job.left !== null && Math.round(job.left) >= 1;
  const pct = job.total ? Math.round(100 * Math.min(1, job.done / job.total)) : 0;
  const shown = Math.max(Number(entry.dataset.percent || 0), pct);
  entry.dataset.percent = String(shown);
  entry.dataset.status = job.status;
  entry.classList.toggle("indeterminate", !timed && (job.status === "running" || job.status === "queued"));
  entry.querySelector(".bar").style.width = `${timed ? shown : 100}%`;
  const note = entry.querySelector(".note");
  const cancel = entry.querySelector(".cancel");
  cancel.hidden = !job.cancellable;
  if (job.status === "queued") note.textContent = job.cancel_requested ? "cancelling…" : "waiting for the model (another job runs)";
  else if (job.status === "running") {
    note.textContent = job.cancel_requested ? `stopping after the current simulation (${Math.round(job.elapsed)} s so far)`
      : `${job.note || "working"}, ` + (timed ? `about ${Math.round(job.left)} s left` : `${Math.round(job.elapsed)} s so far`);
  } else if (job.status === "cancelled") {
    note.textContent = job.note || "cancelled";
  } else {
    note.textContent = job.status === "failed" ? `failed: ${job.error}` : `done in ${Math.round(job.elapsed)} s`;
  }
}

// A finished job's notice: what became of it and a link to the result, kept until the writer
// closes it.
function notice(entry, text, href, what) {
  entry.classList.add("finished");
  const line = entry.querySelector(".notice");
  line.replaceChildren(el("span", text + " "));
  if (href) {
    const a = el("a", what);
    a.href = href;
    line.append(a);
  }
  const close = el("button", "close", "close");
  close.type = "button";
  close.addEventListener("click", () => entry.remove());
  line.append(close);
  line.hidden = false;
}

// Follow a job in its own tray entry until it is done or failed. show(job) may show the result
// where the writer is (true: the entry goes); otherwise the entry stays as a notice linking to it.
async function track(job, show, href) {
  const entry = template("tpl-job");
  entry.dataset.job = String(job.id);
  entry.querySelector(".job-name").textContent = jobName(job);
  entry.dataset.status = job.status;
  tray.append(entry);
  tray.hidden = false;
  jobsToggle.setAttribute("aria-expanded", "true");
  let cur = job;
  entry.querySelector(".cancel").addEventListener("click", async (ev) => {
    ev.target.disabled = true;
    try {
      cur = await api("POST", `/api/jobs/${cur.id}/cancel`);
      drawJob(entry, cur);
    } catch (e) {
      toast(e.message, true);
    }
  });
  activeRuns.set(job.run, (activeRuns.get(job.run) || 0) + 1);
  const ended = () => {
    activeRuns.set(job.run, Math.max(0, (activeRuns.get(job.run) || 1) - 1));
    window.dispatchEvent(new CustomEvent("job-ended", { detail: cur }));
  };
  try {
    while (cur.status === "queued" || cur.status === "running") {
      drawJob(entry, cur);
      await new Promise((r) => setTimeout(r, 400));
      cur = await api("GET", `/api/jobs/${cur.id}`);
    }
  } catch (e) {
    ended();
    notice(entry, `Lost track of the job: ${e.message}`, href, "open the run");
    throw e;
  }
  drawJob(entry, cur);
  ended();
  if (cur.status === "cancelled") {
    notice(entry, `The ${cur.kind} was cancelled.`, href, cur.kind === "explore" ? "open the run" : `open ${cur.run}`);
    throw new Error(cur.note || "cancelled");
  }
  if (cur.status === "failed") {
    notice(entry, `The ${cur.kind} failed.`, null);
    throw new Error(cur.error || "the job failed");
  }
  if (show && await show(cur)) setTimeout(() => entry.remove(), 4000);
  else notice(entry, "Done:", href, cur.kind === "explore" ? "open the new run" : `open ${cur.run}`);
  return cur;
}

// Jobs still running when the page was (re)loaded are followed again; their results wait in notices.
async function resumeJobs() {
  const got = await api("GET", "/api/jobs");
  for (const job of got.jobs.filter((j) => j.status === "queued" || j.status === "running")) {
    track(job, null, `#/run/${encodeURIComponent(job.run)}`).catch(() => {});
  }
}

// -- drafts ------------------------------------------------------------------------------------
// What the writer types into the passage box is kept in this browser per run and node, so that a
// reload or another page loses nothing; a draft is cleared once its passage is saved.
function draftKey(run, node) {
  return `storyspace-draft:${JSON.stringify([run, node])}`;
}

function readDraft(run, node) {
  try { return localStorage.getItem(draftKey(run, node)) || ""; } catch (e) { return ""; }
}

function keepDraft(run, node, text) {
  try {
    if (text) localStorage.setItem(draftKey(run, node), text);
    else localStorage.removeItem(draftKey(run, node));
  } catch (e) {
    toast(`the draft could not be kept in this browser: ${e.message}`, true); // the box still holds it
  }
}

// -- runs and studies ------------------------------------------------------------------------------
async function showHome() {
  const page = template("tpl-home");
  view.replaceChildren(page);
  const data = await api("GET", "/api/runs");
  page.querySelector(".root").textContent = data.root;
  const runs = page.querySelector("table.runs tbody");
  for (const r of data.runs) {
    const tr = el("tr", null, "link");
    tr.dataset.run = r.path;
    for (const v of [r.premise || r.error || "", r.status, Math.max(0, r.nodes - 1), r.best_value === null ? "" : fmt(r.best_value)]) {
      tr.append(el("td", v));
    }
    tr.append(el("td", r.path, "hint"));
    tr.addEventListener("click", () => { location.hash = `#/run/${encodeURIComponent(r.path)}`; });
    runs.append(tr);
  }
  const studies = page.querySelector("table.studies tbody");
  for (const s of data.studies) {
    const tr = el("tr", null, "link");
    tr.dataset.study = s.path;
    for (const v of [s.path, s.pairs, s.ratings, (s.raters || []).join(", ")]) tr.append(el("td", v));
    tr.addEventListener("click", () => { location.hash = `#/study/${encodeURIComponent(s.path)}`; });
    studies.append(tr);
  }
  const form = page.querySelector("form.new-run");
  for (const [k, v] of Object.entries(data.defaults || {})) {
    if (form[k]) form[k].placeholder = `${v} (default)`;
  }
  if (data.defaults && data.defaults.model) form.querySelector(".writer-model").textContent = data.defaults.model;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { premise: form.premise.value };
    for (const k of ["simulations", "depth", "children", "step_tokens", "seed"]) {
      if (form[k].value !== "") body[k] = Number(form[k].value);
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const got = await api("POST", "/api/runs", body);
      const href = `#/run/${encodeURIComponent(got.run)}`, since = typed;
      // open the new run only for a writer still waiting on this page, who typed nothing since
      await track(got.job, () => {
        if (!page.isConnected || typed !== since) return false;
        toast(`run saved in ${got.run}`);
        location.hash = href;
        return true;
      }, href);
    } catch (e) {
      toast(e.message, true);
    } finally {
      button.disabled = false;
    }
  });
}

// -- the tree ----------------------------------------------------------------------------------
const STOPS = [[68, 1, 84], [33, 145, 140], [253, 231, 37]]; // viridis: low, middle, high
const LABEL_ZOOM = 0.75; // below this zoom only the best and pinned paths are labelled
const LABEL_ALL_MAX = 400; // larger trees label only those paths (a 2,000-node tree renders fast)
// A tree of more nodes is drawn around one branch (the open node's, else the best): the branch,
// the alternatives at each of its steps, and every other subtree folded into its top node (+N),
// so that "fit" keeps every label readable; "whole tree" draws everything.
const FOLD_OVER = 50;
const KEY_NAMES = { q: "Q (mean value found below the node)", value: "value (the passage's own step value)" };

function firstWords(text, n) {
  const words = String(text || "").split(/\s+/).filter(Boolean);
  return words.slice(0, n).join(" ") + (words.length > n ? " …" : "");
}

// Shorten a drawn label to `room` SVG units: its words cut (ending "…"), its suffix kept. A label
// not shown (display none) measures 0 and is left whole.
function fitLabel(text, words, suffix, room) {
  if (text.getComputedTextLength() <= room) return;
  let lo = 0, hi = words.length; // the longest cut that fits: lo characters
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    text.textContent = words.slice(0, mid).trimEnd() + "…" + suffix;
    if (text.getComputedTextLength() <= room) lo = mid; else hi = mid - 1;
  }
  text.textContent = (lo ? words.slice(0, lo).replace(/\s*…?$/, "").trimEnd() : "") + "…" + suffix;
}

function colour(t) {
  t = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  const [a, b, u] = t < 0.5 ? [STOPS[0], STOPS[1], t * 2] : [STOPS[1], STOPS[2], (t - 0.5) * 2];
  return `rgb(${a.map((x, i) => Math.round(x + (b[i] - x) * u)).join(",")})`;
}

const COLUMN = 200; // the tree layout's distance between depths, in SVG units

// Leaves in depth-first order, each parent at the middle of its first and last child (in "tree",
// on the whole row at or above that middle). "tree": depth to the right, leaves one below the other
// (small trees read best so); "radial": depth outwards, leaves around the circle, so that a tree of
// thousands of nodes keeps a round, landscape shape.
function layout(nodes, mode) {
  const kids = new Map(nodes.map((n) => [n.id, []]));
  for (const n of nodes) if (n.parent !== null) kids.get(n.parent).push(n.id);
  const slot = new Map();
  let leaves = 0;
  const stack = [[0, false]];
  while (stack.length) {
    const [id, seen] = stack.pop();
    const ch = kids.get(id);
    if (!ch.length) { slot.set(id, leaves++); continue; }
    if (!seen) {
      stack.push([id, true]);
      for (let i = ch.length - 1; i >= 0; i--) stack.push([ch[i], false]);
    } else {
      slot.set(id, (slot.get(ch[0]) + slot.get(ch[ch.length - 1])) / 2);
    }
  }
  const pos = new Map();
  const depth = Math.max(1, ...nodes.map((n) => n.depth));
  const ring = Math.max(90, (leaves * 10) / (2 * Math.PI * depth));
  for (const n of nodes) {
    const s = slot.get(n.id);
    if (mode === "radial") {
      const a = (2 * Math.PI * (s + 0.5)) / Math.max(1, leaves);
      pos.set(n.id, [n.depth * ring * Math.cos(a), n.depth * ring * Math.sin(a)]);
    } else { // a whole row: an inner node's floored mid-slot lies within its own leaves' rows, so no
      // two nodes of a column share a row or sit half a row apart (their labels never overlap)
      pos.set(n.id, [n.depth * COLUMN, Math.floor(s) * 16]);
    }
  }
  return { pos, leaves };
}

// The nodes of hidden branches: each node marked hidden and everything below it.
function hiddenSet(nodes) {
  const kids = new Map(nodes.map((n) => [n.id, []]));
  for (const n of nodes) if (n.parent !== null) kids.get(n.parent).push(n.id);
  const out = new Set();
  const stack = nodes.filter((n) => n.hidden).map((n) => n.id);
  while (stack.length) {
    const id = stack.pop();
    if (out.has(id)) continue;
    out.add(id);
    stack.push(...kids.get(id));
  }
  return out;
}

function pathSet(nodes, last) {
  const out = new Set();
  const parent = new Map(nodes.map((n) => [n.id, n.parent]));
  let cur = last;
  while (cur !== null && cur !== undefined) { out.add(cur); cur = parent.get(cur); }
  return out;
}

class TreeView {
  constructor(svg, onPick) {
    this.svg = svg;
    this.g = svg.querySelector(".viewport");
    this.onPick = onPick;
    this.t = { x: 20, y: 20, k: 1 };
    this.selected = null;
    this.fresh = new Set(); // nodes the last action added
    this.pos = new Map();
    let drag = null;
    svg.addEventListener("pointerdown", (e) => {
      if (["node", "hit", "label"].some((c) => e.target.classList.contains(c))) return;
      drag = { x: e.clientX, y: e.clientY, tx: this.t.x, ty: this.t.y };
      svg.setPointerCapture(e.pointerId);
    });
    svg.addEventListener("pointermove", (e) => {
      if (!drag) return;
      this.t.x = drag.tx + e.clientX - drag.x;
      this.t.y = drag.ty + e.clientY - drag.y;
      this.apply();
    });
    svg.addEventListener("pointerup", () => { drag = null; });
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = svg.getBoundingClientRect();
      const mx = e.clientX - r.left, my = e.clientY - r.top;
      const f = Math.exp(-e.deltaY * 0.0015);
      this.t.x = mx - (mx - this.t.x) * f;
      this.t.y = my - (my - this.t.y) * f;
      this.t.k *= f;
      this.apply();
    }, { passive: false });
  }

  apply() {
    this.g.setAttribute("transform", `translate(${this.t.x},${this.t.y}) scale(${this.t.k})`);
    // labels 16 units apart overlap below this zoom: only the best and pinned paths keep theirs
    this.svg.classList.toggle("zoomed-out", this.t.k < LABEL_ZOOM);
  }

  // Bring these nodes into view (centred) when any of them is outside the visible area.
  reveal(ids) {
    const pts = ids.map((id) => this.pos.get(id)).filter(Boolean);
    if (!pts.length) return;
    const w = this.svg.clientWidth || 800, h = this.svg.clientHeight || 600;
    const screen = pts.map(([x, y]) => [this.t.x + x * this.t.k, this.t.y + y * this.t.k]);
    if (screen.every(([x, y]) => x >= 0 && x <= w && y >= 0 && y <= h)) return;
    const cx = pts.reduce((a, p) => a + p[0], 0) / pts.length, cy = pts.reduce((a, p) => a + p[1], 0) / pts.length;
    this.t.k = Math.max(this.t.k, LABEL_ZOOM);
    this.t.x = w / 2 - cx * this.t.k;
    this.t.y = h / 2 - cy * this.t.k;
    this.apply();
  }

  fit() {
    const box = this.g.getBBox();
    const w = this.svg.clientWidth || 800, h = this.svg.clientHeight || 600;
    const k = Math.min(2, 0.95 * Math.min(w / Math.max(box.width, 1), h / Math.max(box.height, 1)));
    this.t = { k, x: (w - box.width * k) / 2 - box.x * k, y: (h - box.height * k) / 2 - box.y * k };
    this.apply();
  }

  draw(data, by, mode, showHidden) {
    this.last = [data, by, mode, showHidden];
    const gone = hiddenSet(data.nodes);
    let nodes = showHidden ? data.nodes : data.nodes.filter((n) => !gone.has(n.id));
    const folded = new Map(); // a drawn node -> the passages folded under it
    this.folding = !this.whole && nodes.length > FOLD_OVER;
    if (this.folding) {
      const ids = new Set(nodes.map((n) => n.id));
      const focus = this.selected !== null && ids.has(this.selected) ? this.selected
        : data.best_path.filter((id) => ids.has(id)).pop();
      const branch = pathSet(nodes, focus);
      const keep = new Set(branch);
      for (const n of nodes) if (branch.has(n.parent)) keep.add(n.id);
      const kids = new Map(nodes.map((n) => [n.id, []]));
      for (const n of nodes) if (n.parent !== null && ids.has(n.parent)) kids.get(n.parent).push(n.id);
      for (const id of keep) {
        if (branch.has(id)) continue;
        let count = 0;
        const stack = [...kids.get(id)];
        while (stack.length) { count += 1; stack.push(...kids.get(stack.pop())); }
        if (count) folded.set(id, count);
      }
      nodes = nodes.filter((n) => keep.has(n.id));
    }
    this.svg.dataset.folded = String(folded.size);
    const parents = new Set(nodes.map((n) => n.parent));
    const leafCount = nodes.filter((n) => !parents.has(n.id)).length;
    const chosen = mode === "auto" || !mode ? (leafCount > 60 ? "radial" : "tree") : mode;
    const { pos } = layout(nodes, chosen);
    this.svg.dataset.layout = chosen;
    const best = new Set(data.best_path);
    const pinned = data.pinned ? pathSet(nodes, data.pinned) : new Set();
    const vals = nodes.filter((n) => n.id !== 0).map((n) => n[by]);
    const lo = Math.min(...vals), hi = Math.max(...vals);
    const edges = document.createDocumentFragment(), circles = document.createDocumentFragment();
    const hits = document.createDocumentFragment();
    const labels = document.createDocumentFragment();
    const labelAll = nodes.length <= LABEL_ALL_MAX;
    const radius = (n) => (n.id === 0 ? 7 : 3 + 1.6 * Math.sqrt(n.visits));
    const widest = new Map(); // a drawn node's largest child's radius (its label must stop short of it)
    for (const n of nodes) if (n.parent !== null) widest.set(n.parent, Math.max(widest.get(n.parent) || 0, radius(n)));
    const capped = []; // [label, its words, its suffix, the width it may take]
    this.pos = pos;
    for (const n of nodes) {
      const [x, y] = pos.get(n.id);
      if (n.parent !== null) {
        const [px, py] = pos.get(n.parent);
        const line = document.createElementNS(SVGNS, "path");
        const mid = (px + x) / 2;
        line.setAttribute("d", chosen === "radial" ? `M${px},${py} L${x},${y}`
          : `M${px},${py} C${mid},${py} ${mid},${y} ${x},${y}`);
        let cls = "edge";
        if (best.has(n.id)) cls += " best";
        else if (pinned.has(n.id)) cls += " pinned";
        line.setAttribute("class", cls);
        edges.append(line);
      }
      const r = radius(n);
      const shape = document.createElementNS(SVGNS, n.author === "human" ? "rect" : "circle");
      if (n.author === "human") {
        shape.setAttribute("x", x - r); shape.setAttribute("y", y - r);
        shape.setAttribute("width", 2 * r); shape.setAttribute("height", 2 * r);
      } else {
        shape.setAttribute("cx", x); shape.setAttribute("cy", y); shape.setAttribute("r", r);
      }
      const t = n.id === 0 ? 0.5 : (hi > lo ? (n[by] - lo) / (hi - lo) : 0.5);
      const fill = n.id === 0 ? "#999" : colour(t);
      shape.setAttribute("fill", fill);
      shape.style.setProperty("--fill", fill);
      shape.setAttribute("class", "node" + (n.id === this.selected ? " selected" : "") + (this.fresh.has(n.id) ? " new" : "")
        + (gone.has(n.id) ? " hidden-branch" : ""));
      const onPath = n.id !== 0 && (best.has(n.id) || pinned.has(n.id));
      if (n.id !== 0 && (labelAll || onPath)) {
        const text = document.createElementNS(SVGNS, "text");
        text.setAttribute("x", x + r + 3);
        text.setAttribute("y", y + 4);
        text.setAttribute("class", "label" + (onPath ? " path" : "") + (folded.has(n.id) ? " folded" : ""));
        text.dataset.node = n.id;
        const words = firstWords(n.label, onPath ? 7 : 4), suffix = folded.has(n.id) ? ` (+${folded.get(n.id)})` : "";
        text.textContent = words + suffix;
        // in the tree layout a node's first row holds a child too: its label ends before that child
        if (chosen !== "radial" && widest.has(n.id)) capped.push([text, words, suffix, COLUMN - r - 3 - widest.get(n.id) - 6]);
        text.addEventListener("click", () => this.pick(n.id)); // a label opens its node too
        labels.append(text);
      }
      if (labelAll) { // a target larger than the smallest nodes
        const hit = document.createElementNS(SVGNS, "circle");
        hit.setAttribute("cx", x); hit.setAttribute("cy", y); hit.setAttribute("r", Math.max(r, 9));
        hit.setAttribute("class", "hit");
        hit.dataset.node = n.id;
        hit.addEventListener("click", () => this.pick(n.id));
        hits.append(hit);
      }
      shape.dataset.node = n.id;
      const title = document.createElementNS(SVGNS, "title");
      title.textContent = n.id === 0 ? "premise" : `#${n.id} ${by}=${fmt(n[by])} N=${n.visits}: ${n.label}`;
      shape.append(title);
      shape.addEventListener("click", () => this.pick(n.id));
      circles.append(shape);
    }
    this.g.querySelector(".edges").replaceChildren(edges);
    circles.prepend(hits); // under the nodes: a node's own shape still takes its clicks
    circles.append(labels);
    this.g.querySelector(".nodes").replaceChildren(circles);
    for (const [text, words, suffix, room] of capped) fitLabel(text, words, suffix, room);
    this.key = { by, lo, hi };
    this.svg.dataset.nodes = String(nodes.length);
  }

  pick(id) {
    for (const s of this.g.querySelectorAll(".node.selected")) s.classList.remove("selected");
    const shape = this.g.querySelector(`.node[data-node="${id}"]`);
    if (shape) shape.classList.add("selected");
    this.selected = id;
    if (this.folding && this.last) { // the drawn branch follows the open node
      this.draw(...this.last);
      this.fit();
    }
    this.onPick(id);
  }
}

async function showRun(run) {
  const page = template("tpl-run");
  view.replaceChildren(page);
  const panel = page.querySelector(".node-panel");
  const svg = page.querySelector("svg.tree");
  const colourBy = page.querySelector("select.colour");
  const layoutBy = page.querySelector("select.layout");
  const showHidden = page.querySelector("input.show-hidden");
  const whole = page.querySelector("input.whole");
  let data = null;
  const tree = new TreeView(svg, (id) => showNode(run, id, panel, reload, compare));
  const compare = { from: null }; // the node "Compare with another node…" was pressed on
  for (const [cls, extra] of [[".export", ""], [".export-tree", "&scope=tree"]]) {
    const link = page.querySelector(cls);
    link.href = exportUrl(run, extra);
    link.addEventListener("click", (ev) => { ev.preventDefault(); download(link.href); });
  }

  const key = page.querySelector(".colour-key");
  function drawKey() {
    key.querySelector(".key-name").textContent = `colour = ${KEY_NAMES[colourBy.value]}:`;
    const finite = Number.isFinite(tree.key.lo) && Number.isFinite(tree.key.hi);
    key.querySelector(".key-lo").textContent = finite ? `low ${fmt(tree.key.lo)}` : "";
    key.querySelector(".key-hi").textContent = finite ? `high ${fmt(tree.key.hi)}` : "";
  }

  // added: the nodes the last action made (ringed and brought into view)
  async function reload(keepView, added) {
    data = await api("GET", `/api/tree?run=${encodeURIComponent(run)}`);
    page.querySelector(".premise").textContent = data.premise;
    tree.fresh = new Set(added || []);
    const hiddenCount = data.nodes.filter((n) => n.hidden).length;
    page.querySelector(".show-hidden-box").hidden = hiddenCount === 0;
    page.querySelector(".hidden-count").textContent = String(hiddenCount);
    page.querySelector(".whole-box").hidden = data.nodes.length <= FOLD_OVER;
    draw();
    drawKey();
    if (!keepView) tree.fit();
    else tree.apply();
    if (added && added.length) tree.reveal(added);
    document.body.dataset.treeRendered = String(data.nodes.length);
    if (window.performance && performance.mark) performance.mark("tree-rendered");
  }
  const draw = () => { tree.whole = whole.checked; tree.draw(data, colourBy.value, layoutBy.value, showHidden.checked); };
  colourBy.addEventListener("change", () => { draw(); drawKey(); });
  layoutBy.addEventListener("change", () => { draw(); tree.fit(); });
  showHidden.addEventListener("change", () => { draw(); tree.fit(); });
  whole.addEventListener("change", () => { draw(); tree.fit(); });
  page.querySelector("button.fit").addEventListener("click", () => tree.fit());
  // a job of this run ended: a cancelled search kept what it found; the open node's buttons wake up
  const onEnded = async (ev) => {
    if (!page.isConnected) { window.removeEventListener("job-ended", onEnded); return; }
    const job = ev.detail;
    if (job.run !== run) return;
    try {
      if (job.status !== "done") await reload(true);
      const open = panel.dataset.node;
      if (open !== undefined && !panel.querySelector(".node-body").hidden) {
        await showNode(run, Number(open), panel, reload, compare);
      }
    } catch (e) {
      toast(e.message, true);
    }
  };
  window.addEventListener("job-ended", onEnded);
  await reload(false);
}

const DEGENERATION = ["repetition", "copying", "cut_off", "too_short", "meta", "repeated_sentences", "word_loop"];

// One line on why the node has its value: its lowest parts (curiosity, coherence, the
// degeneration penalty) and the degeneration signs that fired.
function whyLine(n) {
  const b = n.breakdown || {};
  const parts = ["curiosity", "coherence", "penalty"].filter((k) => typeof b[k] === "number")
    .sort((x, y) => b[x] - b[y]).map((k) => `${k} ${fmt(b[k])}`);
  const signs = DEGENERATION.filter((k) => b[k] > 0).map((k) => k.replace("_", " "));
  if (!parts.length) return "";
  return `Why value ${fmt(n.value)}: lowest parts ${parts.join(", ")}` +
    (signs.length ? `; penalised for ${signs.join(", ")}` : "") + ". Full breakdown below.";
}

async function showNode(run, id, panel, reload, compare) {
  const q = `/api/node?run=${encodeURIComponent(run)}&id=${id}`;
  const n = await api("GET", q);
  panel.querySelector(".node-body").hidden = false;
  panel.querySelector(".pick-hint").hidden = true;
  panel.dataset.node = String(id);
  panel.querySelector(".node-id").textContent = `#${n.id}${n.author === "human" ? " (written by a person)" : ""}`;
  const stats = [["depth", n.depth], ["visits", n.visits], ["Q", n.q], ["value", n.value], ["prior", n.prior]];
  panel.querySelector(".stats").replaceChildren(...stats.flatMap(([k, v], i) =>
    [...(i ? [" · "] : []), term(k), ` ${fmt(v)}`]));
  const body = panel.querySelector(".breakdown tbody");
  body.replaceChildren();
  for (const [k, v] of Object.entries(n.breakdown)) {
    const tr = el("tr");
    tr.dataset.key = k;
    const name = el("td");
    name.append(term(k));
    tr.append(name, el("td", fmt(v)));
    body.append(tr);
  }
  panel.querySelector(".why").textContent = n.id === 0 ? "" : whyLine(n);
  panel.querySelector(".plan").textContent = n.instruction ? `you asked: ${n.instruction}`
    : n.plan ? `the policy's plan: ${n.plan}` : "";
  const passage = panel.querySelector(".passage");
  passage.textContent = n.id === 0 ? `Premise: ${n.premise}` : n.passage;
  passage.classList.toggle("human", n.author === "human");
  const story = panel.querySelector(".story");
  story.replaceChildren(el("p", `Premise: ${n.premise}`));
  for (const s of n.steps) story.append(el("p", s.passage, s.author === "human" ? "human" : ""));
  const actions = panel.querySelector(".actions");
  const busy = busyRun(run);
  panel.querySelector(".busy-note").hidden = !busy;
  for (const b of actions.querySelectorAll(".expand, .search, .write")) b.disabled = n.finished || busy;
  panel.querySelector(".pin").disabled = n.id === 0;
  panel.querySelector(".export-branch").disabled = n.id === 0; // the premise alone is no branch
  panel.querySelector(".read-branch").disabled = n.id === 0;
  const rewriteBox = panel.querySelector(".rewrite-box");
  rewriteBox.hidden = n.id === 0;
  const rewrite = rewriteBox.querySelector(".rewrite");
  const rewriteKey = `rewrite:${id}`; // its own draft, apart from the new-passage box
  const rewriteDraft = readDraft(run, rewriteKey) || n.passage;
  if (rewrite.value !== rewriteDraft) rewrite.value = rewriteDraft;
  rewrite.oninput = () => keepDraft(run, rewriteKey, rewrite.value === n.passage ? "" : rewrite.value);
  panel.querySelector(".hide-branch").textContent = n.hidden ? "Show this branch again" : "Hide this branch";
  panel.querySelector(".hide-branch").disabled = n.id === 0 || busy;
  const own = actions.querySelector(".own");
  const draft = readDraft(run, id);
  if (own.value !== draft) own.value = draft; // the same text is left alone: the caret stays put
  own.oninput = () => keepDraft(run, id, own.value);

  // The tree is redrawn with the job's nodes only while this run is still open (the passage box
  // is never touched); elsewhere the job's notice links back to it.
  async function shown(job, what) {
    if (!panel.isConnected) return false;
    const added = (job.result && job.result.added) || [];
    try {
      await reload(true, added);
      toast(`${what}: ${added.length} new node(s)`);
      // the writer may have gone on reading other nodes meanwhile: stay where they are
      if (panel.dataset.node === String(id)) await showNode(run, id, panel, reload, compare);
    } catch (e) {
      toast(e.message, true);
    }
    return true;
  }

  // true when the job finished and its nodes were saved; false (and a toast) when it failed
  async function queued(url, body, what, onSaved) {
    for (const b of actions.querySelectorAll("button")) b.disabled = true;
    try {
      const got = await api("POST", url, body);
      await track(got.job, (job) => { if (onSaved) onSaved(job); return shown(job, what); },
        `#/run/${encodeURIComponent(run)}`);
    } catch (e) {
      toast(e.message, true);
      for (const b of actions.querySelectorAll("button")) b.disabled = false;
      return false;
    }
    return true;
  }
  // replace the buttons' handlers (the panel is reused from node to node)
  const on = (cls, fn) => {
    const old = actions.querySelector(cls);
    const fresh = old.cloneNode(true);
    old.replaceWith(fresh);
    fresh.addEventListener("click", fn);
  };
  on(".expand", () => queued("/api/expand", { run, node: id, k: Number(actions.querySelector(".k").value),
    instruction: actions.querySelector(".instruction").value }, "expanded"));
  on(".search", () => queued("/api/search", { run, node: id, simulations: Number(actions.querySelector(".n").value) },
    "searched"));
  on(".write", () => {
    const sent = own.value;
    // the writer's text is cleared only once the passage is saved (a failed request keeps it),
    // and only where it is still that text: what was typed since, or at another node, stays
    queued("/api/write", { run, node: id, passage: sent }, "your passage was valued and added", () => {
      if (readDraft(run, id) === sent) keepDraft(run, id, "");
      if (own.isConnected && panel.dataset.node === String(id) && own.value === sent) own.value = "";
    });
  });
  const withButton = actions.querySelector(".compare-with");
  withButton.hidden = !compare || compare.from === null || compare.from === id || id === 0;
  withButton.disabled = false;
  withButton.textContent = compare && compare.from !== null ? `Compare #${compare.from} with this node` : "";
  actions.querySelector(".compare-from").disabled = id === 0;
  on(".compare-from", () => {
    compare.from = id;
    toast(`node ${id} kept: click another node, then "Compare #${id} with this node"`);
  });
  on(".compare-with", () => showCompare(run, compare.from, id));
  on(".export-branch", () => download(exportUrl(run, `&node=${id}`)));
  on(".read-branch", () => { location.hash = `#/read/${encodeURIComponent(run)}/${id}`; });
  on(".hide-branch", async () => {
    try {
      await api("POST", "/api/hide", { run, node: id, hidden: !n.hidden });
      await reload(true);
      toast(n.hidden ? `branch ${id} shown again` : `branch ${id} hidden (kept on disk; "show hidden branches" brings it back)`);
      if (panel.dataset.node === String(id)) await showNode(run, id, panel, reload, compare);
    } catch (e) {
      toast(e.message, true);
    }
  });
  // a rewrite is a new sibling; its draft is cleared once saved, and only if it is still that text
  const saveRewrite = (text, then) => queued("/api/revise", { run, node: id, passage: text },
    "your version was valued and added beside the original", (job) => {
      if (readDraft(run, rewriteKey) === rewrite.value) keepDraft(run, rewriteKey, "");
      if (then) then(job);
    });
  const swap = (cls, fn) => {
    const old = rewriteBox.querySelector(cls);
    const fresh = old.cloneNode(true);
    old.replaceWith(fresh);
    fresh.addEventListener("click", fn);
  };
  swap(".save-rewrite", () => saveRewrite(rewrite.value));
  rewriteBox.querySelector(".continue-cursor").disabled = n.finished || busy; // nothing can follow a finished story
  rewriteBox.querySelector(".save-rewrite").disabled = busy;
  swap(".continue-cursor", async () => {
    const head = rewrite.value.slice(0, rewrite.selectionStart).trim();
    if (!head) { toast("put the cursor after the words to keep, then continue", true); return; }
    let made = null;
    const ok = await saveRewrite(head, (job) => { made = ((job.result && job.result.added) || [])[0]; });
    if (ok && made !== undefined && made !== null) {
      await queued("/api/expand", { run, node: made, k: Number(actions.querySelector(".k").value),
        instruction: actions.querySelector(".instruction").value }, "continued from the cursor");
    }
  });
  on(".pin", async () => {
    try {
      await api("POST", "/api/pin", { run, node: id });
      await reload(true);
      toast(`pinned: the story through node ${id} is the chosen story`);
    } catch (e) {
      toast(e.message, true);
    }
  });
}

// -- reading mode: the branch as prose, a version of any passage switched in place -----------------
const ORDINALS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"];

// Where the value model puts a passage, in words: among the versions written at its point, and
// among all the passages of the tree.
function valueInWords(n, versions, all) {
  const rank = 1 + versions.filter((v) => v.value > n.value).length;
  const place = versions.length < 2 ? "the only version written here"
    : rank === 1 ? `the value model's favourite of the ${versions.length} versions here`
    : `the value model's ${ORDINALS[rank] || `#${rank}`} choice of the ${versions.length} versions here`;
  const below = all.filter((v) => v.value < n.value).length;
  if (below === 0) return `${place}; the tree's lowest-valued passage${all.length > 1 ? "" : " (its only one)"}.`;
  return `${place}; valued above ${Math.round((100 * below) / Math.max(1, all.length))} % of the tree's passages.`;
}

async function showRead(run, start) {
  const page = template("tpl-read");
  view.replaceChildren(page);
  page.querySelector(".back").href = `#/run/${encodeURIComponent(run)}`;
  const data = await api("GET", `/api/tree?run=${encodeURIComponent(run)}`);
  page.querySelector(".premise").textContent = data.premise;
  const gone = hiddenSet(data.nodes);
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const kids = new Map(data.nodes.map((n) => [n.id, []]));
  for (const n of data.nodes) if (n.parent !== null && !gone.has(n.id)) kids.get(n.parent).push(n.id);
  const passages = data.nodes.filter((n) => n.id !== 0 && !gone.has(n.id));
  // below a node the story follows the search's favourite: most visits, then the higher Q
  const favourite = (ids) => [...ids].sort((a, b) => (byId.get(b).visits - byId.get(a).visits)
    || (byId.get(b).q - byId.get(a).q) || a - b)[0];
  const down = (id) => { while (kids.get(id).length) id = favourite(kids.get(id)); return id; };
  if (!passages.length) {
    page.querySelector(".passages").replaceChildren(el("p", "This run has no passage yet.", "hint"));
    return;
  }
  let chosen = byId.has(start) && start !== 0 && !gone.has(start) ? start : favourite(kids.get(0));
  let leaf = down(chosen);
  let steps = [];

  async function render() {
    const got = await api("GET", `/api/node?run=${encodeURIComponent(run)}&id=${leaf}`);
    steps = got.steps;
    const box = page.querySelector(".passages");
    box.replaceChildren();
    for (const s of steps) {
      const p = el("p", s.passage, "passage" + (s.author === "human" ? " human" : "") + (s.id === chosen ? " chosen" : ""));
      p.dataset.node = String(s.id);
      p.tabIndex = 0;
      p.addEventListener("click", () => { chosen = s.id; render(); });
      box.append(p);
    }
    const n = byId.get(chosen);
    const versions = kids.get(n.parent).map((id) => byId.get(id));
    const at = versions.findIndex((v) => v.id === chosen);
    const aside = page.querySelector(".alternatives");
    aside.dataset.node = String(chosen);
    aside.querySelector(".where").textContent =
      `Passage ${n.depth}: version ${at + 1} of ${versions.length}`;
    aside.querySelector(".verdict").replaceChildren(term("value", "Value"), `: ${valueInWords(n, versions, passages)}`);
    aside.querySelector(".alts").replaceChildren(...versions.map((v) => {
      const li = el("li", firstWords(v.label, 9), v.id === chosen ? "current" : "");
      li.dataset.node = String(v.id);
      li.addEventListener("click", () => pick(v.id));
      return li;
    }));
    aside.querySelector(".prev").disabled = versions.length < 2;
    aside.querySelector(".next").disabled = versions.length < 2;
    box.querySelector(".chosen").scrollIntoView({ block: "nearest" });
  }
  function pick(id) { chosen = id; leaf = down(id); return render(); }
  function turn(step) {
    const versions = kids.get(byId.get(chosen).parent);
    const at = versions.indexOf(chosen);
    return pick(versions[(at + step + versions.length) % versions.length]);
  }
  function move(step) {
    const at = steps.findIndex((s) => s.id === chosen);
    const to = steps[at + step];
    if (to) { chosen = to.id; render(); }
  }
  page.querySelector(".prev").addEventListener("click", () => turn(-1));
  page.querySelector(".next").addEventListener("click", () => turn(1));
  const keys = (e) => {
    if (!page.isConnected) { document.removeEventListener("keydown", keys); return; }
    if (e.target.closest && e.target.closest("input, textarea, select")) return;
    const act = { ArrowLeft: () => turn(-1), ArrowRight: () => turn(1), ArrowUp: () => move(-1), ArrowDown: () => move(1) }[e.key];
    if (act) { e.preventDefault(); act(); }
  };
  document.addEventListener("keydown", keys);
  await render();
}

// -- two branches side by side ---------------------------------------------------------------------
async function showCompare(run, a, b) {
  const got = await api("GET", `/api/compare?run=${encodeURIComponent(run)}&a=${a}&b=${b}`).catch((e) => {
    toast(e.message, true);
    return null;
  });
  if (!got) return;
  for (const old of document.querySelectorAll(".compare-view")) old.remove();
  const box = template("tpl-compare");
  box.querySelector(".premise").textContent = got.premise;
  const ctx = box.querySelector(".context");
  ctx.hidden = !got.context.length;
  box.querySelector(".context-text").replaceChildren(...got.context.map((t) => el("p", t)));
  for (const [cls, side] of [[".left", got.a], [".right", got.b]]) {
    const art = box.querySelector(`.side${cls}`);
    art.dataset.node = side.node;
    art.querySelector("h3").textContent = `Node #${side.node}`;
    art.querySelector(".values").replaceChildren(term("story value"), ` ${fmt(side.story_value)} · `, term("Q"),
      ` ${fmt(side.q)} · `, term("step values"), ` ${side.step_values.map(fmt).join(", ")}`);
    art.querySelector(".text").replaceChildren(
      ...side.passages.map((t, i) => el("p", t, side.authors[i] === "human" ? "human" : "")));
  }
  box.querySelector(".close").addEventListener("click", () => box.remove());
  const add = box.querySelector(".add-study");
  add.addEventListener("click", async () => {
    add.disabled = true;
    try {
      const job = await api("POST", "/api/compare/study", { run, a, b });
      let cur = job.job;
      while (cur.status === "queued" || cur.status === "running") {
        await new Promise((r) => setTimeout(r, 300));
        cur = await api("GET", `/api/jobs/${cur.id}`);
      }
      if (cur.status === "failed") throw new Error(cur.error || "could not add the pair");
      toast(`pair ${cur.result.pair} is in the study ${cur.result.study} (${cur.result.pairs} pairs): rate it from the home page`);
      add.textContent = `Added as ${cur.result.pair}`;
    } catch (e) {
      toast(e.message, true);
      add.disabled = false;
    }
  });
  document.body.append(box);
}

// -- the study ---------------------------------------------------------------------------------
async function showStudy(study) {
  const page = template("tpl-study");
  view.replaceChildren(page);
  const form = page.querySelector(".rater-form");
  const input = form.querySelector(".rater");
  input.value = localStorage.getItem("storyspace-rater") || "";
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    localStorage.setItem("storyspace-rater", input.value.trim());
    try { await nextPair(study, input.value.trim(), page); } catch (e) { toast(e.message, true); }
  });
}

async function nextPair(study, rater, page) {
  const got = await api("GET", `/api/study/next?study=${encodeURIComponent(study)}&rater=${encodeURIComponent(rater)}`);
  const box = page.querySelector(".pair");
  page.querySelector(".done").hidden = got.pair !== null;
  box.hidden = got.pair === null;
  if (got.pair === null) return;
  const p = got.pair;
  box.dataset.pair = p.pair;
  page.querySelector("h1").textContent =
    p.kind === "systems" ? "Which story is better?" : "Which continuation is better?";
  page.querySelector(".count").textContent = `Pair ${got.rated + 1} of ${got.total} (rater: ${got.rater})`;
  page.querySelector(".premise").textContent = p.premise;
  const ctx = page.querySelector(".context");
  ctx.hidden = !p.context.length;
  page.querySelector(".context-text").replaceChildren(...p.context.map((t) => el("p", t)));
  page.querySelector(".reason").value = "";
  for (const [cls, side] of [[".left", p.left], [".right", p.right]]) {
    const art = page.querySelector(`.side${cls}`);
    art.querySelector(".text").textContent = side.text;
    const old = art.querySelector(".choose");
    const button = old.cloneNode(true);
    old.replaceWith(button);
    button.addEventListener("click", async () => {
      for (const b of page.querySelectorAll(".choose")) b.disabled = true;
      try {
        await api("POST", "/api/study/rate", { study, rater: got.rater, pair: p.pair, choice: side.side,
          left: p.left.side, reason: page.querySelector(".reason").value });
        await nextPair(study, got.rater, page);
      } catch (e) {
        toast(e.message, true);
      } finally {
        for (const b of page.querySelectorAll(".choose")) b.disabled = false;
      }
    });
  }
}

// -- routing -----------------------------------------------------------------------------------
async function route() {
  const h = location.hash || "#/";
  try {
    if (h.startsWith("#/run/")) await showRun(decodeURIComponent(h.slice(6)));
    else if (h.startsWith("#/read/")) {
      const rest = h.slice(7), cut = rest.lastIndexOf("/");
      await showRead(decodeURIComponent(rest.slice(0, cut)), Number(rest.slice(cut + 1)));
    }
    else if (h.startsWith("#/study/")) await showStudy(decodeURIComponent(h.slice(8)));
    else await showHome();
  } catch (e) {
    view.replaceChildren(el("p", e.message, "error"));
    toast(e.message, true);
  }
}

window.addEventListener("hashchange", route);
route();
resumeJobs().catch((e) => toast(e.message, true));
