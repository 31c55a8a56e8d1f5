// Live occupancy: follows the venue's Server-Sent Events stream and updates the page.
(function () {
  const card = document.querySelector("[data-stream]");
  if (!card || !window.EventSource) return;
  const current = card.querySelector('[data-field="current"]');
  const full = card.querySelector('[data-field="full"]');
  const stream = new EventSource(card.dataset.stream);
  stream.addEventListener("occupancy", (event) => {
    const data = JSON.parse(event.data);
    current.textContent = String(data.current);
    full.hidden = !data.full;
  });
})();
