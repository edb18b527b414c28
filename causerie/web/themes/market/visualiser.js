// The market theme's visualiser: a row of bars that move with the voices, in place of the
// orb. Contract (web/theme.js): the default export takes the element around the orb and
// returns { update({ agent, user, state }) }. Elements only, no HTML strings.
const BARS = 7;
const SHAPE = [0.45, 0.7, 0.9, 1, 0.9, 0.7, 0.45];

export default function mount(host) {
  const orb = host.querySelector(".orb");
  if (orb) orb.hidden = true;
  const row = document.createElement("div");
  row.className = "market-bars";
  row.dataset.state = "idle";
  row.setAttribute("aria-hidden", "true");
  const bars = Array.from({ length: BARS }, () => document.createElement("span"));
  row.append(...bars);
  host.prepend(row);
  return {
    update({ agent, user, state }) {
      if (state) row.dataset.state = state;
      if (agent === undefined) return;
      const level = Math.max(agent, user || 0);
      bars.forEach((bar, i) => {
        bar.style.height = `${Math.round(12 + 88 * level * SHAPE[i])}%`;
      });
    },
  };
}
