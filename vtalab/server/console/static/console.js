/* vtalab console: a vSphere Client look-alike for the Trust Authority pages.
 *
 * Plain JavaScript, no build step, no external asset. Every piece of data comes from the
 * public HTTP API of `vtalab serve` (the REST mapping of the vSphere Automation API and
 * the lab extension /api/vtalab/...), with the session id header a REST client sends.
 * The page polls; it never holds state the server does not have.
 */
"use strict";

const CFG = JSON.parse(document.getElementById("vtalab-config").textContent);
const TI = "/api/vcenter/trusted-infrastructure";
const EP = ["ta", "wl"];
const VC_LABEL = { ta: "Trust Authority vCenter", wl: "workload vCenter" };
const POLL_MS = CFG.poll_ms || 1500;

// ---------------------------------------------------------------- tiny DOM helpers
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const $ = (sel) => document.querySelector(sel);
function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "").replace("Z", "") + " UTC";
}
function health(value) {
  const v = String(value || "NONE").toUpperCase();
  const cls = v === "OK" ? "ok" : v === "ERROR" ? "err" : v === "WARNING" ? "warn" : "";
  const label = { OK: "Healthy", ERROR: "Error", WARNING: "Warning", NONE: "None" }[v] || v;
  return h("span", { class: "st " + cls, "data-health": v }, label);
}
function grid(columns, rows, opts = {}) {
  const t = h("table", { class: "grid", "aria-label": opts.label || null });
  t.append(h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))));
  const body = h("tbody");
  if (!rows.length) {
    body.append(h("tr", {}, h("td", { colspan: columns.length, class: "empty" },
      opts.empty || "No items to display")));
  }
  for (const r of rows) body.append(r);
  t.append(body);
  return t;
}
function textOf(messages) {
  // vAPI localizable messages carry default_message; plain strings pass through
  return (messages || []).map((m) => (typeof m === "string" ? m : m.default_message || m.id));
}

// ---------------------------------------------------------------- the HTTP API
class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.describe(status, body));
    this.status = status; this.body = body;
  }
  static describe(status, body) {
    if (body && typeof body === "object") {
      const msgs = textOf(body.messages);
      if (msgs.length) return msgs.join(" ");
      if (body.error_type) return body.error_type;
      if (body.detail) return body.detail;
    }
    return `HTTP ${status}`;
  }
}

const api = {
  sid: JSON.parse(sessionStorage.getItem("vtalab-sid-" + CFG.key) || "{}"),
  url(ep, path) { return CFG.endpoints[ep] + path; },
  async call(ep, method, path, { json, body, query, type } = {}) {
    let url = this.url(ep, path);
    if (query) url += (url.includes("?") ? "&" : "?") + new URLSearchParams(query);
    const headers = { Accept: "application/json" };
    if (this.sid[ep]) headers["vmware-api-session-id"] = this.sid[ep];
    if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
    else if (type) headers["Content-Type"] = type;
    const r = await fetch(url, { method, headers, body });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (r.status === 401 && path !== "/api/session") { this.loggedOut(); }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  },
  get(ep, path, query) { return this.call(ep, "GET", path, { query }); },
  ops: {},
  async loadOps() {
    for (const ep of EP) {
      const list = await this.get(ep, "/api/vtalab/operations");
      this.ops[ep] = list.map((o) => ({ method: o.method, re: new RegExp("^" + o.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{\w+\\?\}/g, "[^/]+") + "$") }));
    }
  },
  // Whether this vCenter's API serves METHOD PATH (optional panes ask before calling).
  offers(ep, method, path) {
    return (this.ops[ep] || []).some((o) => o.method === method && o.re.test(path.split("?")[0]));
  },
  // GET when the API serves it, else null (the pane says the API lacks it).
  async maybe(ep, path) { return this.offers(ep, "GET", path) ? this.get(ep, path) : null; },
  async login(user, password) {
    for (const ep of EP) {
      const r = await fetch(this.url(ep, "/api/session"), {
        method: "POST", headers: { Authorization: "Basic " + btoa(user + ":" + password) } });
      const data = await r.json().catch(() => null);
      if (!r.ok) throw new ApiError(r.status, data);
      this.sid[ep] = data;
    }
    sessionStorage.setItem("vtalab-sid-" + CFG.key, JSON.stringify(this.sid));
    sessionStorage.setItem("vtalab-user-" + CFG.key, user);
  },
  async logout() {
    for (const ep of EP) {
      if (this.sid[ep]) await this.call(ep, "DELETE", "/api/session").catch(() => null);
    }
    this.loggedOut();
  },
  loggedOut() {
    this.sid = {};
    sessionStorage.removeItem("vtalab-sid-" + CFG.key);
    if (!state.loggingIn) showLogin();
  },
  // A task operation over REST (?vmw-task=true) returns the task id; the Recent Tasks
  // pane shows its progress, and callers that need the end poll it here.
  async task(ep, method, path, opts = {}) {
    const id = await this.call(ep, method, path, { ...opts, query: { ...(opts.query || {}), "vmw-task": "true" } });
    return id;
  },
  async waitTask(ep, id, limitMs = 60000) {
    const start = Date.now();
    for (;;) {
      const t = await this.get(ep, "/api/cis/tasks/" + encodeURIComponent(id));
      if (t.status === "SUCCEEDED" || t.status === "FAILED") return t;
      if (Date.now() - start > limitMs) return t;
      await new Promise((r) => setTimeout(r, 300));
    }
  },
};

// ---------------------------------------------------------------- state and routing
const state = {
  inv: { ta: null, wl: null },  // inventories, per vCenter
  sel: null,                    // selected node id, e.g. "host:wl:esx-01"
  tab: {},                      // tab per node kind
  sub: {},                      // sub page per node kind + tab
  collapsed: new Set(),         // tree nodes the person closed (all open by default)
  labview: false,
  loggingIn: false,
  busy: 0,
  flash: null,                  // {kind, text} shown once on the current page
  pageKey: null,
  picked: {},                   // the selected row of a grid, per page (kept across repaints)
};

// A grid whose rows can be selected (click, Enter, Space); the choice survives repaints.
function selectable(rows, key, value, onPick) {
  const pageKey = state.sel + "|" + key;
  const pick = (tr, v) => {
    tr.parentNode.querySelectorAll("tr").forEach((x) => x.setAttribute("aria-selected", "false"));
    tr.setAttribute("aria-selected", "true");
    state.picked[pageKey] = v;
    onPick(v);
  };
  for (const tr of rows) {
    const v = value(tr);
    tr.classList.add("selectable");
    tr.tabIndex = 0;
    tr.setAttribute("aria-selected", String(state.picked[pageKey] === v));
    tr.addEventListener("click", () => pick(tr, v));
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(tr, v); } });
  }
  const kept = state.picked[pageKey];
  if (kept !== undefined && rows.some((tr) => value(tr) === kept)) onPick(kept);
  return rows;
}

function nodeId(kind, ep, name) { return `${kind}:${ep}:${name}`; }
function parseNode(id) {
  const [kind, ep, ...rest] = id.split(":");
  return { kind, ep, name: rest.join(":") };
}
function saveRoute() {
  const t = state.sel ? parseNode(state.sel).kind : "";
  const parts = [state.sel || "", state.tab[t] || "", state.sub[t + "/" + (state.tab[t] || "")] || ""];
  const hash = "#" + parts.map(encodeURIComponent).join("/");
  if (location.hash !== hash) history.replaceState(null, "", hash);
}
function loadRoute() {
  const parts = location.hash.slice(1).split("/").map(decodeURIComponent);
  if (parts[0]) {
    state.sel = parts[0];
    const kind = parseNode(parts[0]).kind;
    if (parts[1]) state.tab[kind] = parts[1];
    if (parts[2]) state.sub[kind + "/" + parts[1]] = parts[2];
  }
}

