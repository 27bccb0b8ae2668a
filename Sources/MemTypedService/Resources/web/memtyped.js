// memtyped's web page: a client of the public HTTP API (openapi.yaml), no
// framework. It decides nothing itself: every answer on the page is a
// response body, drawn. Data is put into the DOM as text nodes only, never
// as HTML, so nothing a VM record holds can run as script.
"use strict";

// The bochs example, as openapi.yaml's components/examples/BochsDecisionRequest
// has it (tests/web_test.py checks that the form sends exactly that body).
const BOCHS = {
  kernel: "6.16",
  host: { vendor: "intel", self_snoop: true, cpu: { family: 6, model: "0x8f" } },
  vm: { disabled_quirks: ["IGNORE_GUEST_PAT"] },
  vcpu: { pat: "linux" },
  access: { gpa: "0xfd000000", pat_index: 2 },
};

const TOKEN_KEY = "memtyped.token";
const $ = (id) => document.getElementById(id);

// ---- DOM ------------------------------------------------------------------

/** An element with attributes (`class`, `for`, `on*` handlers, anything else
 * as an attribute) and children (nodes, strings, numbers; null skipped). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  return fill(el, ...children);
}

/** Replaces `el`'s children: nested arrays flattened, null, undefined and false skipped, the rest as text. */
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c))));
  return el;
}

