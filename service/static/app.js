// WhoKnows search page: plain JS, no build step. Every string from the API enters the page as text;
// the only markup taken from the API is <mark> in snippets, rebuilt as elements (never innerHTML).
"use strict";

const TOKEN_KEY = "whoknows.token";
const $ = (id) => document.getElementById(id);
let searchSeq = 0;
let expertsSeq = 0; // the experts panel reloads on its own after a vote
let me = null; // GET /me: { user, person_id, name, admin }, or null when it is not known

// ---------------------------------------------------------------------------------------------
// Helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };

function unescapeHtml(text) {
  return text.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (m) => ENTITIES[m]);
}

// A snippet is HTML-escaped text with <mark>…</mark> around matched terms: rebuild it from text nodes.
function snippetNode(snippet) {
  const frag = document.createDocumentFragment();
  let inMark = false;
  for (const part of String(snippet || "").split(/(<mark>|<\/mark>)/)) {
    if (part === "<mark>") { inMark = true; continue; }
    if (part === "</mark>") { inMark = false; continue; }
    if (!part) continue;
    const text = document.createTextNode(unescapeHtml(part));
    frag.append(inMark ? el("mark", {}, text) : text);
  }
  return frag;
}

// Only http(s) and same-site links are followed; anything else (javascript:, data:) is dropped.
function safeUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function ago(iso) {
  if (!iso) return null;
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return null;
  const s = Math.max(0, (Date.now() - then) / 1000);
  const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [name, size] of units) {
    const n = Math.floor(s / size);
    if (n >= 1) return `${n} ${name}${n === 1 ? "" : "s"} ago`;
  }
  return "just now";
}

function timeNode(prefix, iso) {
  const rel = ago(iso);
  if (!rel) return null;
  return el("time", { datetime: iso, title: new Date(iso).toLocaleString() }, `${prefix} ${rel}`);
}

function token() {
  try { return localStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

// fetch that never throws: { ok, status, data } with status 0 on a network failure.
async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  try {
    const response = await fetch(path, { credentials: "same-origin", ...options, headers });
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    return { ok: response.ok, status: response.status, data };
  } catch {
    return { ok: false, status: 0, data: null };
  }
}

function quiet(message) {
  return el("p", { class: "quiet" }, message);
}

function failureText(result, what) {
  if (result.status === 404 || result.status === 405) return `${what} are not available on this server.`;
  if (result.status === 401) return `Sign in to see ${what.toLowerCase()}.`;
  if (result.status === 403) return `Your token does not allow ${what.toLowerCase()}.`;
  if (result.status === 429) return `Too many requests; ${what.toLowerCase()} will be back in a moment.`;
  return `${what} are unavailable right now.`;
}

// ---------------------------------------------------------------------------------------------
// Index status and filters

async function loadStatus() {
  const status = $("index-status");
  const result = await api("/sources");
  if (!result.ok || !result.data) {
    status.textContent = result.status === 401 ? "Sign in or add an API token to search." : "Index status unavailable.";
    if (result.status === 401) document.querySelector(".token").open = true;
    return;
  }
  const { sources, documents, index } = result.data;
  const when = ago(index.updated_at);
  status.classList.toggle("stale", Boolean(index.stale));
  if (!index.updated_at) {
    status.textContent = "The index is empty: nothing has been ingested yet.";
  } else if (index.stale) {
    status.textContent = `Warning: the index is stale — last updated ${when}. Results may be out of date.`;
  } else {
    status.textContent = `Index updated ${when} · ${documents} documents you can see`;
  }
  fillSelect($("f-source"), sources.map((s) => [s.source, `${s.source} (${s.documents})`]), "All sources");
  const kinds = new Map();
  for (const s of sources) for (const [kind, n] of Object.entries(s.kinds || {})) kinds.set(kind, (kinds.get(kind) || 0) + n);
  fillSelect($("f-kind"), [...kinds.entries()].sort().map(([k, n]) => [k, `${k} (${n})`]), "All kinds");
}

function fillSelect(select, options, allLabel) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "" }, allLabel), ...options.map(([v, label]) => el("option", { value: v }, label)));
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

// ---------------------------------------------------------------------------------------------
// Search, answer, experts

function readQuery() {
  const params = new URLSearchParams(location.search);
  return { q: params.get("q") || "", source: params.get("source") || "", kind: params.get("kind") || "" };
}

