// A small markdown preview that builds DOM nodes: text only ever goes in with textContent,
// so the user's instructions can never become HTML. Headings, lists, paragraphs, **bold**,
// *italic* and `code`.
(function () {
  "use strict";

  function inline(parent, text) {
    const re = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`)/g;
    let last = 0;
    for (const m of text.matchAll(re)) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      const token = m[0];
      const tag = token.startsWith("**") ? "strong" : token.startsWith("`") ? "code" : "em";
      const cut = tag === "strong" ? 2 : 1;
      const el = document.createElement(tag);
      el.textContent = token.slice(cut, -cut);
      parent.appendChild(el);
      last = m.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function render(target, source) {
    target.replaceChildren();
    let list = null;
    let para = null;
    for (const raw of (source || "").split("\n")) {
      const line = raw.trimEnd();
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const item = /^\s*[-*]\s+(.*)$/.exec(line);
      if (!line.trim()) { list = null; para = null; continue; }
      if (heading) {
        list = null; para = null;
        const h = document.createElement("h" + Math.min(6, heading[1].length + 2));
        inline(h, heading[2]);
        target.appendChild(h);
      } else if (item) {
        para = null;
        if (!list) { list = document.createElement("ul"); target.appendChild(list); }
        const li = document.createElement("li");
        inline(li, item[1]);
        list.appendChild(li);
      } else {
        list = null;
        if (!para) { para = document.createElement("p"); target.appendChild(para); }
        else para.appendChild(document.createTextNode(" "));
        inline(para, line.trim());
      }
    }
  }

  window.CauserieMarkdown = { render };
})();