/** A definition list from [term, value] pairs; pairs with a null value are left out. */
function facts(pairs) {
  return h("dl", { class: "facts" },
    pairs.filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

/** A table in a scrolling wrapper, so a wide one never widens the page. */
function table(caption, headers, rows, attrs) {
  return h("div", { class: "scroll" },
    h("table", attrs, caption ? h("caption", null, caption) : null,
      h("thead", null, h("tr", null, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", null, rows)));
}

function code(text) { return h("code", null, text); }
function yesNo(b) { return b ? "yes" : "no"; }

function setStatus(text) { $("status").textContent = text; }

/** Shows a problem (RFC 9457) or a transport failure in `box`. */
function showProblem(box, problem) {
  if (problem instanceof Error) console.error(problem);  // a bug of this page, not an answer: for the console (and web_test)
  fill(box,
    h("strong", null, `${problem.status || ""} ${problem.title || "Error"}`.trim()),
    problem.detail ? h("p", null, problem.detail) : null,
    problem.pointer ? h("p", null, "Field: ", code(problem.pointer)) : null,
    problem.status === 401 ? h("p", null, sessionStorage.getItem(TOKEN_KEY)
      ? "The bearer token under Token was refused: check it there." : "Enter a bearer token under Token: this server needs one here.") : null);
  box.hidden = false;
}

// ---- The API ----------------------------------------------------------------

/** One call to the API. Resolves to the parsed body; rejects with a problem object. */
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw { title: "The server did not answer", detail: String(e) };
  }
  let parsed = null;
  try { parsed = await response.json(); } catch (e) { /* an empty or non-JSON body */ }
  if (!response.ok) throw parsed && parsed.title ? parsed : { status: response.status, title: response.statusText };
  return parsed;
}

/** The newest call of each kind wins. A view takes `const current = newest(kind)` before its
 * call and returns early once `current()` is false: an answer overtaken by a later call of the
 * same kind (a slow first filter, a VM left for another) must not be drawn over the newer one. */
const issued = {};
function newest(kind) {
  const n = (issued[kind] = (issued[kind] || 0) + 1);
  return () => issued[kind] === n;
}

/** Offers the next page in the paragraph `more` while there is a `cursor`. The button ignores
 * clicks while `load(cursor)` runs (a double click loads one page; aria-disabled rather than
 * disabled, which would drop its focus), a failure is shown beside it (it can be tried again),
 * and the focus moves to whatever replaces it. `load` appends the page and calls moreButton
 * again with the next cursor. */
function moreButton(more, cursor, label, load) {
  const hadFocus = more.contains(document.activeElement);
  if (!cursor) {
    fill(more, hadFocus ? h("span", { tabindex: "-1" }, "That is all.") : null);
    if (hadFocus) more.firstChild.focus();
    return;
  }
  const error = h("div", { class: "problem", hidden: true });
  let busy = false;
  const button = h("button", { type: "button", onclick: async () => {
    if (busy) return;
    busy = true;
    button.setAttribute("aria-disabled", "true");
    error.hidden = true;
    try { await load(cursor); } catch (p) { showProblem(error, p); } finally {
      busy = false;
      button.removeAttribute("aria-disabled");
    }
  } }, label);
  fill(more, button, error);
  if (hadFocus) button.focus();
}

/** A paged listing: each page's items are drawn into `into` (a tbody or a list); the
 * returned paragraph offers "More" while there is a `next_cursor` (moreButton). Pages that
 * arrive once `current()` is false (a newer listing started) are dropped. */
async function paged(path, into, draw, onPage, current) {
  const more = h("p", { class: "more" });
  const load = async (cursor) => {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    if (!current()) return;
    into.append(...draw(page));
    if (onPage) onPage(page, !cursor);
    moreButton(more, page.next_cursor, "More", load);
  };
  await load(null);
  return more;
}

const vmPath = (id, rest) => `/v1/vms/${encodeURIComponent(id)}${rest || ""}`;

// One `label` query parameter of GET /v1/vms and GET /v1/risks, as openapi.yaml
// patterns it (tests/web_test.py checks that it still does).
const LABEL_FILTER = String.raw`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}=[^\x00-\x1f\x7f-\x9f]*$`;

/** Marks `input` as the field the problem in the box `boxId` is about, or clears the mark. */
function markInput(input, boxId, on) {
  if (on) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-errormessage", boxId); }
  else input.removeAttribute("aria-invalid");
}

/** A label filter field's `key=value` pairs, commas between them (a value may hold
 * spaces, not commas), one `label` parameter each: the API wants them all to match.
 * Throws a problem naming the first pair the API would refuse, the field marked. */
function labelFilters(input, boxId) {
  markInput(input, boxId, false);
  const pairs = input.value.split(",").map((p) => p.trim()).filter(Boolean);
  for (const pair of pairs) {
    const why = !new RegExp(LABEL_FILTER).test(pair)
      ? "not key=value with a key of 1-128 letters, digits, '.', '_', '/' or '-', a letter or digit first"
      : /\s[A-Za-z0-9][A-Za-z0-9._/-]*=/.test(pair.slice(pair.indexOf("=") + 1))
        ? "two pairs without a comma between them" : null;
    if (why) {
      markInput(input, boxId, true);
      throw { title: "Invalid label filter", detail: `"${pair}": ${why}.` };
    }
  }
  return pairs;
}

/** A 422 about the `label` parameters (the server's word on them) marks the field too. */
function markLabelProblem(input, boxId, problem) {
  if (/^\/(query\/label|labels)\b/.test(problem.pointer || "")) markInput(input, boxId, true);
}

// ---- Token ------------------------------------------------------------------

function initToken() {
  const input = $("token");
  const state = () => {
    $("token-state").dataset.set = sessionStorage.getItem(TOKEN_KEY) ? "yes" : "no";
    setStatus(sessionStorage.getItem(TOKEN_KEY) ? "A token is set for this tab." : "No token: reads only, where the server allows them.");
  };
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    // An Authorization header carries visible ASCII only: fetch would refuse any other token
    // on every call, which would read as a server that does not answer.
    if (/[^\x21-\x7e]/.test(input.value)) {
      setStatus("Not set: a bearer token is visible ASCII characters, without spaces.");
      return;
    }
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value); else sessionStorage.removeItem(TOKEN_KEY);
    input.value = "";
    state();
  });
  $("token-clear").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); input.value = ""; state(); });
}

// ---- Decide: form <-> request body --------------------------------------------

const formFields = () => [...$("decide-form").querySelectorAll("[data-pointer]")];

function getAt(obj, pointer) {
  return pointer.split("/").slice(1).reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
}

function setAt(obj, pointer, value) {
  const keys = pointer.split("/").slice(1);
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] = o[k] || {};
  o[keys[keys.length - 1]] = value;
}

/** A field's text as the API takes it: whole decimal numbers as JSON
 * integers, anything else (hex, names, versions) as the string typed. */
