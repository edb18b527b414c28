// Tool cards: the `ui_event` of declared tools (docs/TOOLS.md, "Declared tools"), e.g.
//   {"type": "tool_card", "tool": "order_status", "card": {"title", "text", "fields": [{label, value}]}}
// Any event with a `tool` name and a `card` object is shown, newest first. Every value comes
// from an API, so it is inserted with textContent only, never as HTML. Listens like shop.js.

const MAX_CARDS = 4;
const cards = [];
let root = null;
const t = (key, vars) => (window.CauserieI18n ? window.CauserieI18n.t(key, vars) : key);

function el(tag, cls, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  for (const c of children) if (c != null) node.append(c instanceof Node ? c : String(c));
  return node;
}

function cardView(ev) {
  const c = ev.card;
  const fields = Array.isArray(c.fields) ? c.fields : [];
  return el("li", "shop-card tool-card",
    el("strong", "", c.title ?? ev.tool),
    c.text ? el("p", "", c.text) : null,
    fields.length ? el("dl", "tool-fields", ...fields.flatMap((f) => [el("dt", "", f.label), el("dd", "", f.value)])) : null);
}

function render() {
  if (!root) {
    root = el("section", "card shop tool-cards");
    (document.querySelector("main") || document.body).append(root);
  }
  root.setAttribute("aria-label", t("tools.title"));
  root.replaceChildren(el("h2", "", t("tools.title")), el("ul", "shop-cards", ...cards.map(cardView)));
}

export function handle(ev) {
  if (!ev || typeof ev.tool !== "string" || !ev.card || typeof ev.card !== "object") return;
  cards.unshift(ev);
  cards.length = Math.min(cards.length, MAX_CARDS);
  render();
}

window.addEventListener("causerie:event", (e) => handle(e.detail));
window.addEventListener("causerie:language", () => { if (root) render(); });
window.causerieCards = { handle };
