// "Turn on alerts" on the visit page: asked after a check-in, never on page load.
// Subscribes this browser with the server's VAPID key and stores the subscription.
(function () {
  const button = document.getElementById("push-enable");
  const status = document.getElementById("push-status");
  if (!button || !("serviceWorker" in navigator) || !("PushManager" in window)) return;

  function keyBytes(base64url) {
    const base64 = (base64url + "===".slice((base64url.length + 3) % 4))
      .replace(/-/g, "+")
      .replace(/_/g, "/");
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  async function enable() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      status.textContent = button.dataset.denied;
      return;
    }
    const registration = await navigator.serviceWorker.ready;
    const { key } = await (await fetch("/api/push/vapid-public-key")).json();
    const subscription =
      (await registration.pushManager.getSubscription()) ||
      (await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(key),
      }));
    const { endpoint, keys } = subscription.toJSON();
    const response = await fetch("/api/push/subscriptions", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": button.dataset.csrf },
      body: JSON.stringify({ endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } }),
    });
    if (response.ok) {
      status.textContent = button.dataset.enabled;
      button.hidden = true;
    }
  }

  if (Notification.permission !== "denied") button.hidden = false;
  button.addEventListener("click", () => {
    enable().catch(() => {
      status.textContent = button.dataset.denied;
    });
  });
})();
