// memtyped's web page, the "Risks and plans" view: GET /v1/risks (the VMs
// whose bochs framebuffer is not WB) and GET /v1/hosts/{name}/kernel-plan
// (what a host kernel change does to each VM on a host profile). Uses the
// helpers of memtyped.js (h, fill, api, table, facts, code, showProblem,
// paged, newest), which loads first.
"use strict";

function probeText(p) {
  return p.ept === null ? `effective ${p.effective === null ? "not modelled" : p.effective}`
    : `EPT ${p.ept} IPAT=${p.ipat ? 1 : 0} \u2192 ${p.effective === null ? "not modelled" : p.effective}`;
}

function vmLink(id) { return h("a", { href: `#vms/${encodeURIComponent(id)}` }, id); }

function riskCard(r) {
  return h("li", { class: "risk" },
    h("h4", null, vmLink(r.vm), " ", h("span", { class: `severity severity-${r.severity}` }, r.severity)),
    facts([
      ["Host profile", r.host_profile || "(inline host)"], ["Baseline", r.baseline],
      ["Guest kernel", r.guest_kernel || "(not recorded)"], ["Display devices", r.display_devices.join(", ")],
      ["Framebuffer", probeText(r.probe)],
    ]),
    h("p", null, "Why:"), h("ul", null, r.reasons.map((x) => h("li", null, x))),
    h("p", null, "Fixes, best first:"), h("ul", null, r.fix.map((f) => h("li", null, f.detail))));
}

/** The VMs at risk. A page may hold none and still have a next one (GET /v1/risks scans a
 * bounded number of VMs per page), so "none" is said only once nothing is left to scan. */
async function listRisks() {
  $("risk-error").hidden = true;
  setStatus("Looking for risks\u2026");
  let scanned = 0;
  const list = h("ul", { class: "risks" });
  const none = h("p", { class: "none" });
  const current = newest("risks");
  const counted = (page) => {
    scanned += page.scanned;
    const n = list.children.length;
    const so = page.next_cursor ? " so far (More scans on)" : "";
    fill(none, n ? null : `No VM at risk among ${scanned} scanned${so}.`);
    setStatus(`${n} VM${n === 1 ? "" : "s"} at risk among ${scanned} scanned${so}.`);
  };
  try {
    const q = new URLSearchParams();
    for (const pair of labelFilters($("r-label"), "risk-error")) q.append("label", pair);
    if ($("r-host").value.trim()) q.append("host_profile", $("r-host").value.trim());
    q.append("limit", "100");
    const more = await paged(`/v1/risks?${q}`, list, (page) => page.items.map(riskCard), counted, current);
    if (!current()) return;
    fill($("risk-list"), none, list, more);
  } catch (p) {
    if (!current()) return;
    $("risk-list").replaceChildren();  // no stale list under the error
    showProblem($("risk-error"), p);
    markLabelProblem($("r-label"), "risk-error", p);
    setStatus("Looking for risks failed.");
  }
}

/** One side of a plan item (PlanSide). Items carry no kernel: the summary's From and To name it. */
function behaviour(b) {
  const cap = b.enable_cap;
  return h("div", null, `model ${b.model}`, h("br"),
    "KVM_ENABLE_CAP ", code(cap.mask), cap.fails ? ` fails (${cap.error}): refused ${cap.refused_names.join(", ")}` : " succeeds", h("br"),
    b.refusal ? `cannot run here: ${b.refusal}` : ["bochs framebuffer: ", probeText(b.bochs_probe)]);
}

/** What keeps the VM's behaviour (PlanAction): the kind, and its baseline, mask or reason. */
function planAction(a) {
  switch (a.kind) {
    case "baseline_move": return ["move to baseline ", code(a.baseline), " (mask ", code(a.disabled_quirks), ")"];
    case "set_mask": return ["store the mask ", code(a.disabled_quirks)];
    case "cannot_keep": return a.reason;
    default: return "nothing: it behaves the same";
  }
}

async function kernelPlan() {
  $("plan-error").hidden = true;
  const name = $("p-host").value.trim();
  const target = $("p-kernel").value.trim();
  const q = new URLSearchParams();
  q.append(/^[A-Ea-e]$/.test(target) ? "model" : "kernel", target);
  q.append("limit", "100");
  setStatus(`Planning ${name} on ${target}\u2026`);
  const summary = h("div");
  const grid = table("Per VM", ["VM", "Before", "After", "Changes", "What keeps the behaviour"], [], {});
  const current = newest("plan");
  try {
    const more = await paged(`/v1/hosts/${encodeURIComponent(name)}/kernel-plan?${q}`, grid.querySelector("tbody"),
      (page) => page.items.map((it) => h("tr", null,
        h("th", { scope: "row" }, vmLink(it.vm)), h("td", null, behaviour(it.before)), h("td", null, behaviour(it.after)),
        h("td", null, it.changes.length ? it.changes.join(", ") : "none"),
        h("td", { class: `action-${it.action.kind}` }, code(it.action.kind), " ", planAction(it.action)))),
      (page, first) => {
        if (!first || !page.summary) return;
        const s = page.summary;
        fill(summary, facts([
          ["Host profile", page.host_profile],
          ["From", `model ${page.before.model}${page.before.kernel ? `, kernel ${page.before.kernel}` : ""}`],
          ["To", `model ${page.after.model}${page.after.kernel ? `, kernel ${page.after.kernel}` : ""}`],
          ["VMs", `${s.vms}, unchanged ${s.unchanged}`],
          ["Changes", `memory types ${s.changes.memory_types}, KVM_ENABLE_CAP fails ${s.changes.enable_cap_fails}`],
          ["Actions", `none ${s.actions.none}, baseline move ${s.actions.baseline_move}, set mask ${s.actions.set_mask}, cannot keep ${s.actions.cannot_keep}`],
        ]));
      }, current);
    if (!current()) return;
    fill($("plan-result"), summary, grid, more);
    setStatus(`Kernel plan for ${name} loaded.`);
  } catch (p) {
    if (!current()) return;
    $("plan-result").replaceChildren();  // not the last plan under this one's error
    showProblem($("plan-error"), p);
    setStatus("Planning failed.");
  }
}

// Registered as the script runs (before memtyped.js's first route()), so that a
// page opened at #risks shows this view.
views.risks = () => listRisks();
document.addEventListener("DOMContentLoaded", () => {
  $("risk-filter").addEventListener("submit", (e) => { e.preventDefault(); listRisks(); });
  $("plan-form").addEventListener("submit", (e) => { e.preventDefault(); kernelPlan(); });
});
