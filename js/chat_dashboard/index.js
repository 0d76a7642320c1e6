// ChatDashboard's panel: the chat (the reply streams in; a box to write the next turn; regenerate, compare
// and reset), and beside it the user model and the system model: per attribute a bar per value (the reading
// probe's probability at its layer), the pinned value outlined, and a pin control (value, strength N).
// Below, the last reply written without and with the pins. Parts: the chat, the models, the comparison;
// each follows the traits it shows, the bars and the streamed reply in place.
import { BANNER_CSS } from "../lib/banner.js";
import { h, select, slider } from "../lib/dom.js";
import { mount } from "../lib/mount.js";
import { composeParts, NOTICE_CSS, touches } from "../lib/parts.js";

const CSS = `
.iwchat { font: 13px/1.4 system-ui, sans-serif; color: #222; max-width: 1100px; }
.iwchat-main { display: grid; grid-template-columns: minmax(320px, 1fr) minmax(360px, 1.1fr); gap: 16px; align-items: start; }
.iwchat-log { border: 1px solid #ddd; border-radius: 6px; padding: 8px; min-height: 220px; max-height: 460px; overflow-y: auto; background: #fafafa; }
.iwchat-msg { margin: 4px 0; padding: 5px 9px; border-radius: 10px; max-width: 88%; white-space: pre-wrap; width: fit-content; }
.iwchat-msg.user { background: #dbe9f7; margin-left: auto; }
.iwchat-msg.assistant { background: #fff; border: 1px solid #ddd; }
.iwchat-msg.system { background: none; color: #666; font-style: italic; font-size: 12px; max-width: 100%; }
.iwchat-msg .who { display: block; font-size: 10px; color: #777; font-style: normal; }
.iwchat-cursor { display: inline-block; width: 7px; height: 1em; background: #08306b; vertical-align: -2px; animation: iwchatblink 1s steps(2) infinite; }
@keyframes iwchatblink { 50% { opacity: 0; } }
.iwchat-form { display: flex; gap: 6px; margin-top: 6px; }
.iwchat-form textarea { flex: 1; font: inherit; resize: vertical; min-height: 2.4em; }
.iwchat-form button, .iwchat-actions button, .iwchat-pin button { font-size: 12px; padding: 1px 8px; }
.iwchat-actions { display: flex; gap: 6px; margin-top: 6px; align-items: center; flex-wrap: wrap; font-size: 12px; color: #555; }
.iwchat-cut { background: #fff7e0; border: 1px solid #f0c36d; padding: 2px 8px; font-size: 12px; margin-bottom: 6px; }
.iwchat-models h3 { font-size: 13px; margin: 2px 0 6px; }
.iwchat-models h3 .sub { font-weight: 400; color: #666; font-size: 11px; }
.iwchat-attr { border: 1px solid #e3e3e3; border-radius: 6px; padding: 6px 8px; margin-bottom: 8px; }
.iwchat-attr.pinned { border-color: #e6550d; }
.iwchat-attr h4 { margin: 0 0 4px; font-size: 12px; display: flex; justify-content: space-between; gap: 8px; }
.iwchat-attr h4 .sub { font-weight: 400; color: #777; font-size: 11px; }
.iwchat-row { display: grid; grid-template-columns: 118px 1fr 42px; gap: 6px; align-items: center; font-size: 12px; margin: 1px 0; }
.iwchat-track { height: 12px; background: #f0f0f0; border-radius: 3px; position: relative; }
.iwchat-fill { height: 100%; background: #6baed6; border-radius: 3px; }
.iwchat-row.top .iwchat-fill { background: #2171b5; }
.iwchat-row.top .iwchat-name { font-weight: 600; }
.iwchat-row.pinned .iwchat-track { outline: 2px solid #e6550d; outline-offset: 1px; }
.iwchat-pct { text-align: right; font-variant-numeric: tabular-nums; }
.iwchat-pin { display: flex; gap: 8px; align-items: center; margin-top: 4px; font-size: 11px; color: #444; flex-wrap: wrap; }
.iwchat-pin label { display: flex; gap: 4px; align-items: center; }
.iwchat-pin input[type=range] { width: 110px; }
.iwchat-scale { font-size: 10px; color: #777; margin: -2px 0 6px; }
.iwchat-compare { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin-top: 12px; }
.iwchat-compare > div { border: 1px solid #ddd; border-radius: 4px; padding: 6px 10px; }
.iwchat-compare h4 { margin: 0 0 4px; font-size: 12px; color: #555; }
` + BANNER_CSS + NOTICE_CSS;

