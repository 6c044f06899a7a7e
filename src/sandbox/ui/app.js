// The sandbox chat page. It plays Telegram users through the sandbox's JSON API and redraws a
// chat when the sandbox says it changed (server-sent events from /sandbox/events).
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, cls, text) => {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
};

const state = {
  users: [],         // [{user, messages}] from GET /sandbox/users
  current: null,     // the selected user's id
  seen: {},          // user id -> message count last seen, for unread badges
  commands: [],      // setMyCommands calls, in order
};

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error((data && (data.error || data.description)) || resp.statusText);
  return data;
}

function currentUser() {
  const found = state.users.find((u) => u.user.id === state.current);
  return found ? found.user : null;
}

// ---- text with Telegram entities ---------------------------------------------------------

// Entity offsets are UTF-16 code units, which is what JS string indices count.
function formatted(text, entities) {
  const root = document.createDocumentFragment();
  build(root, text || "", (entities || []).slice(), 0, (text || "").length);
  return root;
}

function build(parent, text, entities, start, end) {
  const inside = entities
    .filter((e) => e.offset >= start && e.offset + e.length <= end)
    .sort((a, b) => a.offset - b.offset || b.length - a.length);
  let pos = start;
  for (const e of inside) {
    if (e.offset < pos) continue; // nested in an entity already drawn
    parent.append(text.slice(pos, e.offset));
    const node = entityNode(e, text.slice(e.offset, e.offset + e.length));
    const rest = entities.filter((x) => x !== e);
    build(node.inner || node, text, rest, e.offset, e.offset + e.length);
    parent.append(node.outer || node);
    pos = e.offset + e.length;
  }
  parent.append(text.slice(pos, end));
}

function safeUrl(url) {
  return /^(https?:|tg:|mailto:)/i.test(url || "") ? url : null;
}

