// The studio's editor, simulation, scenarios, what-if and save. Plain JavaScript, no build
// step: the server does the work (checking, simulating, replaying); this file sends the
// editor's text and shows the answers. Every call carries the page's form token.
"use strict";

(function () {
  const root = document.getElementById("studio");
  if (!root) return;
  const file = root.dataset.file;
  const kind = root.dataset.kind;
  const csrf = root.dataset.csrf;
  const source = document.getElementById("source");
  const gutter = document.getElementById("gutter");
  const marks = document.getElementById("marks");
  const list = document.getElementById("diagnostics");
  const state = document.getElementById("check-state");
  const picture = document.getElementById("picture");
  let findings = [];
  let channels = [];
  let simSteps = [];
  let simOrder = null;
  let timer = null;
  let sent = 0;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  async function call(path, body) {
    const res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    let json = null;
    try { json = await res.json(); } catch (_) { json = { message: "the service answered " + res.status }; }
    if (res.status === 401) {
      window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname);
    }
    return { status: res.status, json };
  }

  // ---- the editor: line numbers, markers, findings ---------------------------------------
  const lineHeight = () => parseFloat(getComputedStyle(source).lineHeight) || 18;

  function lineCount() { return source.value.split("\n").length; }

  function drawGutter() {
    const byLine = new Map();
    for (const f of findings) {
      const prev = byLine.get(f.line);
      if (!prev || f.severity === "error") byLine.set(f.line, f);
    }
    const n = lineCount();
    const rows = [];
    for (let i = 1; i <= n; i++) {
      const f = byLine.get(i);
      const row = el("div", { class: "ln" + (f ? " " + f.severity : ""), "data-line": String(i) }, String(i));
      if (f) row.title = f.message + (f.help.length ? "\n" + f.help.join("\n") : "");
      rows.push(row);
    }
    gutter.replaceChildren(...rows);
    const h = lineHeight();
    marks.replaceChildren(...[...byLine.values()].map((f) => {
      const m = el("div", { class: "mark " + f.severity, "data-line": String(f.line) });
      m.style.top = ((f.line - 1) * h + 6) + "px";
      m.style.height = h + "px";
      return m;
    }));
    syncScroll();
  }

  function syncScroll() {
    gutter.scrollTop = source.scrollTop;
    marks.style.transform = "translateY(" + (-source.scrollTop) + "px)";
  }

  function applyFix(fix) {
    source.focus();
    source.setSelectionRange(fix.from, fix.to);
    // setRangeText keeps the undo history sensible and fires no event: check again by hand.
    source.setRangeText(fix.text, fix.from, fix.to, "end");
    scheduleCheck(0);
  }

  function drawFindings() {
    const items = findings.map((f) => {
      const where = el("button", { class: "where link", type: "button", onclick: () => goTo(f) }, "line " + f.line + ":" + f.column);
      const help = f.help.map((h) => el("div", { class: "help" }, h));
      const fix = f.fix
        ? el("button", { class: "fix", type: "button", "data-fix": f.fix.text, onclick: () => applyFix(f.fix) }, "Use " + f.fix.text)
        : null;
      return el("li", { class: f.severity, "data-line": String(f.line), "data-code": f.code },
        el("span", { class: "sev" }, f.severity), " ", where, " ",
        el("span", { class: "msg" }, f.message), " ", el("code", { class: "code" }, f.code), fix, ...help);
    });
    list.replaceChildren(...items);
  }

  function goTo(f) {
    source.focus();
    source.setSelectionRange(f.from, f.to);
    const top = (f.line - 3) * lineHeight();
    source.scrollTop = Math.max(0, top);
    syncScroll();
  }

  async function check() {
    if (kind !== "flow" && kind !== "hook") { drawGutter(); return; }
    const mine = ++sent;
    state.textContent = "checking…";
    const started = performance.now();
    const { status, json } = await call("/studio/api/check", { file, text: source.value });
    if (mine !== sent) return; // a newer check is on its way
    if (status !== 200) { state.textContent = json.message || ("error " + status); return; }
    findings = json.findings;
    const errors = findings.filter((f) => f.severity === "error").length;
    const warnings = findings.length - errors;
    state.textContent = errors ? errors + " error" + (errors > 1 ? "s" : "") :
      (warnings ? "no errors, " + warnings + " warning" + (warnings > 1 ? "s" : "") : "no findings");
    state.className = "state " + (errors ? "error" : "ok");
    root.dataset.checked = String(mine);
    // How long the findings took to come back (tests/browser/studio.py reports it).
    root.dataset.roundTrip = String(Math.round(performance.now() - started));
    root.dataset.serverMillis = String(json.millis);
    root.dataset.renderedAt = String(performance.now());
    drawGutter();
    drawFindings();
    if (json.svg) { picture.innerHTML = json.svg; highlight(); }
    if (json.channels && json.channels.length) { channels = json.channels; fillChannels(); }
  }

  function scheduleCheck(delay) {
    clearTimeout(timer);
    timer = setTimeout(check, delay === undefined ? 250 : delay);
  }

  source.addEventListener("input", () => { drawGutter(); scheduleCheck(); });
  source.addEventListener("scroll", syncScroll);
  source.addEventListener("keydown", (e) => {
    if (e.key === "Tab" && !e.shiftKey) {
      e.preventDefault();
      source.setRangeText("  ", source.selectionStart, source.selectionEnd, "end");
      drawGutter();
      scheduleCheck();
    }
  });

  // ---- tabs --------------------------------------------------------------------------------
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll("[role=tab]")) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        const panel = document.getElementById("tab-" + t.dataset.tab);
        if (panel) panel.hidden = !on;
      }
    });
  }

  // ---- the simulated order -----------------------------------------------------------------
  const simForm = document.getElementById("sim-form");
  const simResult = document.getElementById("sim-result");
  const simChannel = document.getElementById("sim-channel");
  const simMode = document.getElementById("sim-mode");

  function fillChannels() {
    if (!simChannel) return;
    const chosen = simChannel.value;
    simChannel.replaceChildren(...channels.map((c) => el("option", { value: c.code }, c.code + (c.label && c.label !== c.code ? " (" + c.label + ")" : ""))));
    if (channels.some((c) => c.code === chosen)) simChannel.value = chosen;
    fillModes();
  }

  function fillModes() {
    const c = channels.find((c) => c.code === simChannel.value);
    const chosen = simMode.value;
    simMode.replaceChildren(el("option", { value: "" }, "(none)"), ...(c ? c.modes : []).map((m) => el("option", { value: m }, m)));
    if (c && c.modes.includes(chosen)) simMode.value = chosen;
    const methods = document.getElementById("sim-methods");
    methods.replaceChildren(...(c ? c.methods : []).map((m) => el("option", { value: m })));
  }

  function readOrder() {
    const method = document.getElementById("sim-method").value.trim();
    const outcome = document.getElementById("sim-outcome").value;
    const lines = document.getElementById("sim-lines").value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
      const [sku, qty, price, fulfillment] = l.split(/\s+/);
      const line = { sku, qty: qty || "1", unit_price: price || "0" };
      if (fulfillment) line.fulfillment = fulfillment;
      return line;
    });
    const order = { channel: simChannel.value, customer: { email: document.getElementById("sim-email").value.trim() }, lines };
    if (simMode.value) order.mode = simMode.value;
    if (method && outcome) order.payment = { method, outcome };
    return order;
  }

  async function simulate() {
    const { status, json } = await call("/studio/api/simulate", { file, text: source.value, order: simOrder, steps: simSteps });
    if (status !== 200) {
      simResult.replaceChildren(el("p", { class: "alert" }, json.message || ("error " + status)));
      return;
    }
    drawSimulation(json);
  }

  function eventForm(ev) {
    const inputs = ev.fields.map((f) => el("label", {}, f.name + (f.required ? "" : " (optional)") + " ",
      el("input", { name: f.name, placeholder: f.ty, "data-field": f.name })));
    const form = el("form", { class: "event-form", "data-event": ev.name }, ...inputs,
      el("button", { type: "submit", class: ev.allowed ? "primary" : "" }, "Send " + ev.name));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const data = {};
      for (const input of form.querySelectorAll("input[data-field]")) {
        const v = input.value.trim();
        if (v === "") continue;
        data[input.dataset.field] = v === "true" ? true : v === "false" ? false : v;
      }
      simSteps.push({ event: ev.name, data });
      simulate();
    });
    return form;
  }

  function drawSimulation(sim) {
    const parts = [];
    if (!sim.created) {
      const r = sim.steps[0] && sim.steps[0].refused;
      parts.push(el("p", { class: "alert refused" }, "The order was refused: " + (r ? r.message : "")));
      if (r) parts.push(el("ul", {}, ...r.reasons.map((x) => el("li", {}, x))));
      simResult.replaceChildren(...parts);
      return;
    }
    parts.push(el("p", { class: "sim-status" }, "Status: ", el("strong", { id: "sim-current", "data-status": sim.status }, sim.status),
      sim.phase ? " (phase " + sim.phase + ")" : "", sim.is_final ? " — final" : "", " · balance due " + sim.balance,
      sim.flags.length ? " · flags: " + sim.flags.join(", ") : ""));
    const steps = sim.steps.map((s) => {
      if (s.refused) {
        return el("li", { class: "refused" }, s.input + ": refused — " + s.refused.message,
          el("ul", {}, ...s.refused.reasons.map((x) => el("li", { class: "reason" }, x))));
      }
      const path = s.path.length ? s.path.join(" → ") : (s.from ? s.from + " (stays)" : s.to);
      return el("li", { class: "took" }, s.input + ": " + path);
    });
    parts.push(el("h3", {}, "What happened"), el("ol", { class: "sim-steps" }, ...steps));
    const allowed = sim.events.filter((e) => e.allowed);
    const refused = sim.events.filter((e) => !e.allowed);
    parts.push(el("h3", {}, "Events it takes now"));
    parts.push(allowed.length ? el("div", { class: "events" }, ...allowed.map(eventForm)) : el("p", { class: "hint" }, "None."));
    if (refused.length) {
      parts.push(el("details", { class: "refusals" }, el("summary", {}, "Events it would refuse, and why (" + refused.length + ")"),
        ...refused.map((e) => el("div", { class: "why", "data-event": e.name },
          el("strong", {}, e.name), ": " + (e.why ? e.why.message : ""),
          e.why && e.why.reasons.length ? el("ul", {}, ...e.why.reasons.map((x) => el("li", {}, x))) : null,
          eventForm(e)))));
    }
    if (sim.timers.length) {
      parts.push(el("h3", {}, "Timers running"));
      parts.push(el("div", { class: "timers" }, ...sim.timers.map(([name, due]) =>
        el("button", { type: "button", "data-timer": name, onclick: () => { simSteps.push({ timer: name }); simulate(); } },
          "⏩ " + name + " (due " + due.replace("T", " ").replace(/\..*$/, "").replace("Z", "") + ")"))));
    }
    if (sim.messages.length) {
      parts.push(el("h3", {}, "Messages queued"), el("ul", {}, ...sim.messages.map((m) => el("li", {}, m))));
    }
    parts.push(el("p", {}, el("button", { type: "button", class: "link", onclick: () => { simSteps.pop(); simulate(); } }, "Undo the last step")));
    simResult.replaceChildren(...parts);
    highlight(sim.status);
  }

  let current = null;
  function highlight(status) {
    if (status !== undefined) current = status;
    for (const g of picture.querySelectorAll(".current")) g.classList.remove("current");
    if (!current) return;
    // A status's group says which status it is in `data-status` (or, in older pictures, its id).
    for (const g of picture.querySelectorAll("g[data-status], g[id^='status-']")) {
      const code = g.getAttribute("data-status") || g.id.slice("status-".length);
      if (code === current) g.classList.add("current");
    }
  }

  if (simForm) {
    simChannel.addEventListener("change", fillModes);
    simForm.addEventListener("submit", (e) => {
      e.preventDefault();
      simOrder = readOrder();
      simSteps = [];
      simulate();
    });
  }

  // ---- scenarios ---------------------------------------------------------------------------
  const runScenarios = document.getElementById("run-scenarios");
  const scenarioResult = document.getElementById("scenario-result");
  runScenarios.addEventListener("click", async () => {
    scenarioResult.replaceChildren(el("p", { class: "hint" }, "running…"));
    const { status, json } = await call("/studio/api/scenarios", { file, text: source.value });
    if (status !== 200) { scenarioResult.replaceChildren(el("p", { class: "alert" }, json.message)); return; }
    const rows = json.scenarios.map((s) => el("li", { class: s.passed ? "pass" : "fail", "data-scenario": s.name },
      (s.passed ? "✔ " : "✘ ") + s.name + " (" + s.steps + " steps)",
      s.details.length ? el("pre", {}, s.details.join("\n")) : null));
    scenarioResult.replaceChildren(
      el("p", { class: json.failed ? "alert" : "ok", id: "scenario-summary" }, json.passed + " passed, " + json.failed + " failed"),
      el("ul", { class: "scenarios" }, ...rows));
  });

  // ---- what-if and save --------------------------------------------------------------------
  const saveResult = document.getElementById("save-result");
  const whatif = document.getElementById("run-whatif");
  whatif.addEventListener("click", async () => {
    saveResult.replaceChildren(el("p", { class: "hint" }, "replaying the recorded orders…"));
    const { status, json } = await call("/studio/api/whatif", { file, text: source.value });
    if (status !== 200) { saveResult.replaceChildren(el("p", { class: "alert" }, json.message || ("error " + status))); return; }
    const groups = (json.groups || []).map((g) => el("li", {}, g.rule + ": " + g.orders.length + " order(s) — " + g.orders.slice(0, 20).join(", ")));
    saveResult.replaceChildren(
      el("p", { id: "whatif-summary", class: json.differing ? "alert" : "ok" }, json.summary),
      el("ul", {}, ...groups));
  });
  const save = document.getElementById("save");
  if (save) {
    save.addEventListener("click", async () => {
      saveResult.replaceChildren(el("p", { class: "hint" }, "saving…"));
      const { status, json } = await call("/studio/api/save", { file, text: source.value });
      const parts = [el("p", { id: "save-message", class: json.saved ? "ok" : "alert" }, json.message || ("error " + status))];
      if (json.serving) parts.push(el("p", { id: "serving" }, "Serving: " + json.serving.join(", ")));
      if (json.rendered) parts.push(el("pre", {}, json.rendered));
      if (json.findings && json.findings.length && json.findings[0].line) {
        findings = json.findings; drawGutter(); drawFindings();
      }
      saveResult.replaceChildren(...parts);
    });
  }

  drawGutter();
  check();
})();
