// synthtune's web screens. Vendored with the package: no CDN, no requests beyond this server.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;

async function api(method, url, body) {
  const init = { method, headers: { "X-CSRF-Token": CSRF } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const data = await res.json();
  if (!res.ok) throw new Error(data.detail || res.statusText);
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function segments(list) {
  return list.map((s) => (s.mark ? el("mark", { class: "hl-text" }, s.text) : document.createTextNode(s.text)));
}

// -- Ask ---------------------------------------------------------------------------------------------

async function showPage(documentId, page, chunk) {
  const viewer = document.getElementById("viewer");
  const res = await fetch(`/fragments/documents/${documentId}/pages/${page}?chunk=${chunk}`);
  viewer.innerHTML = await res.text(); // rendered by the server's autoescaping template
}

function citationButton(c) {
  const b = el("a", { class: "citation", href: `/passages/${c.chunk_id}`, "data-document": c.document_id,
    "data-page": c.page_start, "data-chunk": c.chunk_id }, `[${c.n}] ${c.title}, ${c.page_start === c.page_end ? "p. " + c.page_start : "pp. " + c.page_start + "-" + c.page_end}`);
  return b;
}

async function initAsk() {
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a.citation, a.cite-link");
    if (!a || !document.getElementById("viewer")) return;
    e.preventDefault();
    showPage(a.dataset.document, a.dataset.page, a.dataset.chunk);
  });
  const box = document.getElementById("answer");
  if (!box) return;
  try {
    const r = await api("POST", "/api/ask", { question: box.dataset.question });
    box.replaceChildren(
      el("p", { class: "answer-text" }, r.answer || "(no answer)"),
      el("p", { class: "muted" }, `model: ${r.model.kind} (${r.model.model})`),
      el("ol", { class: "citations" }, ...r.citations.map((c) => el("li", {}, citationButton(c)))),
    );
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, `No answer: ${err.message}`));
  }
}

// -- Review ------------------------------------------------------------------------------------------

const review = { items: [], index: 0, current: null, editing: false, filters: {} };

function filterParams() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(review.filters)) if (v) p.set(k, v);
  return p;
}

function syncUrl() {
  const p = filterParams();
  if (review.current) p.set("at", review.current.id);
  history.replaceState(null, "", `/review?${p}`);
}

function setProgress(progress) {
  document.getElementById("progress").textContent =
    `${progress.reviewed} / ${progress.total} reviewed (${progress.accepted} accepted, ${progress.rejected} rejected, ${progress.edited} edited)`;
}

async function loadQueue() {
  const q = await api("GET", `/api/examples?${filterParams()}`);
  review.items = q.items;
  setProgress(q.progress);
  const check = document.querySelector('#filters select[name="check"]');
  if (check.options.length === 1) for (const c of q.checks) check.append(el("option", { value: c }, c));
  check.value = review.filters.check || "";
  return q;
}

async function show(index) {
  const box = document.getElementById("example");
  if (!review.items.length) {
    review.current = null;
    box.replaceChildren(el("p", { class: "muted" }, "No examples match these filters."));
    document.getElementById("sources").replaceChildren();
    syncUrl();
    return;
  }
  review.index = Math.max(0, Math.min(index, review.items.length - 1));
  review.current = await api("GET", `/api/examples/${review.items[review.index].id}`);
  review.editing = false;
  render();
  syncUrl();
}

function render() {
  const ex = review.current;
  const checks = Object.entries(ex.checks).map(([k, ok]) => el("li", { class: ok ? "ok" : "fail" }, `${ok ? "✓" : "✗"} ${k}`));
  const history = ex.history.map((h) => el("li", {}, `${h.created_at} ${h.reviewer}: ${h.decision}${h.undoes ? " #" + h.undoes : ""}`));
  const recheck = ex.edited
    ? el("p", { class: ex.recheck.numbers_in_passages ? "ok" : "fail", id: "recheck" },
        ex.recheck.numbers_in_passages ? "re-checked: every number is in the passages"
          : `re-checked: not in the passages: ${ex.recheck.unsupported.join(", ")}`)
    : null;
  const body = review.editing
    ? [el("label", {}, "Question", el("textarea", { id: "edit-question", rows: 3, value: ex.question })),
       el("label", {}, "Answer", el("textarea", { id: "edit-answer", rows: 6, value: ex.answer || "" })),
       el("p", {}, el("button", { type: "button", id: "save-edit", onclick: saveEdit }, "Save (Ctrl+Enter)"), " ",
          el("button", { type: "button", onclick: cancelEdit }, "Cancel (Esc)"))]
    : [el("h3", { class: "question" }, ex.question), el("p", { class: "answer" }, ex.answer || "(no answer)")];
  const parts = [
    el("p", { class: "position" }, `#${ex.id} · ${review.index + 1} of ${review.items.length} · ${ex.kind} · ${ex.split || "no split"} · judge ${ex.judge_score ?? "–"}`),
    el("p", { class: `status status-${ex.status}`, id: "status" }, `${ex.status}${ex.status !== ex.curated_status ? " (by a reviewer; curate said " + ex.curated_status + ")" : ""}${ex.edited ? " · edited" : ""}`),
    ...body,
    recheck,
    ex.reasons.length ? el("p", { class: "fail" }, `failed: ${ex.reasons.join(", ")}`) : null,
    el("ul", { class: "checks" }, ...checks),
    el("p", {}, el("a", { href: `/documents/${ex.document_id}/pages/${ex.page_start}` }, `${ex.title}, page ${ex.page_start}`)),
    history.length ? el("details", {}, el("summary", {}, `history (${history.length})`), el("ul", {}, ...history)) : null,
  ];
  document.getElementById("example").replaceChildren(...parts.filter((p) => p !== null));
  document.getElementById("sources").replaceChildren(
    el("h3", {}, "Passages the answer was given"),
    ...ex.passages.map((p, i) => el("div", { class: "passage" },
      el("p", { class: "muted" }, el("a", { href: `/passages/${p.chunk_id}` }, `[${i + 1}] ${p.title}, page ${p.page_start}`)),
      el("p", { class: "passage-text" }, ...segments(p.segments)))),
  );
  if (review.editing) document.getElementById("edit-answer").focus();
}