function fieldValue(el) {
  const text = el.value.trim();
  if (text === "") return undefined;
  if ("bool" in el.dataset) return text === "true";
  if ("json" in el.dataset) return JSON.parse(text);
  if (el.dataset.pointer === "/vm/disabled_quirks" && !/^(0x[0-9a-f_]+|[0-9][0-9_]*)$/i.test(text)) {
    return text.split(/[\s,]+/).filter(Boolean);
  }
  if (/^[0-9]+$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
  return text;
}

/** The decision request the form describes; throws a problem for a field the page cannot read. */
function requestFromForm() {
  const request = {};
  for (const el of formFields()) {
    let v;
    try { v = fieldValue(el); } catch (e) {
      throw { status: 422, title: "Invalid field value", detail: `not JSON: ${e.message}`, pointer: el.dataset.pointer };
    }
    if (v !== undefined) setAt(request, el.dataset.pointer, v);
  }
  return request;
}

function fillForm(request) {
  $("decide-form").reset();
  for (const el of formFields()) {
    const v = getAt(request, el.dataset.pointer);
    if (v === undefined || v === null) continue;
    el.value = Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : String(v);
  }
  showRequest();
}

function showRequest() {
  let text;
  try { text = JSON.stringify(requestFromForm(), null, 2); } catch (p) { text = `(${p.pointer}: ${p.detail})`; }
  $("request-json").textContent = text;
}

/** Marks the field a 422 points at (the longest pointer that is a prefix of it). */
function markField(pointer) {
  for (const el of formFields()) el.removeAttribute("aria-invalid");
  if (!pointer) return;
  const el = formFields().filter((f) => pointer === f.dataset.pointer || pointer.startsWith(f.dataset.pointer + "/"))
    .sort((a, b) => b.dataset.pointer.length - a.dataset.pointer.length)[0];
  if (el) { el.setAttribute("aria-invalid", "true"); el.setAttribute("aria-errormessage", "decide-error"); }
}

// ---- Decide: the answer -------------------------------------------------------

let tablePromise = null;  // GET /v1/effective-types, once per page load
function effectiveTypes() {
  tablePromise = tablePromise || api("GET", "/v1/effective-types").catch((p) => { tablePromise = null; throw p; });
  return tablePromise;
}

/** SDM Table 11-7 as a grid; the decision's cell, if any, is marked. */
function table117(t, decided) {
  const isDecided = (row, col) => decided && decided.row === row && decided.column === col;
  const rows = t.rows.map((row, r) => h("tr", null,
    h("th", { scope: "row", class: decided && decided.row === row ? "on" : null }, row),
    t.columns.map((col, c) => {
      const cell = t.cells[r * t.columns.length + c];
      const on = isDecided(row, col);
      return h("td", { class: on ? "decided" : null, "aria-current": on ? "true" : null },
        cell.type, cell.footnotes.map((f) => h("sup", null, f.number)),
        on ? h("span", { class: "sr" }, " (this decision)") : null);
    })));
  const head = [h("span", { "aria-label": "MTRR or EPT type by PAT type" }, "MTRR/EPT \u2193 PAT \u2192"), ...t.columns];
  const grid = table(t.source, head, rows, { class: "t117" });
  if (decided) {
    grid.querySelectorAll("thead th").forEach((th, i) => { if (i > 0 && t.columns[i - 1] === decided.column) th.classList.add("on"); });
  }
  return h("div", null,
    h("p", { class: "hint" }, "Rows: the MTRR type, or under EPT with IPAT=0 the EPT type. Columns: the guest PAT type."), grid,
    h("ol", { class: "footnotes" }, t.footnotes.map((f) => h("li", { value: f.number }, f.text))));
}

function quirkStates(quirks) {
  return [
    facts([
      ["Requested to disable", code(quirks.requested)],
      ["Supported by this KVM", code(quirks.supported)],
      ["Refused", code(quirks.refused)],
      ["Disabled once the VM exists", code(quirks.disabled)],
      ["KVM_ENABLE_CAP", [code(`${quirks.enable_cap.cap}, ${quirks.enable_cap.mask}`),
        quirks.enable_cap.error ? ` fails with ${quirks.enable_cap.error}; mask that would succeed: ` : " succeeds",
        quirks.enable_cap.error ? code(quirks.enable_cap.mask_to_apply) : null]],
    ]),
    table("Quirk states", ["Quirk", "Bit", "State", "Reason", "Why"],
      Object.entries(quirks.states).map(([name, s]) => h("tr", null,
        h("th", { scope: "row" }, code(name)), h("td", null, s.bit), h("td", { class: `state-${s.state}` }, s.state),
        h("td", null, code(s.reason)), h("td", null, s.explanation)))),
  ];
}

function card(label, value, note, cls) {
  return h("div", { class: `card ${cls || ""}` }, h("span", { class: "label" }, label),
    h("strong", null, value), note ? h("span", { class: "note" }, note) : null);
}

function decisionSummary(d) {
  return h("div", { class: "cards" },
    card("Effective type", d.effective === null ? "not modelled" : d.effective,
      `applicability: ${d.applicability}`, "effective"),
    card("EPT type", d.ept ? d.ept.type : "none",
      d.ept ? `IPAT=${d.ept.ipat ? 1 : 0}, leaf bits ${d.ept.bits}` : `no EPT leaf (${d.applicability})`),
    card("Guest PAT entry", `PA${d.guest_pat.index} = ${d.guest_pat.type}`, `PAT index ${d.guest_pat.index}`),
    card("KVM model", d.model.id, `${d.model.title}${d.model.kernel ? `; kernel ${d.model.kernel}` : ""}`));
}

async function renderDecision(d, current) {
  let grid;
  try {
    grid = table117(await effectiveTypes(), d.table_cell);
  } catch (p) {
    grid = h("p", { class: "problem" }, `Table 11-7 could not be loaded: ${p.detail || p.title}`);
  }
  if (!current()) return false;
  const why = d.table_cell ? `Cell ${d.table_cell.row} \u00d7 ${d.table_cell.column} decided: ${d.table_cell.type}.`
    : d.ept && d.ept.ipat ? "IPAT=1: the EPT type is the effective type; the table was not consulted."
      : "The table did not decide this access.";
  fill($("decision-body"),
    decisionSummary(d),
    d.max_level ? h("p", null, `Largest EPT level KVM maps here: ${d.max_level}`) : null,
    d.warnings.length ? h("ul", { class: "warnings", "aria-label": "Warnings" },
      d.warnings.map((w) => h("li", null, code(w.code), " ", w.message))) : null,
    h("h4", null, "Table 11-7"), h("p", { id: "cell-note" }, why), grid,
    h("h4", null, "Trace: the rules that fired"),
    h("ol", { class: "trace" }, d.trace.map((r) => h("li", null, code(r.rule), " ", r.summary,
      h("span", { class: "source" }, r.source)))),
    h("h4", null, "Quirks"), quirkStates(d.quirks),
    d.assumptions.length ? [h("h4", null, "Assumptions"), h("ul", null, d.assumptions.map((a) => h("li", null, a)))] : null,
    h("details", null, h("summary", null, "Response body"), h("pre", null, JSON.stringify(d, null, 2))));
  $("decision").hidden = false;
  return true;
}

function initDecide() {
  for (const sel of document.querySelectorAll("select[data-bool]")) {
    sel.append(h("option", { value: "" }, "(default)"), h("option", { value: "true" }, "yes"), h("option", { value: "false" }, "no"));
  }
  const form = $("decide-form");
  form.addEventListener("input", showRequest);
  form.addEventListener("reset", () => setTimeout(showRequest));
  $("bochs").addEventListener("click", () => { fillForm(BOCHS); form.requestSubmit(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("decide-error").hidden = true;
    markField(null);
    setStatus("Deciding\u2026");
    const current = newest("decision");
    try {
      const d = await api("POST", "/v1/decisions", requestFromForm());
      if (!current() || !await renderDecision(d, current)) return;
      setStatus(`Effective type ${d.effective === null ? "not modelled" : d.effective}.`);
      $("decision-title").focus();
    } catch (p) {
      if (!current()) return;
      $("decision").hidden = true;
      showProblem($("decide-error"), p);
      markField(p.pointer);
      setStatus("The request was refused; see the message below the form.");
    }
  });
  showRequest();
}

// ---- VMs ----------------------------------------------------------------------

/** The list's query, read from the filter form once per listing: "More" pages through that
 * query, not through fields edited since. */
function vmQuery() {
  const q = new URLSearchParams();
  for (const pair of labelFilters($("v-label"), "vm-error")) q.append("label", pair);
  if ($("v-baseline").value.trim()) q.append("baseline", $("v-baseline").value.trim());
  if ($("v-restart").value) q.append("restart_required", $("v-restart").value);
  q.append("limit", "50");
  return q;
}

function hostOf(vm) {
  if (vm.host_profile) return ["profile ", code(vm.host_profile)];
  return vm.host ? `inline: ${vm.host.vendor}, kernel ${vm.host.kernel || "(newest)"}` : "(none)";
}

function labels(obj) {
  const entries = Object.entries(obj || {});
  return entries.length ? h("span", { class: "labels" }, entries.map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`))) : "none";
}

/** Lists the VMs the filter form asks for; its "More" pages through the same query. A listing
 * started since (a new filter) drops this one's answers, its More pages' too. */
async function listVMs() {
  $("vm-error").hidden = true;
  setStatus("Listing VMs\u2026");
  const current = newest("vms");
  const list = $("vm-list");
  const grid = table(null, ["ID", "Baseline", "Host", "Labels", "Revision", "Restart required", "Updated"], [], { id: "vm-table" });
  const body = grid.querySelector("tbody");
  const row = (vm) => h("tr", null,
    h("th", { scope: "row" }, h("a", { href: `#vms/${encodeURIComponent(vm.id)}` }, vm.id)),
    h("td", null, vm.baseline), h("td", null, hostOf(vm)), h("td", null, labels(vm.labels)),
    h("td", null, vm.revision), h("td", null, yesNo(vm.restart_required)), h("td", null, vm.updated_at));
  const counted = (page) => {
    const n = body.children.length;
    setStatus(n ? `${n} VM${n === 1 ? "" : "s"} listed${page.next_cursor ? ", more on the next page" : ""}.` : "No VM matches.");
  };
  try {
    const more = await paged(`/v1/vms?${vmQuery()}`, body, (page) => page.items.map(row), counted, current);
    if (!current()) return;
    if (body.children.length) list.replaceChildren(grid, more);
    else list.replaceChildren(h("p", { class: "none" }, "No VM matches these filters."));
  } catch (p) {
    if (!current()) return;
    list.replaceChildren();  // no stale list under the error
    showProblem($("vm-error"), p);
    markLabelProblem($("v-label"), "vm-error", p);
    setStatus("Listing failed.");
  }
}

function vmRecord(vm) {
  return [
    facts([
      ["Baseline", vm.baseline], ["Host", hostOf(vm)], ["Type", vm.type],
      ["Non-coherent DMA", yesNo(vm.noncoherent_dma)],
      ["Display devices", vm.display_devices.length ? vm.display_devices.join(", ") : "none"],
      ["Guest kernel", vm.guest_kernel],
      ["Bochs driver fix in the guest", vm.guest_bochs_fix === null ? "(judged from the guest kernel)" : yesNo(vm.guest_bochs_fix)],
      ["Labels", labels(vm.labels)],
      ["Disabled quirks (mask)", code(vm.disabled_quirks)],
      ["Revision", vm.revision],
      ["Started with", vm.applied_revision === null ? "never (no start reported)"
        : `revision ${vm.applied_revision}` + (vm.applied_at ? ` on ${vm.applied_at}` : "")],
      ["Restart required", vm.restart_required ? "yes: its quirks changed after it was started" : "no"],
      ["Created", vm.created_at], ["Updated", vm.updated_at],
    ]),
    table("Quirk choices", ["Quirk", "Choice"], Object.entries(vm.quirks).map(([q, c]) =>
      h("tr", null, h("th", { scope: "row" }, code(q)), h("td", { class: `choice-${c}` }, c)))),
  ];
}

function kvmQuirks(k) {
  const dq = k.disable_quirks2;
  const names = (list) => (list.length ? ` (${list.join(", ")})` : "");
  return [
    facts([
      ["KVM model", `${k.model.id}: ${k.model.title}`],
      ["Mask requested", [code(dq.mask), names(dq.names)]],
      ["KVM_ENABLE_CAP needed", yesNo(dq.call_needed)],
      ["KVM would refuse it", dq.would_fail ? [`yes (${dq.error}), refused `, code(dq.refused), names(dq.refused_names)] : "no"],
      ["Mask to apply", [code(dq.mask_to_apply), names(dq.names_to_apply)]],
    ]),
    quirkStates(k.quirks),
  ];
}

/** The history, a page at a time: "Older entries" appends the next page (`next_cursor`). */
function historyTable(id, page) {
  const change = (c) => h("li", null, code(c.field), ": ", JSON.stringify(c.old), " \u2192 ", JSON.stringify(c.new));
  const rows = (items) => items.map((e) => h("tr", null,
    h("td", null, e.sequence), h("td", null, e.revision), h("td", null, e.action), h("td", null, e.actor),
    h("td", null, e.at), h("td", null, e.changes && e.changes.length ? h("ul", { class: "changes" }, e.changes.map(change)) : "")));
  const grid = table(null, ["#", "Revision", "Action", "Actor", "At", "Changes"], rows(page.items));
  const more = h("p", { class: "more" });
  const load = async (cursor) => {
    const next = await api("GET", vmPath(id, `/history?limit=50&cursor=${encodeURIComponent(cursor)}`));
    grid.querySelector("tbody").append(...rows(next.items));
    moreButton(more, next.next_cursor, "Older entries", load);
  };
  moreButton(more, page.next_cursor, "Older entries", load);
  return [grid, more];
}

/** Where the VM can go (`GET /v1/vms/{id}/placements`): every host profile, the VM's
 * behaviour there compared with its own host's. Three columns, so it fits a phone. */
function placements(p) {
  const kvm = (s) => `model ${s.model}${s.kernel ? `, ${s.kernel}` : ""}`;
  const rows = p.items.map((it) => h("tr", null,
    h("th", { scope: "row" }, code(it.host_profile), h("span", { class: "note" }, kvm(it)),
      it.current ? h("span", { class: "note" }, "its own") : null),
    h("td", { class: `compatible-${it.compatible}` }, yesNo(it.compatible)),
    h("td", null, it.changes.length ? h("p", { class: "what-changes" }, "Changes: ", it.changes.map((c) => h("code", { class: "chip" }, c))) : null,
      h("ul", { class: "reasons" }, it.reasons.map((r) => h("li", null, r))))));
  return [
    h("p", { class: "hint" }, `Compared with its own host (${p.host_profile ? `profile ${p.host_profile}` : "inline"},
      ${kvm(p.home)}). Compatible: the same KVM_CAP_DISABLE_QUIRKS2 outcome and memory types at every probe, the call succeeding there.`),
    rows.length ? table("Host profiles", ["Host profile", "Compatible", "Changes and reasons"], rows, { class: "placements" })
      : h("p", null, "No host profile is stored."),
  ];
}

/** One part of the VM page: its own heading, and its own error if its call fails. */
async function part(title, call, draw) {
  try { return [h("h4", null, title), draw(await call)]; } catch (p) {
    const box = h("div", { class: "problem" });
    showProblem(box, p);
    return [h("h4", null, title), box];
  }
}

async function showVM(id) {
  const detail = $("vm-detail");
  $("vm-title").textContent = `VM ${id}`;
  $("vm-body").replaceChildren();  // not the last VM's record under this one's title while loading
  $("vm-error").hidden = true;  // nor the list's last error above it
  detail.hidden = false;
  setStatus(`Loading VM ${id}\u2026`);
  const current = newest("vm");
  const [record, quirks, where, history] = await Promise.all([
    part("Record", api("GET", vmPath(id)), vmRecord),
    part("KVM quirks at VM creation", api("GET", vmPath(id, "/kvm-quirks")), kvmQuirks),
    part("Placements: where it can live-migrate", api("GET", vmPath(id, "/placements")), placements),
    part("History (newest first)", api("GET", vmPath(id, "/history?limit=50")), (page) => historyTable(id, page)),
  ]);
  if (!current()) return;
  fill($("vm-body"), h("p", null, h("a", { href: "#vms" }, "\u2190 All VMs")), record, quirks, where, history);
  setStatus(`VM ${id} loaded.`);
  $("vm-title").focus();
}

function initVMs() {
  $("vm-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    if (location.hash !== "#vms") location.hash = "#vms"; else listVMs();
  });
}

// ---- Views ----------------------------------------------------------------------

/** What each view does when the address shows it (`#NAME/REST...`); memtyped-plans.js adds `risks`. */
const views = { decide: () => {}, vms: routeVMs };

/** `#decide`, `#vms`, `#vms/ID` or `#risks`: the address says what is shown, so Back and links work. */
function route() {
  newest("vm");  // a VM page still loading is left: its answer must not set the status of this one
  const [view, ...rest] = location.hash.slice(1).split("/");
  const name = view in views ? view : "decide";
  for (const v of Object.keys(views)) $(`view-${v}`).hidden = v !== name;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  views[name](rest);
}

function routeVMs(rest) {
  const raw = rest.join("/");
  let id = null;
  if (rest.length) try { id = decodeURIComponent(raw); } catch { id = raw; }  // `#vms/%`: asked for as typed
  $("vm-list").hidden = id !== null;
  $("vm-filter").hidden = id !== null;
  if (id !== null) { showVM(id); return; }
  $("vm-detail").hidden = true;
  listVMs();
}

document.addEventListener("DOMContentLoaded", () => {
  initToken();
  initDecide();
  initVMs();
  window.addEventListener("hashchange", route);
  route();
});
