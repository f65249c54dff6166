// WhoKnows: your own profile — suggestions and mentoring, your topics, mentoring requests, your data.
// Also what a signed-in user does beside each suggestion: helpful or not, ask to be mentored.
// Loaded after app.js and built on its helpers ($, el, api, quiet, openViewer, me).
"use strict";

async function myVotes(q) {
  const result = await api(`/experts/feedback?${new URLSearchParams({ q })}`);
  return result.ok && result.data ? result.data.votes || {} : {};
}

// Helpful / not helpful for this question, and "ask to be mentored" when the person has room.
function personActions(p, q, vote) {
  const who = p.name || p.person_id;
  const state = el("span", { class: "hint", role: "status" });
  const voteButton = (helpful, label) => el("button", {
    type: "button", class: "vote", "aria-pressed": vote === helpful ? "true" : "false",
    "aria-label": `${label}: ${who}`,
    onclick: async () => {
      const result = await api("/experts/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ query: q, person_id: p.person_id, helpful: vote === helpful ? null : helpful }),
      });
      if (!result.ok) { state.textContent = detailOf(result, "Your feedback could not be saved."); return; }
      loadExperts(searchSeq, q, true);
    },
  }, label);
  const ask = p.mentor && p.mentor.available ? el("button", {
    type: "button", class: "ask-mentor", "aria-label": `Ask ${who} to be your mentor`,
    onclick: async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      const result = await api(`/people/${encodeURIComponent(p.person_id)}/mentoring-requests`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ topic: q.slice(0, 80) }),
      });
      state.textContent = result.ok ? `Request sent to ${who}.` : detailOf(result, "The request could not be sent.");
      if (!result.ok) button.disabled = false;
    },
  }, "Ask to be mentored") : null;
  return el("div", { class: "person-actions" }, voteButton(true, "Helpful"), voteButton(false, "Not helpful"), ask, state);
}

function detailOf(result, fallback) {
  const detail = result.data && result.data.detail;
  return typeof detail === "string" ? detail : fallback;
}

async function loadMe() {
  const result = await api("/me");
  me = result.ok && result.data ? result.data : null;
  $("my-profile").hidden = !(me && me.person_id);
}

function jsonBody(method, data) {
  return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) };
}

function myPath(suffix) {
  return `/people/${encodeURIComponent(me.person_id)}${suffix}`;
}

async function openMyProfile() {
  if (!me || !me.person_id) return;
  await renderMyProfile(openViewer(`Your profile (${me.name || me.person_id})`));
}

async function renderMyProfile(body, message) {
  const [settings, profile, requests] = await Promise.all([
    api(myPath("/settings")), api(myPath("")), api("/mentoring/requests"),
  ]);
  if (!settings.ok || !settings.data) {
    body.replaceChildren(quiet(detailOf(settings, "Your profile could not be loaded.")));
    return;
  }
  body.replaceChildren(
    el("p", { class: "hint", role: "status", id: "profile-state" }, message || ""),
    settingsForm(body, settings.data),
    topicsSection(body, settings.data, profile.ok && profile.data ? profile.data.topics || [] : []),
    requestsSection(body, requests.ok && requests.data ? requests.data : { received: [], sent: [] }),
    exportSection());
}

function splitTopics(text) {
  return text.split(",").map((t) => t.trim()).filter(Boolean);
}

function field(id, label, input) {
  return el("div", { class: "field" }, el("label", { for: id }, label), input);
}

function settingsForm(body, s) {
  const listed = el("input", { type: "checkbox", id: "s-listed", checked: s.listed });
  const mentor = el("input", { type: "checkbox", id: "s-mentor", checked: s.mentor.opt_in });
  const capacity = el("input", { type: "number", id: "s-capacity", min: 0, max: 100, value: s.mentor.capacity ?? "" });
  const ask = el("input", { type: "text", id: "s-ask", value: (s.chosen.ask_me_about || []).join(", "), maxlength: 1700 });
  const avoid = el("input", { type: "text", id: "s-avoid", value: s.chosen.do_not_ask.join(", "), maxlength: 1700 });
  const onsubmit = async (event) => {
    event.preventDefault();
    const wanted = capacity.value === "" ? null : Number(capacity.value);
    const change = {
      listed: listed.checked ? null : false, // checked is the default: follow it
      mentor_opt_in: mentor.checked === s.directory.mentor_opt_in ? null : mentor.checked,
      mentor_capacity: wanted === s.directory.mentor_capacity ? null : wanted,
      ask_me_about: splitTopics(ask.value).length ? splitTopics(ask.value) : null,
      do_not_ask: splitTopics(avoid.value),
    };
    const result = await api(myPath("/settings"), jsonBody("PATCH", change));
    await renderMyProfile(body, result.ok ? "Saved: searches show it at once." : detailOf(result, "Your settings could not be saved."));
  };
  return el("form", { class: "settings", onsubmit },
    el("h3", {}, "Suggestions and mentoring"),
    el("div", { class: "check" }, listed, el("label", { for: "s-listed" }, "Suggest me in “who knows” results")),
    el("div", { class: "check" }, mentor, el("label", { for: "s-mentor" }, "I mentor colleagues")),
    field("s-capacity", "Mentees at a time (empty: the directory's)", capacity),
    el("p", { class: "hint" }, `${s.mentor.accepted} accepted now${s.mentor.busy ? " — you show as busy" : ""}.`),
    field("s-ask", "Ask me about (comma-separated; empty: what my work shows)", ask),
    field("s-avoid", "Please don't ask me about", avoid),
    el("button", { type: "submit", class: "primary" }, "Save settings"));
}

