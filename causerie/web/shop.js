// Shop panel: renders the shop tools' UI events (docs/TOOLS.md, "UI events") and sends
// clicks back as `custom_action` events. Kept apart from app.js: it only listens.
//
// Wiring (two lines in the page's own code):
//   on each server event:  window.dispatchEvent(new CustomEvent("causerie:event", { detail: ev }))
//   to send to the server: window.addEventListener("causerie:send", (e) => transport.send(e.detail))
// and <script type="module" src="/static/shop.js"></script>. Product data is shown with
// textContent only: catalogue texts are data, never markup. Labels come from i18n.js
// (keys shop.*) and are redrawn when the page's language changes.

const state = { cards: [], cart: null, table: null, highlight: new Set(), order: null, source: "" };
let root = null;
const t = (key, vars) => (window.CauserieI18n ? window.CauserieI18n.t(key, vars) : key);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c instanceof Node ? c : String(c));
  return node;
}

function money(amount, currency = "EUR") {
  return new Intl.NumberFormat(document.documentElement.lang || "en", { style: "currency", currency }).format(amount);
}

function send(action, fields) {
  window.dispatchEvent(new CustomEvent("causerie:send", { detail: { type: "custom_action", action, ...fields } }));
}

function card(p) {
  const node = el("li", { class: "shop-card" + (state.highlight.has(p.id) ? " highlighted" : "") },
    el("strong", {}, p.name),
    el("span", { class: "price" }, `${money(p.price, p.currency)} · ${p.unit || ""}`),
    el("span", { class: "producer" }, p.producer || ""),
    p.description ? el("p", {}, p.description) : null,
    p.contains_your_allergens ? el("p", { class: "warning" }, t("shop.contains", { allergens: p.contains_your_allergens.join(", ") })) : null,
    p.in_stock === false ? el("p", { class: "warning" }, t("shop.out_of_stock")) : null,
    el("div", { class: "actions" },
      el("button", { type: "button", onclick: () => send("add_to_cart", { product_id: p.id, quantity: 1 }),
                     ...(p.in_stock === false ? { disabled: "" } : {}) }, t("shop.add")),
      el("button", { type: "button", onclick: () => send("add_to_selection", { product_id: p.id }) }, t("shop.set_aside")),
      el("button", { type: "button", onclick: () => send("view_product", { product_id: p.id }) }, t("shop.details"))));
  return node;
}

function tableView(t) {
  const head = el("tr", {}, el("th", {}, ""), ...t.products.map((p) => el("th", {}, p.name)));
  const rows = t.rows.map((r) => el("tr", {}, el("th", {}, r.label),
    ...r.values.map((v, i) => el("td", { class: r.best === i ? "best" : "" },
      Array.isArray(v) ? v.join(", ") : typeof v === "boolean" ? (v ? "✓" : "–") : v ?? "–"))));
  return el("table", { class: "shop-table" }, el("caption", {}, t.title || ""), el("thead", {}, head), el("tbody", {}, ...rows));
}

function cartView(c) {
  if (!c || !c.items.length) return el("p", { class: "muted" }, t("shop.cart.empty"));
  const lines = c.items.map((i) => el("li", {},
    `${i.quantity} × ${i.name} — ${money(i.line_total, c.currency)} `,
    el("button", { type: "button", "aria-label": t("shop.cart.remove", { name: i.name }),
                   onclick: () => send("remove_from_cart", { product_id: i.product_id }) }, "×")));
  return el("div", {}, el("ul", { class: "shop-cart" }, ...lines),
    el("p", { class: "total" }, t("shop.total", { total: money(c.total, c.currency) })));
}

function render() {
  if (!root) {
    root = el("section", { class: "card shop" });
    (document.querySelector("main") || document.body).append(root);
  }
  root.setAttribute("aria-label", t("shop.title"));
  root.replaceChildren(
    el("h2", {}, t("shop.title")),
    state.source ? el("p", { class: "muted" }, t("shop.source", { source: state.source })) : null,
    state.order ? el("p", { class: "order" }, t("shop.order", { order: state.order.order_id, total: money(state.order.total, state.order.currency) })) : null,
    state.table ? tableView(state.table) : null,
    state.cards.length ? el("ul", { class: "shop-cards" }, ...state.cards.map(card)) : null,
    el("h3", {}, t("shop.cart")), cartView(state.cart));
}

export function handle(ev) {
  switch (ev.type) {
    case "product_cards": state.cards = ev.products || []; state.table = null; break;
    case "comparison_table": state.table = ev; break;
    case "highlight": state.highlight = new Set(ev.product_ids || []); break;
    case "cart_updated": state.cart = ev; break;
    case "order_confirmed": state.order = ev; break;
    case "status_update": state.source = ev.status === "knowledge_base" && ev.source ? ev.source : ""; break;
    default: return;
  }
  render();
}

window.addEventListener("causerie:event", (e) => handle(e.detail));
window.addEventListener("causerie:language", () => { if (root) render(); });
window.causerieShop = { handle };