function entityNode(e, raw) {
  const tags = { bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code" };
  if (tags[e.type]) return el(tags[e.type]);
  switch (e.type) {
    case "pre": {
      const pre = el("pre");
      const code = el("code");
      pre.append(code);
      return { outer: pre, inner: code };
    }
    case "text_link":
    case "url": {
      const a = el("a");
      const href = safeUrl(e.type === "url" ? raw : e.url);
      if (href) { a.href = href; a.target = "_blank"; a.rel = "noopener noreferrer"; }
      return a;
    }
    case "spoiler": {
      const s = el("span", "spoiler");
      s.addEventListener("click", () => s.classList.add("shown"));
      return s;
    }
    case "blockquote":
    case "expandable_blockquote":
      return el("blockquote");
    case "bot_command": {
      const c = el("span", "cmd");
      c.addEventListener("click", () => sendText(raw));
      return c;
    }
    default:
      return el("span", e.type);
  }
}

// ---- the chat ------------------------------------------------------------------------------

function time(ts) {
  const d = new Date(ts * 1000);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// Consecutive messages of one media group are one album bubble, as Telegram shows them.
function groups(messages) {
  const out = [];
  for (const m of messages) {
    const last = out[out.length - 1];
    if (m.media_group_id && last && last.album === m.media_group_id) last.items.push(m);
    else out.push({ album: m.media_group_id || null, items: [m] });
  }
  return out;
}

function photoNode(p) {
  const src = p.src || safeUrl(p.url);
  if (!src) return el("div", "photo-missing", "🖼");
  const img = el("img", "photo");
  img.src = src;
  img.alt = "photo";
  img.loading = "lazy";
  return img;
}

function renderGroup(g) {
  const first = g.items[0];
  const wrap = el("div", "msg" + (first.from_bot ? "" : " me"));
  wrap.dataset.id = first.message_id;
  wrap.dataset.ids = g.items.map((m) => m.message_id).join(",");
  if (first.successful_payment) {
    const p = first.successful_payment;
    const s = el("div", "service", `⭐ ${p.total_amount} paid`);
    wrap.className = "msg service-wrap";
    wrap.style.alignSelf = "center";
    wrap.append(s);
    return wrap;
  }
  const bubble = el("div", "bubble");
  const photos = g.items.filter((m) => m.photo);
  let body = bubble;
  if (photos.length) {
    bubble.classList.add("media");
    const grid = el("div", `photos n${Math.min(photos.length, 10)}`);
    for (const m of photos) grid.append(photoNode(m.photo));
    bubble.append(grid);
    body = el("div", "body");
  }
  for (const m of g.items) {
    if (m.document) {
      const d = el("div", "doc");
      d.append(el("span", "icon", "📄"));
      const size = m.document.file_size ? ` · ${(m.document.file_size / 1024).toFixed(0)} KB` : "";
      d.append(el("span", null, (m.document.file_name || "file") + size));
      body.append(d);
    }
  }
  const captioned = g.items.find((m) => m.caption);
  if (first.text) body.append(formatted(first.text, first.entities));
  else if (captioned) body.append(formatted(captioned.caption, captioned.caption_entities));
  if (first.invoice) {
    const inv = first.invoice;
    const box = el("div", "invoice");
    box.append(el("div", "title", inv.title), el("div", null, inv.description));
    const pay = el("button", "pay", `Pay ⭐ ${inv.total_amount}`);
    pay.type = "button";
    pay.addEventListener("click", () => payInvoice(first.message_id, pay));
    box.append(pay);
    body.append(box);
  }
  const meta = el("span", "meta", (g.items.some((m) => m.edited) ? "edited " : "") + time(first.date));
  body.append(meta);
  if (body !== bubble && body.childNodes.length) bubble.append(body);
  wrap.append(bubble);
  const keyed = g.items.find((m) => m.buttons && m.buttons.length);
  if (keyed) wrap.append(keyboard(keyed));
  return wrap;
}

function keyboard(m) {
  const kb = el("div", "kb");
  for (const row of m.buttons) {
    const r = el("div", "row");
    for (const b of row) {
      const button = el("button", null, b.text);
      button.type = "button";
      button.addEventListener("click", () => press(m.message_id, b.callback_data, button));
      r.append(button);
    }
    kb.append(r);
  }
  return kb;
}

// Redraws only what changed: a message keeps its node while its JSON stays the same, so an
// edit replaces just that message, in place.
function renderChat(chat) {
  const box = $("#messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const wanted = groups(chat.messages).map((g) => ({ g, sig: JSON.stringify(g.items) }));
  const existing = new Map([...box.children].map((n) => [n.dataset.key, n]));
  const keep = new Set();
  let before = box.firstChild;
  for (const { g, sig } of wanted) {
    const key = g.album ? "g" + g.album : "m" + g.items[0].message_id;
    keep.add(key);
    let node = existing.get(key);
    if (!node || node.dataset.sig !== sig) {
      const fresh = renderGroup(g);
      fresh.dataset.key = key;
      fresh.dataset.sig = sig;
      if (node) node.replaceWith(fresh);
      node = fresh;
    }
    if (node !== before) box.insertBefore(node, before);
    before = node.nextSibling;
  }
  for (const [key, node] of existing) if (!keep.has(key)) node.remove();
  if (!chat.messages.length) {
    const hint = el("div", "empty", "Say /start to begin");
    hint.dataset.key = "empty";
    box.append(hint);
  }
  if (atBottom) box.scrollTop = box.scrollHeight;
}

async function loadChat() {
  if (state.current === null) return;
  const id = state.current;
  let chat;
  try {
    chat = await api("GET", `/sandbox/users/${id}/chat`);
  } catch (e) {
    chat = { messages: [] };
  }
  if (id !== state.current) return;
  state.seen[id] = chat.messages.length;
  renderChat(chat);
  renderUsers();
}

// ---- users ---------------------------------------------------------------------------------

async function loadUsers() {
  state.users = await api("GET", "/sandbox/users");
  if (!state.users.length) {
    await api("PUT", "/sandbox/users/1", { first_name: "Anna", language_code: "ru" });
    state.users = await api("GET", "/sandbox/users");
  }
  if (!state.users.some((u) => u.user.id === state.current)) {
    const saved = Number(localStorage.getItem("aisha.user"));
    const pick = state.users.find((u) => u.user.id === saved) || state.users[0];
    select(pick.user.id);
  }
  renderUsers();
}

function renderUsers() {
  const list = $("#user-list");
  list.replaceChildren();
  for (const { user, messages } of state.users) {
    const li = el("li", user.id === state.current ? "current" : "");
    li.dataset.user = user.id;
    li.append(el("div", "avatar", (user.first_name || "?").slice(0, 1).toUpperCase()));
    li.append(el("div", "who", `${user.first_name} · ${user.language_code || "—"} · #${user.id}`));
    const unread = messages - (state.seen[user.id] || 0);
    if (user.id !== state.current && unread > 0) li.append(el("span", "badge", String(unread)));
    li.addEventListener("click", () => select(user.id));
    list.append(li);
  }
  const u = currentUser();
  if (u) {
    $("#chat-sub").textContent = `bot · you are ${u.first_name} (#${u.id})`;
    $("#lang").value = u.language_code === "en" ? "en" : "ru";
  }
  const next = Math.max(0, ...state.users.map((x) => x.user.id)) + 1;
  if (!$("#new-id").value) $("#new-id").placeholder = String(next);
}

function select(id) {
  if (state.current !== id) $("#messages").replaceChildren();
  state.current = id;
  localStorage.setItem("aisha.user", String(id));
  renderUsers();
  loadChat();
}

async function addUser(ev) {
  ev.preventDefault();
  const id = Number($("#new-id").value || $("#new-id").placeholder);
  const name = $("#new-name").value.trim();
  if (!id || !name) return;
  try {
    await api("PUT", `/sandbox/users/${id}`, { first_name: name, language_code: $("#new-lang").value });
    $("#new-id").value = "";
    $("#new-name").value = "";
    await loadUsers();
    select(id);
  } catch (e) {
    toast(e.message);
  }
}

async function setLanguage() {
  const u = currentUser();
  if (!u) return;
  await api("PUT", `/sandbox/users/${u.id}`, { ...u, language_code: $("#lang").value });
  await loadUsers();
}

// ---- acting as the user --------------------------------------------------------------------

async function sendText(text) {
  const u = currentUser();
  if (!u || !text.trim()) return;
  try {
    await api("POST", `/sandbox/users/${u.id}/messages`, { text, first_name: u.first_name, language_code: u.language_code });
  } catch (e) {
    toast(e.message);
  }
}

async function press(messageId, data, button) {
  const u = currentUser();
  if (!u) return;
  button.disabled = true;
  try {
    const r = await api("POST", `/sandbox/users/${u.id}/press`, { message_id: messageId, callback_data: data, wait_answer_ms: 5000 });
    const a = r.answer;
    if (a && a.text) (a.show_alert ? modal : toast)(a.text);
  } catch (e) {
    toast(e.message);
  } finally {
    button.disabled = false;
  }
}

async function payInvoice(messageId, button) {
  const u = currentUser();
  if (!u) return;
  button.disabled = true;
  try {
    const r = await api("POST", `/sandbox/users/${u.id}/pay`, { message_id: messageId, wait_answer_ms: 5000 });
    if (!r.pre_checkout || !r.pre_checkout.ok) modal((r.pre_checkout && r.pre_checkout.error_message) || "Payment declined");
  } catch (e) {
    toast(e.message);
  } finally {
    button.disabled = false;
  }
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",")[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// Several files go as albums of up to ten, like a Telegram client sends them.
async function sendFiles(files) {
  const u = currentUser();
  if (!u || !files.length) return;
  const kind = $("#as-file").checked ? "document" : "photo";
  const caption = $("#text").value.trim() || undefined;
  $("#text").value = "";
  const all = [...files];
  for (let i = 0; i < all.length; i += 10) {
    const chunk = all.slice(i, i + 10);
    const payload = await Promise.all(chunk.map(async (f) => ({
      kind, data: await readBase64(f), file_name: f.name, mime_type: f.type || undefined,
    })));
    try {
      await api("POST", `/sandbox/users/${u.id}/media`, { files: payload, caption: i === 0 ? caption : undefined, language_code: u.language_code });
    } catch (e) {
      toast(e.message);
    }
  }
}

// ---- the command menu ----------------------------------------------------------------------

async function loadCommands() {
  state.commands = await api("GET", "/sandbox/commands");
}

function commandsFor(lang) {
  const pick = (l) => [...state.commands].reverse().find((c) => !c.scope && (c.language_code || null) === l);
  const found = pick(lang || null) || pick(null);
  return found ? found.commands : [];
}

async function toggleMenu() {
  const menu = $("#menu");
  if (!menu.hidden) { menu.hidden = true; return; }
  await loadCommands();
  const u = currentUser();
  menu.replaceChildren();
  const list = commandsFor(u && u.language_code);
  if (!list.length) menu.append(el("div", "muted", "  no commands registered"));
  for (const c of list) {
    const b = el("button");
    b.type = "button";
    b.append(el("span", "c", "/" + c.command), c.description);
    b.addEventListener("click", () => { menu.hidden = true; sendText("/" + c.command); });
    menu.append(b);
  }
  menu.hidden = false;
}

// ---- toasts and alerts ---------------------------------------------------------------------

let toastTimer = null;
function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 2500);
}

function modal(text) {
  $("#modal-text").textContent = text;
  $("#modal").hidden = false;
}

// ---- the developer panel -------------------------------------------------------------------

async function loadCalls() {
  const calls = await api("GET", "/sandbox/calls");
  const list = $("#call-list");
  list.replaceChildren();
  for (const c of calls.slice(-150).reverse()) {
    const li = el("li");
    const d = el("details");
    const status = c.ok ? "ok" : `${c.error_code}`;
    const s = el("summary", c.ok ? "" : "err", `${c.method}${c.chat_id ? " → " + c.chat_id : ""}  ${status}`);
    d.append(s);
    d.addEventListener("toggle", () => {
      if (d.open && d.childNodes.length === 1) {
        d.append(el("pre", null, "params " + JSON.stringify(c.params, null, 1)));
        d.append(el("pre", null, c.ok ? "result " + JSON.stringify(c.result, null, 1) : c.description));
      }
    }, { once: false });
    li.append(d);
    list.append(li);
  }
}

async function loadConfig() {
  const cfg = await api("GET", "/sandbox/config");
  $("#rate-limits").checked = cfg.rate_limits;
  $("#fault-list").textContent = cfg.faults.length
    ? "queued: " + cfg.faults.map((f) => `${f.method} ${f.error_code || "delay"} ×${f.times}`).join(", ")
    : "no faults queued";
}

async function addFault() {
  const code = Number($("#fault-code").value);
  const fault = { method: $("#fault-method").value, error_code: code };
  if (code === 429) fault.retry_after = 3;
  await api("POST", "/sandbox/faults", fault);
}

// ---- live updates --------------------------------------------------------------------------

// Coalesces bursts: at most one load of a kind runs at a time, and one more follows if
// something changed meanwhile.
function coalesced(load) {
  let running = false;
  let again = false;
  return async function run() {
    if (running) { again = true; return; }
    running = true;
    try { await load(); } catch (e) { /* the next event retries */ }
    running = false;
    if (again) { again = false; run(); }
  };
}

const refreshChat = coalesced(loadChat);
const refreshUsers = coalesced(loadUsers);
const refreshCalls = coalesced(loadCalls);
const refreshConfig = coalesced(loadConfig);

function connect() {
  const events = new EventSource("/sandbox/events");
  events.onopen = () => { $("#live").className = "on"; $("#live").textContent = "● live"; };
  events.onerror = () => { $("#live").className = "off"; $("#live").textContent = "● reconnecting"; };
  events.onmessage = (msg) => {
    let ev;
    try { ev = JSON.parse(msg.data); } catch (e) { return; }
    if (ev.kind === "resync") {
      refreshUsers(); refreshChat(); refreshCalls(); refreshConfig();
    } else if (ev.kind === "chat" || ev.kind === "call") {
      if (ev.chat_id === state.current) refreshChat();
      if (ev.kind === "chat" || ev.chat_id) refreshUsers();
      if (ev.kind === "call") { refreshCalls(); refreshConfig(); }
    } else if (ev.kind === "config") {
      refreshConfig();
    }
  };
}

// ---- wiring --------------------------------------------------------------------------------

function init() {
  $("#composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("#text").value;
    $("#text").value = "";
    sendText(text);
  });
  $("#text").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("#composer").requestSubmit(); }
  });
  $("#files").addEventListener("change", (ev) => { sendFiles(ev.target.files).finally(() => { ev.target.value = ""; }); });
  $("#menu-button").addEventListener("click", toggleMenu);
  $("#new-user").addEventListener("submit", addUser);
  $("#lang").addEventListener("change", setLanguage);
  $("#modal-ok").addEventListener("click", () => { $("#modal").hidden = true; });
  $("#rate-limits").addEventListener("change", (ev) => api("POST", "/sandbox/config", { rate_limits: ev.target.checked }));
  $("#fault-add").addEventListener("click", addFault);
  $("#calls-clear").addEventListener("click", () => api("DELETE", "/sandbox/calls"));
  loadUsers().then(connect);
}

document.addEventListener("DOMContentLoaded", init);