// ---------------------------------------------------------------- inventory tree
async function loadInventory() {
  for (const ep of EP) {
    state.inv[ep] = await api.get(ep, "/api/vtalab/inventory");
  }
}

function treeNodes() {
  const nodes = [];
  for (const ep of EP) {
    const inv = state.inv[ep];
    if (!inv) continue;
    const vc = { id: nodeId("vc", ep, inv.name), label: inv.name, icon: "vc", kids: [] };
    for (const c of inv.clusters) {
      const cl = { id: nodeId(ep === "ta" ? "tac" : "tc", ep, c.name), label: c.name, icon: "cl", kids: [] };
      for (const hst of c.hosts) {
        const cls = hst.in_maintenance ? "maint" : hst.connection_state !== "CONNECTED" ? "down" : "";
        const hn = { id: nodeId("host", ep, hst.name), icon: "host " + cls, kids: [],
          label: hst.name + (hst.in_maintenance ? " (Maintenance Mode)" :
            hst.connection_state !== "CONNECTED" ? " (Not responding)" : ""),
          alarm: hst.alarm };
        for (const vm of hst.vms || []) {
          hn.kids.push({ id: nodeId("vm", ep, vm.name), label: vm.name,
            icon: "vm" + (vm.power_state === "POWERED_ON" ? " on" : ""), kids: [] });
        }
        cl.kids.push(hn);
      }
      vc.kids.push(cl);
    }
    nodes.push(vc);
  }
  return nodes;
}

function renderTree() {
  const tree = $("#tree");
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.node : null;
  tree.replaceChildren();
  const build = (node, level, parent) => {
    const open = !state.collapsed.has(node.id) || (state.sel && state.sel !== node.id &&
      isAncestor(node, state.sel));
    const li = h("li", { role: "treeitem", "data-node": node.id, "aria-level": level,
      "aria-selected": String(state.sel === node.id),
      "aria-expanded": node.kids.length ? String(!!open) : null,
      tabindex: state.sel === node.id ? "0" : "-1" });
    const row = h("div", { class: "row", onclick: () => select(node.id) },
      h("span", { class: "twisty", "aria-hidden": "true",
        onclick: (e) => { e.stopPropagation(); toggle(node.id); } },
        node.kids.length ? (open ? "\u25BE" : "\u25B8") : ""),
      h("span", { class: "ico " + node.icon, "aria-hidden": "true" }, node.icon === "vc" ? "vc" : ""),
      h("span", { class: "label" }, node.label),
      node.alarm ? h("span", { class: "alert-dot", title: node.alarm, "aria-label": node.alarm }, " \u25CF") : null);
    li.append(row);
    if (node.kids.length && open) {
      const ul = h("ul", { role: "group" });
      for (const k of node.kids) build(k, level + 1, ul);
      li.append(ul);
    }
    parent.append(li);
  };
  for (const n of treeNodes()) build(n, 1, tree);
  if (!tree.querySelector("[tabindex='0']")) {
    const first = tree.querySelector("[role=treeitem]");
    if (first) first.tabIndex = 0;
  }
  if (focused) {
    const el = tree.querySelector(`[data-node="${CSS.escape(focused)}"]`);
    if (el) el.focus();
  }
}
function isAncestor(node, id) {
  return node.kids.some((k) => k.id === id || isAncestor(k, id));
}
function toggle(id) {
  if (state.collapsed.has(id)) state.collapsed.delete(id); else state.collapsed.add(id);
  renderTree();
}
$("#tree").addEventListener("keydown", (e) => {
  const items = [...$("#tree").querySelectorAll("[role=treeitem]")];
  const cur = document.activeElement.closest("[role=treeitem]");
  const i = items.indexOf(cur);
  if (i < 0) return;
  const id = cur.dataset.node;
  const go = (j) => { if (items[j]) { items.forEach((x) => (x.tabIndex = -1)); items[j].tabIndex = 0; items[j].focus(); } };
  if (e.key === "ArrowDown") go(i + 1);
  else if (e.key === "ArrowUp") go(i - 1);
  else if (e.key === "ArrowRight" && cur.getAttribute("aria-expanded") === "false") toggle(id);
  else if (e.key === "ArrowLeft" && cur.getAttribute("aria-expanded") === "true") toggle(id);
  else if (e.key === "Enter" || e.key === " ") select(id);
  else return;
  e.preventDefault();
});

function select(id) {
  state.sel = id;
  state.flash = null;
  saveRoute();
  renderTree();
  renderPage(true);
}

// ---------------------------------------------------------------- pages
const PAGES = {};  // kind -> {tabs: [[id, label, {sub: [[id,label]]}]], render(node, tab, sub)}

function currentPage() {
  if (!state.sel) return null;
  const node = parseNode(state.sel);
  const spec = PAGES[node.kind];
  if (!spec) return null;
  const tabs = spec.tabs(node);
  let tab = state.tab[node.kind];
  if (!tabs.find((t) => t[0] === tab)) tab = tabs[0][0];
  const tdef = tabs.find((t) => t[0] === tab);
  const subs = tdef[2] || [];
  let sub = state.sub[node.kind + "/" + tab];
  if (subs.length && !subs.find((s) => s[0] === sub)) sub = subs.find((s) => s[0])[0];
  return { node, spec, tabs, tab, subs, sub };
}

