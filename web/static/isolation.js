// The emergency call link also tells the health facility: the alert is sent in the background
// (keepalive, so it survives the switch to the phone app) and the tel: link goes on as usual.
(function () {
  const call = document.querySelector("[data-emergency-call]");
  if (!call) return;
  call.addEventListener("click", () => {
    fetch("/api/me/isolation/emergency", {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": call.dataset.csrf },
    }).catch(() => {});
  });
})();