function runSearch(pushHistory = true) {
  const q = $("q").value.trim();
  const source = $("f-source").value;
  const kind = $("f-kind").value;
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (source) params.set("source", source);
  if (kind) params.set("kind", kind);
  const url = params.toString() ? `?${params}` : location.pathname;
  if (pushHistory) history.pushState(null, "", url); else history.replaceState(null, "", url);
  const seq = ++searchSeq;
  $("intro").hidden = Boolean(q);
  if (!q) {
    $("result-list").replaceChildren();
    $("results-status").textContent = "";
    $("answer").hidden = true;
    $("experts").hidden = true;
    return;
  }
  document.title = `${q} — WhoKnows`;
  loadResults(seq, q, source, kind);
  loadAnswer(seq, q);
  loadExperts(seq, q);
}

async function loadResults(seq, q, source, kind) {
  const list = $("result-list");
  const status = $("results-status");
  $("results").setAttribute("aria-busy", "true");
  status.textContent = "Searching…";
  const params = new URLSearchParams({ q, k: "20" });
  if (source) params.append("source", source);
  if (kind) params.append("kind", kind);
  const result = await api(`/search?${params}`);
  if (seq !== searchSeq) return;
  $("results").setAttribute("aria-busy", "false");
  if (!result.ok) {
    list.replaceChildren();
    if (result.status === 401) {
      status.textContent = "Sign-in required: open “API token” above and paste a token, or sign in through your portal.";
      document.querySelector(".token").open = true;
    } else if (result.status === 422) {
      status.textContent = "That query could not be searched (too long or malformed).";
    } else if (result.status === 429) {
      status.textContent = "Too many searches; wait a moment and try again.";
    } else {
      status.textContent = "Search is unavailable right now.";
    }
    return;
  }
  const hits = result.data.hits || [];
  status.textContent = hits.length
    ? `${hits.length} result${hits.length === 1 ? "" : "s"} for “${q}”`
    : `No results for “${q}”. Try other words or remove a filter.`;
  list.replaceChildren(...hits.map(resultItem));
}

function resultItem(hit) {
  const href = safeUrl(hit.url) || `#doc=${encodeURIComponent(hit.doc_id)}`;
  const title = el("a", {
    href, class: "result-link", "data-doc": hit.doc_id,
    onclick: (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return; // new tab: the source
      event.preventDefault();
      openDocument(hit.doc_id, hit.title);
    },
  }, hit.title || hit.doc_id);
  const where = hit.heading ? el("span", { class: "crumbs" }, hit.heading) : null;
  const original = safeUrl(hit.url) ? el("a", { href: safeUrl(hit.url), class: "orig" }, "open source") : null;
  return el("li", { class: "result", "data-doc": hit.doc_id },
    el("h3", {}, title),
    el("div", { class: "meta" },
      el("span", { class: "badge source" }, hit.source),
      el("span", { class: "badge kind" }, hit.kind),
      where,
      timeNode("updated", hit.updated_at),
      hit.page ? el("span", {}, `page ${hit.page}`) : null,
      original),
    el("p", { class: "snippet" }, snippetNode(hit.snippet)));
}

async function loadAnswer(seq, q) {
  const panel = $("answer");
  const body = $("answer-body");
  panel.hidden = false;
  body.replaceChildren(quiet("Looking for an answer…"));
  const result = await api("/ask", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ question: q, k: 5 }),
  });
  if (seq !== searchSeq) return;
  if (!result.ok || !result.data) {
    body.replaceChildren(quiet(failureText(result, "Answers")));
    return;
  }
  const { answer, citations = [], confident } = result.data;
  const parts = [];
  if (confident === false) parts.push(el("p", { class: "unsure" }, "Not sure — check the cited passages."));
  if (answer) parts.push(el("p", { class: "answer-text" }, answerNode(answer, citations)));
  else parts.push(quiet("No answer found in the documents you can see."));
  if (citations.length) {
    parts.push(el("ol", { class: "citations", "aria-label": "Citations" }, citations.map(citationItem)));
  }
  body.replaceChildren(...parts);
}

function answerNode(answer, citations) {
  const known = new Set(citations.map((c) => String(c.n)));
  const frag = document.createDocumentFragment();
  for (const part of String(answer).split(/(\[\d+\])/)) {
    const m = /^\[(\d+)\]$/.exec(part);
    if (m && known.has(m[1])) {
      frag.append(el("a", { href: `#cite-${m[1]}`, class: "cite", "aria-label": `citation ${m[1]}` }, `[${m[1]}]`));
    } else if (part) {
      frag.append(document.createTextNode(part));
    }
  }
  return frag;
}

function citationItem(c) {
  const href = safeUrl(c.url);
  const title = href
    ? el("a", { href, class: "citation-link" }, c.title || c.doc_id)
    : el("button", { type: "button", class: "linkish", onclick: () => openDocument(c.doc_id, c.title) }, c.title || c.doc_id);
  return el("li", { id: `cite-${c.n}`, value: c.n }, title, c.quote ? el("q", {}, c.quote) : null);
}