async function renderPage(fresh) {
  const content = $("#content");
  const p = currentPage();
  if (!p) {
    content.replaceChildren(h("div", { class: "pane" }, h("p", { class: "empty" },
      "Select an object in the inventory.")));
    return;
  }
  const key = [state.sel, p.tab, p.sub, state.labview].join("|");
  // Do not repaint under a person's hands: an open menu or dialog, a running action, a
  // focused field. Checked before and after fetching (a menu may open meanwhile).
  const handsOn = () => state.busy || document.querySelector(".backdrop") ||
    content.querySelector(".menu-pop") || (content.contains(document.activeElement) &&
      document.activeElement.matches("input, select"));
  if (!fresh && state.pageKey === key && handsOn()) return;
  let body;
  try {
    body = await p.spec.render(p.node, p.tab, p.sub);
  } catch (err) {
    body = h("div", { class: "banner err", role: "alert" }, String(err.message || err));
  }
  if (currentPage() === null || [state.sel, currentPage().tab, currentPage().sub, state.labview].join("|") !== key) return;
  if (!fresh && state.pageKey === key && handsOn()) return;
  // even a repaint an action asked for waits while a menu or dialog is open (next poll)
  if (state.pageKey === key && (document.querySelector(".backdrop") || content.querySelector(".menu-pop"))) return;
  const scroll = content.querySelector(".pane") ? content.querySelector(".pane").scrollTop : 0;
  const focusId = document.activeElement && document.activeElement.id;
  const hdr = h("div", { class: "objhdr" },
    h("span", { class: "ico " + iconFor(p.node), "aria-hidden": "true" }),
    h("h1", {}, p.node.name),
    p.spec.actions ? actionsMenu(p.spec.actions(p.node)) : null);
  const tablist = h("div", { role: "tablist", "aria-label": p.node.name },
    p.tabs.map(([id, label]) => h("button", { role: "tab", type: "button", id: "tab-" + id,
      "aria-selected": String(id === p.tab), "aria-controls": "tabpanel",
      tabindex: id === p.tab ? "0" : "-1",
      onclick: () => { state.tab[p.node.kind] = id; state.flash = null; saveRoute(); renderPage(true); },
      onkeydown: (e) => tabKeys(e) }, label)));
  const panel = h("div", { class: "tabbody", role: "tabpanel", id: "tabpanel", "aria-labelledby": "tab-" + p.tab });
  if (p.subs.length) {
    const nav = h("nav", { class: "subnav", "aria-label": "Sections" });
    for (const [id, label] of p.subs) {
      if (!id) { nav.append(h("h3", {}, label)); continue; }
      nav.append(h("button", { type: "button", "aria-current": id === p.sub ? "page" : null,
        "data-sub": id,
        onclick: () => { state.sub[p.node.kind + "/" + p.tab] = id; state.flash = null; saveRoute(); renderPage(true); } }, label));
    }
    panel.append(nav);
  }
  const pane = h("div", { class: "pane" });
  if (state.flash) pane.append(h("div", { class: "banner " + state.flash.kind, role: "status" }, state.flash.text));
  pane.append(body);
  panel.append(pane);
  content.replaceChildren(hdr, tablist, panel);
  state.pageKey = key;
  if (!fresh) pane.scrollTop = scroll;
  if (focusId && document.getElementById(focusId)) document.getElementById(focusId).focus();
}
function iconFor(node) {
  return { vc: "vc", tac: "cl", tc: "cl", host: "host", vm: "vm" }[node.kind] || "";
}
function tabKeys(e) {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const i = tabs.indexOf(e.target);
  let j = null;
  if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
  if (e.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
  if (j === null) return;
  e.preventDefault();
  tabs[j].focus();
  tabs[j].click();
}

function actionsMenu(items) {
  const wrap = h("div", { class: "actions" });
  const btn = h("button", { class: "btn", type: "button", "aria-haspopup": "menu",
    "aria-expanded": "false", id: "actions-btn" }, "Actions \u25BE");
  const close = () => { const m = wrap.querySelector(".menu-pop"); if (m) m.remove(); btn.setAttribute("aria-expanded", "false"); };
  btn.addEventListener("click", () => {
    if (wrap.querySelector(".menu-pop")) { close(); return; }
    const menu = h("div", { class: "menu-pop", role: "menu", "aria-labelledby": "actions-btn" });
    for (const it of items) {
      if (it.heading) { menu.append(h("div", { class: "mh", role: "presentation" }, it.heading)); continue; }
      menu.append(h("button", { role: "menuitem", type: "button", tabindex: "-1",
        "aria-disabled": it.disabled ? "true" : null, title: it.disabled || null,
        onclick: () => { if (it.disabled) return; close(); it.run(); } }, it.label));
    }
    menu.addEventListener("keydown", (e) => {
      const entries = [...menu.querySelectorAll("[role=menuitem]")];
      const i = entries.indexOf(document.activeElement);
      if (e.key === "ArrowDown") entries[(i + 1) % entries.length].focus();
      else if (e.key === "ArrowUp") entries[(i - 1 + entries.length) % entries.length].focus();
      else if (e.key === "Escape") { close(); btn.focus(); }
      else return;
      e.preventDefault();
    });
    wrap.append(menu);
    btn.setAttribute("aria-expanded", "true");
    const first = menu.querySelector("[role=menuitem]");
    if (first) first.focus();
  });
  wrap.append(btn);
  return wrap;
}

// A user action: runs, reports into the page (Recent Tasks shows the task itself).
async function act(label, fn) {
  state.busy++;
  try {
    const r = await fn();
    state.flash = r && r.flash ? r.flash : null;
  } catch (err) {
    state.flash = { kind: "err", text: `${label}: ${err.message || err}` };
  } finally {
    state.busy--;
  }
  await refresh(true);
}

// ---------------------------------------------------------------- dialogs
function dialog({ title, body, ok = "OK", danger = false, role = "dialog", onOk, cancel = true }) {
  return new Promise((resolve) => {
    const prev = document.activeElement;
    const id = "dlg-" + Math.random().toString(36).slice(2);
    const done = (v) => { back.remove(); if (prev) prev.focus(); resolve(v); };
    const okBtn = h("button", { class: "btn primary" + (danger ? " danger" : ""), type: "submit" }, ok);
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      const v = onOk ? await onOk(form) : true;
      if (v !== false) done(v);
    } }, body, h("div", { class: "dlg-foot" },
      cancel ? h("button", { class: "btn", type: "button", onclick: () => done(null) }, "Cancel") : null, okBtn));
    const box = h("div", { role, "aria-modal": "true", "aria-labelledby": id },
      h("h2", { id }, title), form);
    const back = h("div", { class: "backdrop", onkeydown: (e) => {
      if (e.key === "Escape") done(null);
      if (e.key === "Tab") {  // keep focus inside the dialog
        const f = [...box.querySelectorAll("button, input, select, a[href]")].filter((x) => !x.disabled);
        if (!f.length) return;
        if (e.shiftKey && document.activeElement === f[0]) { e.preventDefault(); f[f.length - 1].focus(); }
        else if (!e.shiftKey && document.activeElement === f[f.length - 1]) { e.preventDefault(); f[0].focus(); }
      }
    } }, box);
    $("#dialogs").append(back);
    (box.querySelector("input, select") || okBtn).focus();
  });
}

function showLogin(message) {
  if (state.loggingIn) return;
  state.loggingIn = true;
  const user = h("input", { type: "text", name: "username", autocomplete: "username",
    value: CFG.user || "administrator@vsphere.local" });
  const pw = h("input", { type: "password", name: "password", autocomplete: "current-password" });
  const err = h("p", { class: "banner err", role: "alert", hidden: !message }, message || "");
  dialog({ title: "Sign in to the lab's vCenters", ok: "Login",
    body: [err, h("label", { class: "field" }, h("span", {}, "User name"), user),
      h("label", { class: "field" }, h("span", {}, "Password"), pw)],
    onOk: async () => {
      try { await api.login(user.value, pw.value); return true; } catch (e) {
        err.hidden = false; err.textContent = e.message; return false;
      }
    } }).then(async (ok) => {
    state.loggingIn = false;
    if (ok) await start(); else showLogin("Sign in to use the console.");
  });
  setTimeout(() => pw.focus(), 0);
}