const pct = (p) => (p === undefined || p === null ? "" : `${Math.round(p * 100)}%`);
const pinText = (pins) => Object.entries(pins).map(([a, [v, n]]) => `${a} = ${v} (N ${n})`).join(", ");

function chat({ model, request, news }) {
  const log = h("div", { class: "iwchat-log", role: "log", "aria-label": "conversation" });
  const box = h("textarea", { class: "iwchat-input", "aria-label": "your message", placeholder: "Write to the model (Enter sends; Shift+Enter: a new line)" });
  const ask = (method, args = {}) => request(method, args).then(() => news.clear(method), (e) => news.fail(e, method));
  const send = () => {
    const text = box.value.trim();
    if (!text || model.get("generating")) return;
    box.value = "";
    request("say", { text }).then(() => news.clear("say"), (e) => { if (!box.value) box.value = text; news.fail(e, "say"); });
  };
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  const status = h("span", { class: "iwchat-busy" });
  const actions = h("div", { class: "iwchat-actions" },
    h("button", { class: "iwchat-regenerate", onclick: () => ask("regenerate") }, "regenerate"),
    h("button", { class: "iwchat-compare-btn", title: "write the last reply without and with the pins, side by side", onclick: () => ask("compare") }, "compare with / without pins"),
    h("button", { class: "iwchat-reset", onclick: () => ask("reset") }, "new chat"), status);
  const cut = h("div", { class: "iwchat-cut", hidden: "" });
  let live = null;  // the reply being written, changed in place

  const bubble = (role, text) => h("div", { class: `iwchat-msg ${role}` }, h("span", { class: "who" }, role), text);
  function draw() {
    log.replaceChildren(...model.get("messages").map((m) => bubble(m.role, m.content)));
    live = null;
    if (model.get("generating")) {
      live = h("span", { class: "iwchat-live" }, model.get("reply"));
      const b = bubble("assistant", live);
      b.append(h("span", { class: "iwchat-cursor", "aria-label": "writing" }));
      log.append(b);
    }
    log.scrollTop = log.scrollHeight;
    const n = model.get("truncated");
    cut.hidden = !n;
    cut.textContent = n ? `The conversation is longer than the model's context: its first ${n} tokens were left out.` : "";
  }
  const sendButton = h("button", { class: "iwchat-send", onclick: send }, "send");
  const showBusy = () => {
    status.textContent = model.get("busy") ? `${model.get("busy")}…` : "";
    const writing = model.get("generating");
    for (const b of [sendButton, ...actions.querySelectorAll("button")]) b.disabled = writing && !b.classList.contains("iwchat-reset");
  };
  draw();
  showBusy();
  return {
    el: h("div", { class: "iwchat-chat" }, cut, log, h("div", { class: "iwchat-form" }, box, sendButton), actions),
    update(names) {
      if (touches(names, ["messages", "generating", "truncated"])) draw();
      else if (names.has("reply") && live) { live.textContent = model.get("reply"); log.scrollTop = log.scrollHeight; }
      if (touches(names, ["busy", "generating"])) showBusy();
      return true;
    },
  };
}