async function loadExperts(seq, q, reload = false) {
  const panel = $("experts");
  const body = $("experts-body");
  const mine = ++expertsSeq;
  panel.hidden = false;
  if (!reload) body.replaceChildren(quiet("Finding people…"));
  const result = await api(`/experts?${new URLSearchParams({ q, k: "5" })}`);
  if (seq !== searchSeq || mine !== expertsSeq) return;
  if (!result.ok || !result.data) {
    body.replaceChildren(quiet(failureText(result, "People suggestions")));
    return;
  }
  const experts = result.data.experts || [];
  if (!experts.length) {
    body.replaceChildren(quiet("Nobody stands out for this topic yet."));
    return;
  }
  const votes = me && me.user ? await myVotes(q) : {};
  if (seq !== searchSeq || mine !== expertsSeq) return;
  body.replaceChildren(el("ul", { class: "people" }, experts.map((p) => personItem(p, q, votes))));
}

function mentorBadge(mentor) {
  if (!mentor) return null;
  if (mentor.busy) return el("span", { class: "badge busy" }, "Busy: every mentoring place is taken");
  if (mentor.opt_in && mentor.active !== false) {
    const left = mentor.capacity === null || mentor.capacity === undefined ? null : mentor.capacity - (mentor.accepted || 0);
    const slots = left === null ? "" : ` · ${left} of ${mentor.capacity} place${mentor.capacity === 1 ? "" : "s"} free`;
    return el("span", { class: "badge mentor" }, `Mentoring${slots}`);
  }
  return el("span", { class: "badge muted" }, "Not mentoring now");
}

function evidenceList(evidence, limit = 3) {
  if (!evidence || !evidence.length) return null;
  return el("ul", { class: "evidence", "aria-label": "Evidence" }, evidence.slice(0, limit).map((e) => {
    const href = safeUrl(e.url);
    const link = href
      ? el("a", { href }, e.title || e.doc_id)
      : el("button", { type: "button", class: "linkish", onclick: () => openDocument(e.doc_id, e.title) }, e.title || e.doc_id);
    return el("li", {}, link, e.role ? ` (${e.role}${e.date ? `, ${ago(e.date) || e.date}` : ""})` : "");
  }));
}

function personItem(p, q, votes) {
  const name = el("button", {
    type: "button", class: "linkish person-name", "data-person": p.person_id,
    onclick: () => openPerson(p.person_id, p.name),
  }, p.name || p.person_id);
  const role = [p.title, p.team].filter(Boolean).join(" · ");
  const labels = (p.labels || []).filter((l) => !l.startsWith("busy"));
  const other = me && me.user && me.person_id !== p.person_id;
  return el("li", { class: "person", "data-person": p.person_id },
    name,
    role ? el("div", { class: "meta" }, role) : null,
    p.why ? el("p", { class: "why" }, p.why) : null,
    labels.length ? el("div", { class: "meta" }, labels.map((l) => el("span", { class: "badge note" }, l))) : null,
    el("div", { class: "meta" }, mentorBadge(p.mentor), timeNode("active", p.last_active)),
    evidenceList(p.evidence),
    other ? personActions(p, q, votes[p.person_id]) : null);
}

// ---------------------------------------------------------------------------------------------
// Viewer dialog: a document's text, or a person's profile

function openViewer(title) {
  const dialog = $("viewer");
  $("viewer-title").textContent = title;
  $("viewer-body").replaceChildren(quiet("Loading…"));
  if (!dialog.open) dialog.showModal();
  return $("viewer-body");
}

async function openDocument(docId, title) {
  const body = openViewer(title || docId);
  const result = await api(`/documents/${docId.split("/").map(encodeURIComponent).join("/")}`);
  if (!result.ok || !result.data) {
    body.replaceChildren(quiet(result.status === 404 ? "This document is not available." : "The document could not be loaded."));
    return;
  }
  const d = result.data;
  $("viewer-title").textContent = d.title;
  const href = safeUrl(d.url);
  body.replaceChildren(
    el("div", { class: "meta" },
      el("span", { class: "badge source" }, d.source),
      el("span", { class: "badge kind" }, d.kind),
      timeNode("updated", d.updated_at),
      href ? el("a", { href }, "Open the original") : null),
    d.contributors && d.contributors.length
      ? el("p", { class: "meta" }, "By ", d.contributors.slice(0, 6).map((c, i) => [i ? ", " : "",
        c.person_id ? el("button", { type: "button", class: "linkish", onclick: () => openPerson(c.person_id, c.name) }, c.name || c.person_id)
          : (c.name || "unknown")]))
      : null,
    el("div", { class: "doc-text" }, d.text));
}

