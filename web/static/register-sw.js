// Registers the service worker on every page (served from /sw.js so its scope is the site).
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch(() => {
      // Without a service worker the site still works online; nothing to tell the person.
    });
  });
}