function topicButton(body, topic, status, label) {
  return el("button", {
    type: "button", class: "small", "aria-label": `${label}: ${topic}`,
    onclick: async () => {
      const result = await api(myPath("/topics"), jsonBody("PUT", { topic, status }));
      await renderMyProfile(body, result.ok ? `${label}: ${topic}.` : detailOf(result, "That change could not be saved."));
    },
  }, label);
}

function topicsSection(body, s, shown) {
  const corrected = new Map(s.topics.map((t) => [t.topic.toLowerCase(), t.status]));
  const items = shown.map((t) => {
    const mine = corrected.get(t.topic.toLowerCase());
    return el("li", { class: "topic-row" },
      el("span", {}, t.topic), el("span", { class: "badge muted" }, t.status),
      t.status === "confirmed" ? null : topicButton(body, t.topic, "confirmed", "Confirm"),
      topicButton(body, t.topic, "hidden", "Not me"),
      mine ? topicButton(body, t.topic, "none", "Undo") : null);
  });
  for (const t of s.topics.filter((c) => c.status === "hidden")) {
    items.push(el("li", { class: "topic-row" },
      el("span", {}, t.topic), el("span", { class: "badge muted" }, "hidden from others"),
      topicButton(body, t.topic, "none", "Undo")));
  }
  const add = el("input", { type: "text", id: "t-add", maxlength: 80 });
  const onsubmit = async (event) => {
    event.preventDefault();
    const topic = add.value.trim();
    if (!topic) return;
    const result = await api(myPath("/topics"), jsonBody("PUT", { topic, status: "added" }));
    await renderMyProfile(body, result.ok ? `Added: ${topic}.` : detailOf(result, "That topic could not be added."));
  };
  return el("section", { class: "my-topics" },
    el("h3", {}, "Your topics"),
    el("p", { class: "hint" }, "Confirmed topics raise you for matching questions; “Not me” removes you from them (never from the documents you wrote)."),
    items.length ? el("ul", { class: "topic-list" }, items) : quiet("Your work shows no topics yet."),
    el("form", { class: "add-topic", onsubmit }, field("t-add", "Add a topic you know", add), el("button", { type: "submit" }, "Add")));
}

function requestButton(body, r, action, label, who) {
  return el("button", {
    type: "button", class: "small", "aria-label": `${label} ${who}`,
    onclick: async () => {
      const result = await api(`/mentoring/requests/${r.id}/${action}`, { method: "POST" });
      await renderMyProfile(body, result.ok ? `${label}: ${who}.` : detailOf(result, "That could not be done."));
    },
  }, label);
}

function requestsSection(body, lists) {
  const received = lists.received.map((r) => {
    const who = r.requester_person || r.requester;
    return el("li", { class: "request" },
      el("span", {}, `${who}${r.topic ? ` on ${r.topic}` : ""} — ${r.status}`),
      r.message ? el("q", {}, r.message) : null,
      r.status === "pending" ? [requestButton(body, r, "accept", "Accept", who), requestButton(body, r, "decline", "Decline", who)] : null,
      r.status === "accepted" ? requestButton(body, r, "end", "End", who) : null);
  });
  const sent = lists.sent.map((r) => el("li", { class: "request" },
    el("span", {}, `${r.mentor}${r.topic ? ` on ${r.topic}` : ""} — ${r.status}`),
    r.status === "pending" ? requestButton(body, r, "withdraw", "Withdraw", r.mentor) : null,
    r.status === "accepted" ? requestButton(body, r, "end", "End", r.mentor) : null));
  return el("section", { class: "my-requests" },
    el("h3", {}, "Mentoring requests"),
    received.length ? el("ul", { class: "requests", "aria-label": "Requests to you" }, received) : quiet("Nobody has asked you yet."),
    sent.length ? el("h4", {}, "Yours") : null,
    sent.length ? el("ul", { class: "requests", "aria-label": "Your requests" }, sent) : null);
}

function exportSection() {
  const state = el("span", { class: "hint", role: "status" });
  const button = el("button", {
    type: "button",
    onclick: async () => {
      const result = await api(myPath("/export"));
      if (!result.ok || !result.data) { state.textContent = detailOf(result, "The export failed."); return; }
      const blob = new Blob([JSON.stringify(result.data, null, 2)], { type: "application/json" });
      const link = el("a", { href: URL.createObjectURL(blob), download: `whoknows-${me.person_id}.json` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      state.textContent = "Downloaded.";
    },
  }, "Export my data");
  return el("section", { class: "my-data" },
    el("h3", {}, "Your data"),
    el("p", { class: "hint" }, "Your profile as others see it, your settings, your feedback, your requests and every change to your profile, as JSON."),
    button, state);
}

document.addEventListener("DOMContentLoaded", () => {
  $("my-profile").addEventListener("click", openMyProfile);
});