// ---------------------------------------------------------------- shared page parts
function labView(rows) {
  if (!state.labview || !rows) return null;
  return h("div", { class: "labview", role: "note", "aria-label": "Lab view" },
    h("div", { class: "tag" }, "LAB VIEW \u2014 omniscient facts the vSphere Client does not show"),
    h("dl", { class: "kv" }, Object.entries(rows).flatMap(([k, v]) => [h("dt", {}, k),
      h("dd", {}, Array.isArray(v) ? v.join("; ") || "\u2014" : v === null || v === undefined ? "\u2014" : String(v))])));
}
function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined ? "\u2014" : v)]));
}
async function eventsPane(ep, targets) {
  const all = await api.get(ep, "/api/vtalab/events");
  const evs = targets ? all.filter((e) => targets.includes(e.target)) : all;
  return [h("h2", {}, "Events"), grid(["Description", "Type", "Date Time", "Target", "Event Type ID"],
    evs.slice().reverse().map((e) => {
      // the event's severity comes from the lab API (vtalab.domain.vcenter.EVENT_SEVERITY)
      const sv = e.severity;
      return h("tr", { "data-event": e.event_type_id }, h("td", {}, e.message),
        h("td", {}, sv === "error" ? h("span", { class: "st err" }, "Error") :
          sv === "warning" ? h("span", { class: "st warn" }, "Warning") : "Information"),
        h("td", {}, fmtTime(e.time)), h("td", {}, e.target), h("td", {}, e.event_type_id));
    }), { label: "Events", empty: "No events" })];
}
// Run a registry verb through the lab API (POST /api/vtalab/verbs) as a task, and wait
// for it: the Recent Tasks pane shows the vCenter's own task meanwhile.
async function runVerb(ep, verb, args, limitMs) {
  const strArgs = {};
  for (const [k, v] of Object.entries(args || {})) strArgs[k] = String(v);
  const id = await api.task(ep, "POST", "/api/vtalab/verbs", { json: { verb, arguments: strArgs } });
  const t = await api.waitTask(ep, id, limitMs || 20000);
  if (t.status === "FAILED") throw new Error(ApiError.describe(0, t.error));
  if (t.status === "SUCCEEDED" && t.result && t.result.ok === false) throw new Error(t.result.message || t.result.error);
  return t;
}

function unavailable(title, service) {
  return h("div", {}, h("h2", {}, title), h("p", { class: "empty" },
    `This vCenter's API does not serve ${service} (GET /api/vtalab/operations lists what it serves).`));
}

// ---------------------------------------------------------------- vCenter
PAGES.vc = {
  tabs: () => [["summary", "Summary"], ["monitor", "Monitor", [["", "Events"], ["events", "Events"]]]],
  async render(node, tab) {
    const inv = state.inv[node.ep];
    if (tab === "monitor") return h("div", {}, await eventsPane(node.ep, null));
    const hosts = inv.clusters.reduce((n, c) => n + c.hosts.length, 0);
    const vms = inv.clusters.reduce((n, c) => n + c.hosts.reduce((m, x) => m + (x.vms || []).length, 0), 0);
    return h("div", { class: "card" }, kv([["Role", VC_LABEL[node.ep]],
      ["Clusters", inv.clusters.length], ["Hosts", hosts], ["Virtual Machines", vms]]));
  },
};

// ---------------------------------------------------------------- TA cluster
const TA_SUBS = [["", "Trust Authority"], ["ta-cluster", "Trust Authority Cluster"],
  ["base-images", "Attestation Service: Base Images"], ["tpm-ca", "TPM CA Certificates"],
  ["tpm-ek", "TPM Endorsement Keys"], ["tpm-settings", "TPM 2.0 Settings"],
  ["principals", "Principals"], ["key-providers", "Key Providers"],
  ["services", "Services Status"]];

function clusterOf(ep, name) {
  return (state.inv[ep] ? state.inv[ep].clusters : []).find((c) => c.name === name);
}
function clusterTargets(ep, name) {
  const c = clusterOf(ep, name);
  if (!c) return [name];
  return [name, c.id, ...c.hosts.flatMap((x) => [x.name, ...(x.vms || []).map((v) => v.name)])];
}
async function taClusterId(node) {
  const c = clusterOf("ta", node.name);
  if (c && c.id) return c.id;
  const list = await api.get("ta", TI + "/trust-authority-clusters");
  if (!list.length) throw new Error("this vCenter has no Trust Authority cluster");
  return list[0].cluster;
}

PAGES.tac = {
  tabs: () => [["summary", "Summary"], ["monitor", "Monitor", [["", "Tasks and Events"], ["events", "Events"]]],
    ["configure", "Configure", TA_SUBS]],
  async render(node, tab, sub) {
    if (tab === "monitor") return h("div", {}, await eventsPane("ta", clusterTargets("ta", node.name)));
    const cid = await taClusterId(node);
    const base = TI + "/trust-authority-clusters/" + encodeURIComponent(cid);
    if (tab === "summary") {
      const c = await api.get("ta", TI + "/trust-authority-clusters/" + encodeURIComponent(cid));
      const att = await api.get("ta", base + "/attestation/service-status").catch(() => null);
      const kms = await api.get("ta", base + "/kms/service-status").catch(() => null);
      return h("div", { class: "card" }, kv([["Trust Authority state", c.state === "ENABLE" ? "Enabled" : "Disabled"],
        ["Attestation Service", att ? health(att.health) : null],
        ["Key Provider Service", kms ? health(kms.health) : null]]));
    }
    return TA_RENDER[sub](cid, base, node);
  },
};

