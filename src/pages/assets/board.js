// The board, live: the server says when orders change (server-sent events from
// /events/orders); the page then fetches itself again and swaps the counts and the list,
// keeping the filters. No polling from the browser, one small request per change at most
// every second.
(function () {
  "use strict";
  if (!window.EventSource) return;
  const live = document.getElementById("live");
  let pending = false;
  let last = 0;
  async function refresh() {
    pending = false;
    last = Date.now();
    const res = await fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" });
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    for (const id of ["counts-card", "orders-card"]) {
      const fresh = doc.getElementById(id);
      const here = document.getElementById(id);
      if (!fresh || !here) continue;
      if (id === "orders-card") {
        // Keep what the user is typing in the filters.
        const form = here.querySelector("form.filters");
        const freshForm = fresh.querySelector("form.filters");
        if (form && freshForm) freshForm.replaceWith(form);
      }
      here.replaceWith(fresh);
    }
    const l = document.getElementById("live");
    if (l) l.hidden = false;
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  }
  const source = new EventSource("/events/orders");
  source.addEventListener("open", () => { if (live) live.hidden = false; });
  source.addEventListener("orders", () => {
    if (pending) return;
    pending = true;
    const wait = Math.max(0, 1000 - (Date.now() - last));
    setTimeout(() => { refresh().catch(() => { pending = false; }); }, wait);
  });
})();