async function decide(decision) {
  const id = review.current.id;
  review.current = await api("POST", `/api/examples/${id}/review`, { decision });
  review.items[review.index].reviewed = true;
  await refreshProgress();
  await show(review.index + 1 < review.items.length ? review.index + 1 : review.index);
}

async function refreshProgress() {
  const q = await api("GET", `/api/examples?${filterParams()}`);
  setProgress(q.progress);
}

async function undo() {
  review.current = await api("POST", `/api/examples/${review.current.id}/undo`);
  await refreshProgress();
  render();
}

async function saveEdit() {
  const question = document.getElementById("edit-question").value;
  const answer = document.getElementById("edit-answer").value;
  review.current = await api("POST", `/api/examples/${review.current.id}/review`, { decision: "edit", question, answer });
  review.editing = false;
  await refreshProgress();
  render();
}

function cancelEdit() {
  review.editing = false;
  render();
}

async function bulk(decision) {
  const n = review.items.length;
  const button = document.getElementById(`bulk-${decision}`);
  if (button.dataset.armed !== "1") { // a second click confirms
    button.dataset.armed = "1";
    button.textContent = `Really ${decision} all ${n}?`;
    return;
  }
  button.dataset.armed = "";
  button.textContent = `${decision === "accept" ? "Accept" : "Reject"} all shown`;
  await api("POST", "/api/examples/bulk", { decision, filter: review.filters });
  await loadQueue();
  await show(review.index);
}

async function initReview() {
  const params = new URLSearchParams(location.search);
  const form = document.getElementById("filters");
  for (const s of form.querySelectorAll("select")) {
    review.filters[s.name] = params.get(s.name) || "";
    s.addEventListener("change", async () => {
      review.filters[s.name] = s.value;
      await loadQueue();
      await show(0);
    });
  }
  await loadQueue();
  for (const s of form.querySelectorAll("select")) s.value = review.filters[s.name];
  document.getElementById("bulk-accept").addEventListener("click", () => bulk("accept"));
  document.getElementById("bulk-reject").addEventListener("click", () => bulk("reject"));
  const at = Number(params.get("at") || 0);
  let index = review.items.findIndex((it) => it.id >= at);
  await show(index < 0 ? 0 : index);
  document.addEventListener("keydown", onKey);
}

async function onKey(e) {
  if (review.editing) {
    if (e.key === "Escape") { e.preventDefault(); cancelEdit(); }
    else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); await saveEdit(); }
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey || ["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName)) return;
  if (!review.current) return;
  const actions = {
    j: () => show(review.index + 1),
    k: () => show(review.index - 1),
    a: () => decide("accept"),
    r: () => decide("reject"),
    u: () => undo(),
    e: () => { review.editing = true; render(); },
  };
  const action = actions[e.key];
  if (action) { e.preventDefault(); await action(); }
}

// -- Runs --------------------------------------------------------------------------------------------

function initRuns() {
  const source = new EventSource("/api/runs/events");
  source.addEventListener("runs", (e) => {
    const data = JSON.parse(e.data);
    document.body.dataset.live = "1";
    for (const s of data.stages) {
      const row = document.querySelector(`tr[data-stage="${s.stage}"]`);
      if (!row || !s.run) continue;
      row.className = `status-${s.run.status}`;
      const cells = row.querySelectorAll("td");
      if (cells.length < 6) continue; // never run when the page was drawn: a reload shows it
      cells[1].textContent = s.run.status;
      cells[3].textContent = s.run.finished_at || "";
      cells[4].firstElementChild.textContent = JSON.stringify(s.run.counters);
      cells[5].textContent = s.run.error || "";
    }
  });
  window.addEventListener("pagehide", () => source.close());
}

document.addEventListener("DOMContentLoaded", () => {
  const screen = document.body.dataset.screen;
  if (screen === "runs.html") initRuns();
  if (screen === "ask.html") initAsk();
  if (screen === "review.html") initReview();
});