const TA_RENDER = {
  async "ta-cluster"(cid) {
    const c = await api.get("ta", TI + "/trust-authority-clusters/" + encodeURIComponent(cid));
    const enabled = c.state === "ENABLE" || c.state === "ENABLED";
    return h("div", {}, h("h2", {}, "Trust Authority Cluster"),
      h("div", { class: "card" }, kv([["State", enabled ? "Enabled" : "Disabled"]])),
      h("div", { class: "toolbar" }, h("button", { class: "btn", type: "button", id: "ta-state",
        onclick: () => dialog({ title: (enabled ? "Disable" : "Enable") + " Trust Authority cluster",
          body: h("p", {}, enabled ? "Trusted hosts can no longer be attested while the cluster is disabled." :
            "The Trust Authority services start serving attestation and keys."),
          ok: enabled ? "Disable" : "Enable", danger: enabled }).then((ok) => ok && act("Update state",
          () => api.task("ta", "PATCH", TI + "/trust-authority-clusters/" + encodeURIComponent(cid),
            { json: { state: enabled ? "DISABLE" : "ENABLE" } }))) }, enabled ? "Disable" : "Enable")));
  },
  async "base-images"(cid, base) {
    const path = base + "/attestation/os/esx/base-images";
    const list = await api.get("ta", path);
    const infos = await Promise.all(list.map(async (b) => ({ ...b, ...(await api.get("ta", path + "/" + encodeURIComponent(b.version))) })));
    let chosen = null;
    const lv = state.labview ? await api.get("ta", "/api/vtalab/lab-view") : null;
    const removeBtn = h("button", { class: "btn", type: "button", id: "remove-image", disabled: true,
      onclick: () => removeImage(path, chosen) }, "Remove");
    const rows = selectable(infos.map((b) => h("tr", { "data-version": b.version },
      h("td", {}, b.version), h("td", {}, b.display_name), h("td", {}, health(b.health)),
      h("td", {}, b.last_attested_time ? fmtTime(b.last_attested_time) : "Never"),
      state.labview ? h("td", { class: "labcol" }, ((lv && lv.measured_by && lv.measured_by[b.version]) || []).join(", ") || "none") : null)),
    "base-images", (tr) => tr.dataset.version, (v) => { chosen = v; removeBtn.disabled = false; });
    const cols = ["Version", "Display Name", "Health", "Last Attested"];
    if (state.labview) cols.push("Lab view: measured by");
    return h("div", {}, h("h2", {}, "ESXi Base Images"),
      h("p", {}, "The ESXi versions the Attestation Service trusts. Import the image database exported from a representative host (boot_imgdb.tgz)."),
      h("div", { class: "toolbar" },
        h("button", { class: "btn", type: "button", id: "import-image", onclick: () => importImage(path) }, "Import from file"),
        removeBtn),
      grid(cols, rows, { label: "ESXi base images", empty: "No base images" }));
  },
  async "tpm-ca"(cid, base) {
    const list = await api.maybe("ta", base + "/attestation/tpm2/ca-certificates");
    if (!list) return unavailable("TPM CA Certificates", "attestation.tpm2.ca_certificates");
    const rows = await Promise.all(list.map(async (c) => {
      const info = await api.get("ta", base + "/attestation/tpm2/ca-certificates/" + encodeURIComponent(c.name));
      const chain = info.cert_chain && info.cert_chain.cert_chain ? info.cert_chain.cert_chain : [];
      return h("tr", {}, h("td", {}, c.name), h("td", {}, health(info.health || c.health)),
        h("td", {}, chain.length ? chain.length + " certificate(s)" : "\u2014"));
    }));
    return h("div", {}, h("h2", {}, "TPM CA Certificates"),
      grid(["Name", "Health", "Certificate chain"], rows, { label: "TPM CA certificates" }));
  },
  async "tpm-ek"(cid, base) {
    const list = await api.maybe("ta", base + "/attestation/tpm2/endorsement-keys");
    if (!list) return unavailable("TPM Endorsement Keys", "attestation.tpm2.endorsement_keys");
    const rows = await Promise.all(list.map(async (k) => {
      const info = await api.get("ta", base + "/attestation/tpm2/endorsement-keys/" + encodeURIComponent(k.name));
      return h("tr", {}, h("td", {}, k.name), h("td", {}, health(info.health)));
    }));
    return h("div", {}, h("h2", {}, "TPM Endorsement Keys"),
      grid(["Name", "Health"], rows, { label: "TPM endorsement keys", empty: "No endorsement keys (attestation uses the TPM CA certificates)" }));
  },
  async "tpm-settings"(cid, base) {
    const s = await api.maybe("ta", base + "/attestation/tpm2/settings");
    if (!s) return unavailable("TPM 2.0 Attestation Settings", "attestation.tpm2.settings");
    return h("div", {}, h("h2", {}, "TPM 2.0 Attestation Settings"),
      h("div", { class: "card" }, kv([["Require certificate validation", s.require_certificate_validation ? "Yes" : "No"],
        ["Require endorsement keys", s.require_endorsement_keys ? "Yes" : "No"],
        ["Health", health(s.health)], ["Details", textOf(s.details).join(" ") || null]])));
  },
  async principals(cid, base) {
    const path = base + "/consumer-principals";
    if (!api.offers("ta", "POST", path)) return unavailable("Trusted Principals", "consumer_principals");
    const list = await api.call("ta", "POST", path, { query: { action: "query" }, json: {} });
    const rows = await Promise.all(list.map(async (p) => {
      const info = await api.get("ta", path + "/" + encodeURIComponent(p.id));
      const id = (p.principal && p.principal.id) || {};
      return h("tr", {}, h("td", {}, p.issuer_alias || p.issuer), h("td", {}, id.name || ""),
        h("td", {}, id.domain || ""), h("td", {}, health(info.health)));
    }));
    return h("div", {}, h("h2", {}, "Trusted Principals"),
      grid(["Issuer", "Principal", "Domain", "Health"], rows, { label: "Trusted principals" }));
  },
  async "key-providers"(cid, base) {
    const list = await api.maybe("ta", base + "/kms/providers");
    if (!list) return unavailable("Trusted Key Providers", "kms.providers");
    const rows = await Promise.all(list.map(async (p) => {
      const info = await api.get("ta", base + "/kms/providers/" + encodeURIComponent(p.provider));
      const st = info.status || {};
      const servers = (st.servers || []).map((s) => `${s.name}: ${s.health}`).join("; ");
      return h("tr", {}, h("td", {}, p.provider), h("td", {}, health(st.health || p.health)),
        h("td", {}, info.master_key_id || ""), h("td", {}, servers || ""));
    }));
    return h("div", {}, h("h2", {}, "Trusted Key Providers"),
      grid(["Name", "Health", "Primary key", "Key servers"], rows, { label: "Key providers" }));
  },
  async services(cid, base) {
    const att = await api.get("ta", base + "/attestation/service-status");
    const kms = await api.get("ta", base + "/kms/service-status");
    const row = (name, s) => h("tr", {}, h("td", {}, name), h("td", {}, health(s.health)),
      h("td", {}, textOf(s.details).join(" ")));
    return h("div", {}, h("h2", {}, "Services Status"),
      grid(["Service", "Health", "Details"], [row("Attestation Service", att), row("Key Provider Service", kms)],
        { label: "Trust Authority services" }));
  },
};

function importImage(path) {
  const file = h("input", { type: "file", name: "imgdb", accept: ".tgz,application/gzip", id: "imgdb-file", required: true });
  const err = h("p", { class: "banner err", role: "alert", hidden: true });
  dialog({ title: "Import ESXi base image", ok: "Import",
    body: [h("p", {}, "Select the boot_imgdb.tgz exported from a host that runs the ESXi version to trust."), err,
      h("label", { class: "field" }, h("span", {}, "Image database file"), file)],
    onOk: async () => {
      if (!file.files.length) { err.hidden = false; err.textContent = "Choose a .tgz file."; return false; }
      return { data: await file.files[0].arrayBuffer() };
    } }).then((v) => v && act("Import base image", async () => {
    const id = await api.task("ta", "POST", path, { query: { action: "import-from-imgdb" }, body: v.data, type: "application/gzip" });
    const t = await api.waitTask("ta", id);
    if (t.status === "FAILED") throw new Error((t.error && ApiError.describe(0, t.error)) || "the import failed");
    return { flash: { kind: "ok", text: "Base image " + (t.result || "") + " imported." } };
  }));
}

function removeImage(path, version) {
  if (!version) return;
  dialog({ title: "Remove base image", role: "alertdialog", ok: "Remove", danger: true,
    body: [h("p", {}, `Remove the trusted ESXi base image ${version}?`),
      h("p", {}, "Hosts that still report this version in their measurements will fail attestation. Check Last Attested before removing an image.")],
  }).then((ok) => ok && act("Remove base image", async () => {
    const id = await api.task("ta", "DELETE", path + "/" + encodeURIComponent(version));
    const t = await api.waitTask("ta", id);
    if (t.status === "FAILED") throw new Error(ApiError.describe(0, t.error));
    return { flash: { kind: "ok", text: `Base image ${version} removed.` } };
  }));
}