async function openPerson(personId, name) {
  const body = openViewer(name || personId);
  const result = await api(`/people/${encodeURIComponent(personId)}`);
  if (!result.ok || !result.data) {
    body.replaceChildren(quiet(failureText(result, "Profiles")));
    return;
  }
  const p = result.data.person || result.data;
  $("viewer-title").textContent = p.name || personId;
  const topics = p.topics || [];
  const evidence = p.evidence || p.documents || p.contributions || [];
  body.replaceChildren(
    el("p", { class: "meta profile-role" }, [p.title, p.team, p.timezone].filter(Boolean).join(" · ")),
    el("div", { class: "meta" }, mentorBadge(p.mentor), timeNode("active", p.last_active)),
    topics.length ? el("h3", {}, "Topics") : null,
    topics.length ? el("ul", { class: "topics" }, topics.map((t) => el("li", { class: "badge muted" }, topicText(t)))) : null,
    p.do_not_ask && p.do_not_ask.length ? el("p", { class: "meta" }, `Please don't ask about: ${p.do_not_ask.join(", ")}`) : null,
    evidence.length ? el("h3", {}, "Recent work") : null,
    evidenceList(evidence, 12));
}

function topicText(t) {
  if (typeof t === "string") return t;
  const name = t.name || t.topic || "";
  return t.status === "self-declared" ? `${name} (self-declared)` : t.status === "confirmed" ? `${name} ✓` : name;
}

// ---------------------------------------------------------------------------------------------
// Keyboard

function resultLinks() {
  return [...document.querySelectorAll("#result-list .result-link")];
}

function moveFocus(step) {
  const links = resultLinks();
  if (!links.length) return;
  const at = links.indexOf(document.activeElement);
  if (at === -1) { links[step > 0 ? 0 : links.length - 1].focus(); return; }
  const next = at + step;
  if (next < 0) { $("q").focus(); return; }
  links[Math.min(next, links.length - 1)].focus();
}

function onKey(event) {
  const target = event.target;
  const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
  if ($("viewer").open) return;
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    $("q").focus();
    $("q").select();
    return;
  }
  if (event.key === "ArrowDown" && (target === $("q") || target.classList.contains("result-link"))) {
    event.preventDefault();
    moveFocus(1);
  } else if (event.key === "ArrowUp" && target.classList.contains("result-link")) {
    event.preventDefault();
    moveFocus(-1);
  }
}

// ---------------------------------------------------------------------------------------------
// Start

function init() {
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); runSearch(); });
  for (const id of ["f-source", "f-kind"]) $(id).addEventListener("change", () => { if ($("q").value.trim()) runSearch(); });
  document.addEventListener("keydown", onKey);
  $("result-list").addEventListener("focusin", (event) => {
    for (const li of document.querySelectorAll(".result.active")) li.classList.remove("active");
    const li = event.target.closest(".result");
    if (li) li.classList.add("active");
  });
  $("viewer-close").addEventListener("click", () => $("viewer").close());
  $("viewer").addEventListener("click", (event) => { if (event.target === $("viewer")) $("viewer").close(); });
  $("token").value = token();
  $("token-state").textContent = token() ? "A token is saved in this browser." : "";
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    try { value ? localStorage.setItem(TOKEN_KEY, value) : localStorage.removeItem(TOKEN_KEY); } catch { /* private mode */ }
    $("token-state").textContent = value ? "Token saved; requests now carry it." : "Token removed.";
    refresh();
  });
  $("token-clear").addEventListener("click", () => {
    try { localStorage.removeItem(TOKEN_KEY); } catch { /* private mode */ }
    $("token").value = "";
    $("token-state").textContent = "Token removed.";
    refresh();
  });
  window.addEventListener("popstate", () => { applyQuery(); runSearch(false); });
  applyQuery();
  refresh();
}

function applyQuery() {
  const { q, source, kind } = readQuery();
  $("q").value = q;
  $("f-source").dataset.want = source;
  $("f-kind").dataset.want = kind;
}

async function refresh() {
  await Promise.all([loadStatus(), loadMe()]);
  for (const id of ["f-source", "f-kind"]) {
    const want = $(id).dataset.want;
    if (want) {
      if (![...$(id).options].some((o) => o.value === want)) $(id).append(el("option", { value: want }, want));
      $(id).value = want;
      $(id).dataset.want = "";
    }
  }
  if ($("q").value.trim()) runSearch(false);
  else if (!readQuery().q) $("q").focus();
}

document.addEventListener("DOMContentLoaded", init);