function attributeCard(a, { model, request, news }) {
  const limit = model.get("strength_limit");
  const rows = a.values.map((v) => {
    const fill = h("div", { class: "iwchat-fill", style: "width:0%" });
    const row = h("div", { class: "iwchat-row", "data-value": v }, h("span", { class: "iwchat-name" }, v),
      h("div", { class: "iwchat-track", role: "meter", "aria-label": `${a.name}: ${v}`, "aria-valuemin": 0, "aria-valuemax": 1 }, fill),
      h("span", { class: "iwchat-pct" }));
    return { v, row, fill };
  });
  const pinned = () => model.get("pins")[a.name];
  const choose = select("iwchat-pin-value", [["", "none"], ...a.values.map((v) => [v, v])], pinned()?.[0] ?? "",
    (v) => (v ? ask("pin", { attribute: a.name, value: v, strength: strength.value() }) : ask("unpin", { attribute: a.name })),
    false, `pin ${a.name}`);
  const ask = (method, args) => request(method, args).then(() => news.clear(`pin ${a.name}`), (e) => news.fail(e, `pin ${a.name}`));
  const strengthSlider = slider("iwchat-strength", "N", { min: -limit, max: limit, step: 0.5, value: pinned()?.[1] ?? 4,
    onchange: (n) => { if (choose.value) ask("pin", { attribute: a.name, value: choose.value, strength: n }); } });
  const strength = { value: () => +strengthSlider.querySelector("input").value };
  const accuracy = a.accuracy?.[a.layer];
  const where = a.split === "test" ? "test accuracy" : "accuracy where the layer was chosen";
  const title = h("h4", {}, a.name, h("span", { class: "sub" },
    `layer ${a.layer}${accuracy !== undefined ? ` · ${where} ${pct(accuracy)}` : ""}`));
  const card = h("div", { class: "iwchat-attr", "data-attribute": a.name }, title, ...rows.map((r) => r.row),
    h("div", { class: "iwchat-pin" }, h("label", {}, "pin", choose), strengthSlider));
  function show() {
    const probs = model.get("readout")[a.name] || {};
    const pin = pinned();
    const best = Math.max(...a.values.map((v) => probs[v] ?? -1));
    for (const r of rows) {
      const p = probs[r.v];
      r.fill.style.width = `${Math.round((p ?? 0) * 1000) / 10}%`;
      r.row.querySelector(".iwchat-pct").textContent = pct(p);
      r.row.querySelector(".iwchat-track").setAttribute("aria-valuenow", p ?? 0);
      r.row.classList.toggle("top", p !== undefined && p === best);
      r.row.classList.toggle("pinned", !!pin && pin[0] === r.v);
    }
    card.classList.toggle("pinned", !!pin);
    choose.value = pin?.[0] ?? "";
    if (pin) strengthSlider.set(pin[1]);
  }
  show();
  return { el: card, show };
}

function models(ctx) {
  const { model } = ctx;
  const attrs = model.get("attributes");
  const cards = attrs.map((a) => attributeCard(a, ctx));
  const section = (about, title, sub) => {
    const mine = cards.filter((_, i) => attrs[i].about === about);
    return mine.length ? [h("h3", {}, title, h("span", { class: "sub" }, ` ${sub}`)), ...mine.map((c) => c.el)] : [];
  };
  const el = h("div", { class: "iwchat-models" },
    ...section("user", "User model", "what the model believes about you"),
    ...section("assistant", "System model", "what the model believes about itself"),
    h("div", { class: "iwchat-scale" }, "Bars: the reading probe's probability of each value at the layer shown, "
      + "read from the conversation as written (without the pins). A pin (outlined) adds N × the control probe's "
      + "direction as the model writes its next replies (N: the logit shift it makes in each edited layer's probe)."));
  return {
    el,
    update(names) {
      if (names.has("attributes")) return false;
      if (touches(names, ["readout", "pins"])) cards.forEach((c) => c.show());
      return true;
    },
  };
}

function comparison({ model }) {
  const c = model.get("compared");
  const el = h("div", { class: "iwchat-comparison" });
  if (c && c.plain !== undefined) {
    el.append(h("div", { class: "iwchat-compare" },
      h("div", { class: "iwchat-plain" }, h("h4", {}, `reply to turn ${c.turn}, without pins`), c.plain),
      h("div", { class: "iwchat-steered" }, h("h4", {}, `with ${Object.keys(c.pins).length ? pinText(c.pins) : "no pins"}`), c.steered)));
  }
  return { el, update: (names) => !names.has("compared") };
}

const FOLLOWED = ["attributes", "messages", "reply", "generating", "readout", "pins", "compared", "truncated", "busy"];
// (the notice line, above the parts, says when a reply was stopped by a newer request)

function render(view) {
  const { body, set, request, news } = mount(view, "iwchat", CSS);
  const ctx = { model: view.model, set, request, news };
  const main = (signal) => {
    const a = chat(ctx), b = models(ctx);
    return { el: h("div", { class: "iwchat-main" }, a.el, b.el), update: (names) => a.update(names) && b.update(names) };
  };
  const parts = composeParts(body, view.model, [main, () => comparison(ctx)], { traits: FOLLOWED, notice: true });
  return () => parts.destroy();
}

export default { render };