// ---------------------------------------------------------------- trusted cluster
PAGES.tc = {
  tabs: () => [["summary", "Summary"], ["monitor", "Monitor", [["", "Tasks and Events"], ["events", "Events"]]],
    ["configure", "Configure", [["", "Trust Authority"], ["trust", "Trust Authority"],
      ["", "vSphere Lifecycle Manager"], ["remediation", "Remediation settings"]]]],
  actions: (node) => [{ label: "Remediate Trusted Cluster", run: () => remediate(node) }],
  async render(node, tab, sub) {
    if (tab === "monitor") return h("div", {}, await eventsPane("wl", clusterTargets("wl", node.name)));
    const cl = clusterOf("wl", node.name);
    const cid = cl && cl.id ? cl.id : node.name;
    const base = TI + "/trusted-clusters/" + encodeURIComponent(cid);
    if (tab === "summary") {
      const cfg = await api.get("wl", base + "/services-applied-config");
      return h("div", { class: "card" }, kv([["Hosts", cl ? cl.hosts.length : null],
        ["Trust configuration health", health(cfg.health)]]));
    }
    if (sub === "remediation") return quickBootPane(node);
    const cfg = await api.get("wl", base + "/services-applied-config");
    const query = (path) => api.offers("wl", "POST", path)
      ? api.call("wl", "POST", path, { query: { action: "query" }, json: {} }) : null;
    const att = await query(base + "/attestation/services");
    const kms = await query(base + "/kms/services");
    const svcRows = (list) => list.map((s) => h("tr", {}, h("td", {}, s.service),
      h("td", {}, s.address ? `${s.address.hostname}:${s.address.port}` : ""), h("td", {}, s.group || ""),
      h("td", {}, s.trust_authority_cluster || "")));
    const perHost = await api.get("wl", "/api/vtalab/clusters/" + encodeURIComponent(cid) + "/applied-status");
    return h("div", {}, h("h2", {}, "Trust Authority"),
      h("div", { class: "card" }, kv([["Applied configuration", health(cfg.health)],
        ["Details", textOf(cfg.details).join(" ") || null]]),
      h("div", { class: "toolbar" }, h("button", { class: "btn", type: "button", id: "remediate",
        onclick: () => remediate(node) }, "Remediate"))),
      perHost.length ? grid(["Host", "Applied configuration"], perHost.map((r) => h("tr", {},
        h("td", {}, r.host), h("td", {}, health(r.health)))), { label: "Applied configuration per host" }) : null,
      att ? [h("h3", {}, "Attestation Services"),
        grid(["Service", "Address", "Group", "Trust Authority cluster"], svcRows(att), { label: "Attestation services" })] : null,
      kms ? [h("h3", {}, "Key Provider Services"),
        grid(["Service", "Address", "Group", "Trust Authority cluster"], svcRows(kms), { label: "Key provider services" })] : null);
  },
};

function remediate(node) {
  dialog({ title: "Remediate Trusted Cluster", ok: "Remediate",
    body: h("p", {}, `Apply the desired Trust Authority configuration of ${node.name} to all of its hosts?`) })
    .then((ok) => ok && act("Remediate", async () => {
      const cl = clusterOf("wl", node.name);
      const id = await api.task("wl", "PATCH", TI + "/trusted-clusters/" + encodeURIComponent(cl && cl.id ? cl.id : node.name) + "/services-applied-config");
      const t = await api.waitTask("wl", id);
      if (t.status === "FAILED") throw new Error(ApiError.describe(0, t.error));
      return { flash: { kind: "ok", text: `Trust configuration of ${node.name} remediated.` } };
    }));
}

async function quickBootPane(node) {
  const cl = clusterOf("wl", node.name);
  const p = await api.get("wl", "/api/vtalab/clusters/" + encodeURIComponent(cl && cl.id ? cl.id : node.name) + "/remediation-policy");
  const box = h("input", { type: "checkbox", id: "quick-boot", checked: !!p.enable_quick_boot });
  return h("div", {}, h("h2", {}, "Remediation settings"),
    h("div", { class: "card" }, h("label", {}, box, " Quick Boot"),
      h("p", {}, "Quick Boot restarts ESXi without the firmware. After a Quick Boot, hosts keep reporting the ESXi version of their last full boot to the Attestation Service."),
      h("div", { class: "toolbar" }, h("button", { class: "btn", type: "button", id: "save-quick-boot",
        onclick: () => act("Quick Boot", async () => {
          await runVerb("wl", "set-quick-boot", { cluster: node.name, enabled: box.checked });
          return { flash: { kind: "ok", text: "Quick Boot " + (box.checked ? "enabled" : "disabled") + " for " + node.name + "." } };
        }) }, "Save"))));
}

// ---------------------------------------------------------------- hosts
async function hostInfo(node) {
  return api.get(node.ep, "/api/vtalab/hosts/" + encodeURIComponent(node.name));
}
PAGES.host = {
  tabs: (node) => [["summary", "Summary"],
    ["monitor", "Monitor", [["", "Monitor"], ["security", "Security"], ["events", "Events"]]],
    ["configure", "Configure", [["", "System"], ["services", "Services"]]], ["vms", "VMs"]],
  actions: (node) => hostActions(node),
  async render(node, tab, sub) {
    const info = await hostInfo(node);
    state.hostCache = info;
    if (tab === "summary") {
      return h("div", {}, h("div", { class: "card" }, kv([["Hypervisor", info.hypervisor],
        ["State", info.connection_state === "CONNECTED" ? (info.in_maintenance ? "Maintenance Mode" : "Connected") : "Not responding"],
        ["Power state", info.power_state === "POWERED_ON" ? "Powered On" : "Powered Off"], ["Cluster", info.cluster], ["Uptime since", fmtTime(info.boot_time)]])),
        labView(info.lab));
    }
    if (tab === "vms") {
      return grid(["Name", "State"], (info.vms || []).map((v) => h("tr", {}, h("td", {}, v.name),
        h("td", {}, v.power_state === "POWERED_ON" ? "Powered On" : "Powered Off"))), { label: "Virtual machines" });
    }
    if (tab === "monitor" && sub === "events") return h("div", {}, await eventsPane(node.ep, [node.name]));
    if (tab === "monitor") return securityPane(node, info);
    return servicesPane(node, info);
  },
};

function securityPane(node, info) {
  if (!info.attestation) {
    return h("div", {}, h("h2", {}, "Security"), h("p", { class: "empty" },
      "This host is not in a Trusted cluster: it is not attested by vSphere Trust Authority."), labView(info.lab));
  }
  const rows = info.attestation.map((a) => {
    const s = a.status === "ATTESTED" ? h("span", { class: "st ok" }, "Passed")
      : a.status === "NOT_ATTESTED" ? h("span", { class: "st err" }, "Failed") : h("span", { class: "st warn" }, "Unknown");
    const msgs = textOf(a.messages);
    return h("tr", { "data-service": a.service }, h("td", {}, a.service), h("td", { class: "attest-status" }, s),
      h("td", {}, msgs.length ? h("ul", { class: "msgs" }, msgs.map((m) => h("li", {}, m))) : ""),
      h("td", {}, fmtTime(a.attested_at)), h("td", {}, fmtTime(a.attested_until)));
  });
  return h("div", {}, h("h2", {}, "Security"),
    h("div", { class: "card" }, kv([["Attestation", info.attestation_summary === "ATTESTED" ?
      h("span", { class: "st ok", id: "attestation-summary" }, "Passed") : info.attestation_summary === "NOT_ATTESTED" ?
        h("span", { class: "st err", id: "attestation-summary" }, "Failed") : h("span", { class: "st warn", id: "attestation-summary" }, "Unknown")],
      ["Secure Boot", info.secure_boot ? "Enabled" : "Disabled"], ["TPM", info.tpm || null]])),
    h("h3", {}, "Attestation by Trust Authority attestation services"),
    grid(["Attestation service", "Status", "Messages", "Attested at", "Valid until"], rows, { label: "Attestation", empty: "No attestation service is configured" }),
    labView(info.lab));
}

