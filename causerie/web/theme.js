// The page's theme (docs/THEMES.md): GET /api/ui names the agent's (ui.theme in agent.yaml);
// ?theme=<name> previews another. The stylesheet is linked in index.html (/theme/theme.css);
// here: the logo, and the theme's visualiser.js when it has one.
//
// A visualiser is an ES module whose default export takes the element around the orb and
// returns { update({ agent, user, state }) }: levels 0-1 about every 10 ms, the agent's
// state (idle, listening, thinking, speaking) when it changes.

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

// GET /api/ui, or null (a page served without an agent, or an older server).
export async function pageInfo() {
  try {
    const r = await fetch("/api/ui");
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}

async function previewed(name) {
  if (!name || !NAME.test(name)) return null;
  try {
    const r = await fetch(`/themes/${name}`);
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}

// Applies the theme; returns its visualiser, or null.
export async function applyTheme(info, preview, host) {
  const other = await previewed(preview);
  const theme = other || (info && info.theme);
  if (!theme) return null;
  if (other) {
    const link = document.getElementById("theme-css");
    await new Promise((resolve) => {
      link.onload = link.onerror = resolve;
      link.href = other.css;
    });
  }
  document.documentElement.dataset.theme = theme.name;
  if (theme.logo) {
    const img = document.getElementById("logo");
    img.src = theme.logo;
    img.hidden = false;
    document.getElementById("logo-dot").hidden = true;
    const icon = document.getElementById("favicon");
    icon.removeAttribute("type");
    icon.href = theme.logo;
  }
  if (!theme.visualiser) return null;
  try {
    const module = await import(theme.visualiser);
    return module.default(host) || null;
  } catch (e) {
    console.warn(`theme ${theme.name}: visualiser.js failed, keeping the orb:`, e);
    return null;
  }
}