function servicesPane(node, info) {
  let chosen = null;
  const btns = ["start", "stop", "restart"].map((a) => h("button", { class: "btn", type: "button",
    id: "svc-" + a, disabled: true, onclick: () => serviceAction(node, chosen, a) }, a[0].toUpperCase() + a.slice(1)));
  const ssh = h("button", { class: "btn", type: "button", id: "ssh-restart", disabled: true,
    onclick: () => act("Restart on the host", async () => {
      await runVerb(node.ep, "host-service", { vmhost: node.name, service: chosen, action: "restart" });
      return { flash: { kind: "ok", text: `${chosen} restarted on ${node.name} (logged in to the host).` } };
    }) }, "Restart on the host (SSH)");
  btns.push(ssh);
  const rows = selectable(info.services.map((s) => h("tr", { "data-service": s.key },
    h("td", {}, s.label), h("td", {}, s.key), h("td", {}, s.running ? "Running" : "Stopped"))),
  "services", (tr) => tr.dataset.service, (v) => { chosen = v; btns.forEach((b) => (b.disabled = false)); });
  return h("div", {}, h("h2", {}, "Services"), h("div", { class: "toolbar" }, btns.slice(0, 3)),
    grid(["Name", "Daemon", "Status"], rows, { label: "Services" }),
    h("div", { class: "labview", role: "note", "aria-label": "Host shell (lab)" },
      h("div", { class: "tag" }, "LAB — outside the vSphere Client: a shell on the host (SSH or DCUI)"),
      h("p", {}, "On a trusted host the vSphere Trust Authority services are restarted on the host itself (/etc/init.d/kmxa restart)."),
      ssh));
}

function serviceAction(node, svc, action) {
  if (!svc) return;
  const verb = { start: "Start-VMHostService", stop: "Stop-VMHostService", restart: "Restart-VMHostService" }[action];
  act(action + " " + svc, async () => {
    await runVerb(node.ep, verb, { vmhost: node.name, service: svc });
    return { flash: { kind: "ok", text: `${svc} ${action === "stop" ? "stopped" : action + "ed"} on ${node.name}.` } };
  });
}

function hostActions(node) {
  const info = state.hostCache && state.hostCache.name === node.name ? state.hostCache : null;
  const up = info ? info.connection_state === "CONNECTED" : true;
  const maint = info ? info.in_maintenance : false;
  const VERBS = { "enter-maintenance": ["Set-VMHost", { state: "Maintenance" }],
    "exit-maintenance": ["Set-VMHost", { state: "Connected" }], reboot: ["Restart-VMHost", { force: true }],
    shutdown: ["Stop-VMHost", { force: true }], "power-on": ["Start-VMHost", {}], upgrade: ["upgrade-host", {}] };
  const post = (action, body, label) => act(label, async () => {
    const [verb, extra] = VERBS[action];
    await runVerb(node.ep, verb, { vmhost: node.name, ...extra, ...(body || {}) }, 4000);
    return null;
  });
  const items = [{ heading: "Maintenance Mode" },
    { label: "Enter Maintenance Mode", disabled: !up || maint ? "not available" : null,
      run: () => dialog({ title: "Enter Maintenance Mode", ok: "OK", body: h("p", {}, `Running VMs on ${node.name} are migrated to other hosts of the cluster.`) }).then((ok) => ok && post("enter-maintenance", null, "Enter Maintenance Mode")) },
    { label: "Exit Maintenance Mode", disabled: !maint ? "not in maintenance mode" : null, run: () => post("exit-maintenance", null, "Exit Maintenance Mode") },
    { heading: "Power" },
    { label: "Reboot", disabled: !up ? "host is not responding" : null,
      run: () => dialog({ title: "Reboot host", ok: "OK", body: h("p", {}, `Reboot ${node.name}? A reboot from vCenter is a full boot.${maint ? "" : " The host is not in maintenance mode: running virtual machines stop."}`) }).then((ok) => ok && post("reboot", null, "Reboot")) },
    { label: "Shut Down", disabled: !up ? "host is not responding" : null,
      run: () => dialog({ title: "Shut down host", ok: "OK", danger: true, body: h("p", {}, `Shut down ${node.name}?${maint ? "" : " The host is not in maintenance mode: running virtual machines stop."}`) }).then((ok) => ok && post("shutdown", null, "Shut Down")) },
    { label: "Power On", disabled: up ? "host is powered on" : null, run: () => post("power-on", null, "Power On") },
    { heading: "Updates" },
    { label: "Remediate (upgrade ESXi)...", disabled: !up ? "host is not responding" : null, run: () => upgradeDialog(node, post) },
    { heading: "Trust Authority" },
    { label: "Export base image (boot_imgdb.tgz)", disabled: !up ? "host is not responding" : null, run: () => exportImage(node) }];
  return items;
}

async function upgradeDialog(node, post) {
  const rel = await api.get(node.ep, "/api/vtalab/releases");
  const sel = h("select", { name: "release", id: "upgrade-release" }, rel.map((r) => h("option", { value: r.key }, `${r.display_name} (${r.key})`)));
  dialog({ title: "Remediate host", ok: "Remediate", body: [h("p", {}, `Upgrade ${node.name} with vSphere Lifecycle Manager. The host enters maintenance mode and reboots (Quick Boot when the cluster enables it).`),
    h("label", { class: "field" }, h("span", {}, "Target ESXi version"), sel)], onOk: () => ({ release: sel.value }) })
    .then((v) => v && post("upgrade", v, "Remediate"));
}

async function exportImage(node) {
  const url = api.url(node.ep, "/hosts/" + encodeURIComponent(node.name) + "/boot_imgdb.tgz");
  act("Export base image", async () => {
    const r = await fetch(url, { headers: { "vmware-api-session-id": api.sid[node.ep] || "" } });
    if (!r.ok) { let b = null; try { b = await r.json(); } catch (e) { /* not JSON */ } throw new ApiError(r.status, b); }
    const blob = await r.blob();
    const notice = r.headers.get("X-Vtalab-Quick-Boot-Notice") || "";
    const a = h("a", { href: URL.createObjectURL(blob), download: node.name + "-boot_imgdb.tgz" });
    document.body.append(a); a.click(); a.remove();
    return { flash: { kind: notice ? "info" : "ok", text: "boot_imgdb.tgz downloaded from " + node.name + "." + (notice ? " " + notice : "") } };
  });
}

// ---------------------------------------------------------------- VMs
PAGES.vm = {
  tabs: () => [["summary", "Summary"], ["monitor", "Monitor", [["", "Monitor"], ["events", "Events"]]]],
  actions: (node) => {
    const v = state.vmCache && state.vmCache.name === node.name ? state.vmCache : null;
    const on = v && v.power_state === "POWERED_ON";
    return [{ heading: "Power" },
      { label: "Power On", disabled: on ? "already powered on" : null, run: () => vmPower(node, "start") },
      { label: "Power Off", disabled: v && !on ? "already powered off" : null,
        run: () => dialog({ title: "Power Off", ok: "Yes", body: h("p", {}, `Power off ${node.name}? Powering off a VM may cause data loss in the guest.`) }).then((ok) => ok && vmPower(node, "stop")) },
      { heading: "" }, { label: "Migrate...", run: () => migrateDialog(node) }];
  },
  async render(node, tab) {
    if (tab === "monitor") return h("div", {}, await eventsPane("wl", [node.name]));
    const v = await api.get("wl", "/api/vtalab/vms/" + encodeURIComponent(node.name));
    state.vmCache = v;
    return h("div", {}, h("div", { class: "card" }, kv([["Power status", v.power_state === "POWERED_ON" ? "Powered On" : "Powered Off"],
      ["Host", v.host], ["Encryption", v.encrypted ? "Encrypted with the trusted key provider" : "Not encrypted"]])),
      h("div", { class: "toolbar" },
        h("button", { class: "btn", type: "button", id: "vm-power-on", disabled: v.power_state === "POWERED_ON", onclick: () => vmPower(node, "start") }, "Power On"),
        h("button", { class: "btn", type: "button", id: "vm-power-off", disabled: v.power_state !== "POWERED_ON", onclick: () => vmPower(node, "stop") }, "Power Off"),
        h("button", { class: "btn", type: "button", id: "vm-migrate", onclick: () => migrateDialog(node) }, "Migrate")),
      labView(v.lab));
  },
};

function vmPower(node, action) {
  act(action === "start" ? "Power On" : "Power Off", async () => {
    await runVerb("wl", action === "start" ? "Start-VM" : "Stop-VM", { vm: node.name }, 4000);
    return null;
  });
}

function migrateDialog(node) {
  const hosts = state.inv.wl.clusters.flatMap((c) => c.hosts.map((x) => x.name));
  const sel = h("select", { name: "destination", id: "migrate-destination" }, hosts.map((x) => h("option", { value: x }, x)));
  dialog({ title: "Migrate " + node.name, ok: "Finish", body: [h("p", {}, "Change compute resource only (vMotion)."),
    h("label", { class: "field" }, h("span", {}, "Destination host"), sel)], onOk: () => ({ destination: sel.value }) })
    .then((v) => v && act("Migrate", async () => {
      await runVerb("wl", "Move-VM", { vm: node.name, destination: v.destination }, 4000);
      return null;
    }));
}

// ---------------------------------------------------------------- Recent Tasks
async function renderTasks() {
  const rows = [];
  for (const ep of EP) {
    const list = await api.get(ep, "/api/vtalab/recent-tasks");
    list.forEach((t, i) => rows.push({ ...t, ep, seq: i, server: state.inv[ep] ? state.inv[ep].name : "" }));
  }
  rows.sort((a, b) => (b.start_time || "").localeCompare(a.start_time || "") || (b.seq - a.seq));
  const body = $("#tasks tbody");
  body.replaceChildren(...rows.slice(0, 100).map((t) => {
    const st = t.status === "success" ? h("span", { class: "st ok" }, "Completed")
      : t.status === "error" ? h("span", { class: "st err" }, "Failed")
        : h("span", { class: "st run" }, "In Progress");
    return h("tr", { "data-status": t.status, "data-task": t.name },
      h("td", {}, t.name), h("td", {}, t.target), h("td", {}, st),
      h("td", { class: "details" + (t.error ? " err" : ""), title: t.error || null }, t.error || ""),
      h("td", {}, "VSPHERE.LOCAL\\Administrator"), h("td", {}, fmtTime(t.start_time)), h("td", {}, fmtTime(t.end_time)),
      h("td", {}, t.server || ""));
  }));
  $("#tasks-count").textContent = rows.length ? `${rows.length} task(s)` : "";
}

// ---------------------------------------------------------------- lab bar
async function renderClock() {
  const c = await api.get(CFG.clock_ep || "wl", "/api/vtalab/clock");
  state.clock = c;
  $("#clock").textContent = `${fmtTime(c.now)}  T+${elapsed(c.seconds)}  ${c.running ? c.speed + "\u00D7" : "paused"}`;
  $("#clock-toggle").textContent = c.running ? "Pause" : "Run";
  $("#clock-toggle").setAttribute("aria-pressed", String(!c.running));
  const sel = $("#clock-speed");
  if (document.activeElement !== sel) {
    if (![...sel.options].some((o) => Number(o.value) === Number(c.speed))) sel.append(h("option", { value: c.speed }, c.speed + "\u00D7"));
    sel.value = String(c.speed);
  }
}
function elapsed(sec) {
  const s = Math.floor(sec || 0);
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const p = (n) => String(n).padStart(2, "0");
  return (d ? d + "d " : "") + `${p(hh)}:${p(mm)}:${p(ss)}`;
}
function clockCall(spec) {
  return act("Clock", async () => {
    await api.call(CFG.clock_ep || "wl", "PATCH", "/api/vtalab/clock", { json: spec });
    return null;
  });
}
$("#clock-toggle").addEventListener("click", () => clockCall({ running: !(state.clock && state.clock.running) }));
$("#clock-speed").addEventListener("change", (e) => clockCall({ speed: Number(e.target.value) }));
$("#adv-10m").addEventListener("click", () => clockCall({ advance: "10m" }));
$("#adv-1h").addEventListener("click", () => clockCall({ advance: "1h" }));
$("#logout").addEventListener("click", () => api.logout());
$("#labview").addEventListener("change", (e) => { state.labview = e.target.checked; renderPage(true); });

async function renderExercise() {
  if (!CFG.exercise) return;
  const ex = await api.get("wl", "/api/vtalab/exercise");
  const goal = $("#goal");
  goal.hidden = false;
  goal.textContent = "Goal: " + ex.goal;
  goal.title = ex.goal;
  $("#exercise-bar").hidden = false;
  const hint = $("#hint");
  hint.hidden = false;
  hint.textContent = `Hint (${ex.hints_used}/${ex.hints_total})`;
  hint.disabled = ex.hints_used >= ex.hints_total && false;
  $("#check").hidden = false;
  const deb = $("#debrief");
  deb.hidden = false;
  deb.href = "#";
}
$("#debrief").addEventListener("click", async (e) => {
  e.preventDefault();
  const r = await api.get("wl", "/api/vtalab/exercise/debrief");
  const url = URL.createObjectURL(new Blob([r.html], { type: "text/html" }));
  window.open(url, "_blank", "noopener");
});
$("#goal").addEventListener("click", (e) => e.currentTarget.classList.toggle("open"));
$("#hint").addEventListener("click", async () => {
  const r = await api.call("wl", "POST", "/api/vtalab/exercise/hint");
  await renderExercise();
  dialog({ title: r.title || "Hint", ok: "Close", cancel: false, body: [h("p", { id: "hint-text" }, r.text), r.section ? h("p", { class: "muted" }, "From: " + r.section) : null] });
});
$("#check").addEventListener("click", async () => {
  const r = await api.call("wl", "POST", "/api/vtalab/exercise/check");
  dialog({ title: r.passed ? "Goal reached, trust intact" : r.goal_reached ? "Goal reached, but not the right way" : "Goal not reached yet", ok: "Close", cancel: false,
    body: h("pre", { id: "check-text", style: "white-space:pre-wrap;font-size:12px;max-height:50vh;overflow:auto" }, r.text) });
});

// ---------------------------------------------------------------- polling
let timer = null;
async function refresh(fresh) {
  if (state.loggingIn || !api.sid.wl) return;
  try {
    await loadInventory();
    renderTree();
    await Promise.all([renderPage(!!fresh), renderTasks(), renderClock(), renderExercise()]);
  } catch (err) {
    if (err.status !== 401) console.warn("refresh failed:", err.message || err);
  }
}
async function poll() {
  clearTimeout(timer);
  await refresh(false);
  timer = setTimeout(poll, POLL_MS);
}
async function start() {
  $("#user").textContent = sessionStorage.getItem("vtalab-user-" + CFG.key) || CFG.user || "";
  $("#labview-wrap").hidden = !CFG.labview;
  loadRoute();
  await api.loadOps().catch(() => null);
  await loadInventory().catch(() => null);
  if (!state.sel && state.inv.ta && state.inv.ta.clusters.length) {
    state.sel = nodeId("tac", "ta", state.inv.ta.clusters[0].name);
  }
  renderTree();
  await refresh(true);
  poll();
}

(async () => {
  if (CFG.credentials && !api.sid.wl) {
    try { await api.login(CFG.credentials.user, CFG.credentials.password); } catch (e) { /* fall through to the form */ }
  }
  if (!api.sid.wl) showLogin(); else start();
})();
