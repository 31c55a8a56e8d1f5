// Offline: the app shell cache and scans kept while offline (see docs/visitor-app.md).
// Same-origin GETs of the shell, the visitor's own pages and data, the poster key set and the
// trust list go to the network first and fall back to the copy cached at the last success, so
// the scanner opens and the visitor's visits, wallet and colour show without a signal.
// Check-ins made offline wait in IndexedDB (scan.js); a Background Sync asks an open page to
// send them.
const SHELL_CACHE = "singgah-shell-v1";
const SHELL = [
  "/scan",
  "/door",
  "/me",
  "/me/certificates",
  "/me/status",
  "/manifest.webmanifest",
  "/static/app.css",
  "/static/register-sw.js",
  "/static/camera.js",
  "/static/scan.js",
  "/static/door.js",
  "/static/hc1-offline.js",
  "/static/vendor/jsQR.js",
  "/static/icons/icon-192.png",
  "/.well-known/singgah/keys.json",
  "/api/trust-list",
];
const CACHED_PREFIXES = ["/static/", "/api/me/", "/visits/"];
const SYNC_TAG = "singgah-checkins";

function cacheable(url) {
  return (
    url.origin === self.location.origin &&
    (SHELL.includes(url.pathname) || CACHED_PREFIXES.some((p) => url.pathname.startsWith(p)))
  );
}

async function precache() {
  const cache = await caches.open(SHELL_CACHE);
  // One by one: a page that fails (no cookie yet, server restarting) must not void the rest.
  await Promise.all(SHELL.map((path) => cache.add(path).catch(() => undefined)));
}

async function dropOldCaches() {
  const names = await caches.keys();
  await Promise.all(
    names.filter((n) => n.startsWith("singgah-shell-") && n !== SHELL_CACHE).map((n) => caches.delete(n))
  );
}

async function networkFirst(request) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("install", (event) => {
  self.skipWaiting();
  event.waitUntil(precache());
});

self.addEventListener("activate", (event) =>
  event.waitUntil(dropOldCaches().then(() => self.clients.claim()))
);

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method === "GET" && cacheable(url)) {
    event.respondWith(networkFirst(event.request));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag !== SYNC_TAG) return;
  event.waitUntil(
    self.clients
      .matchAll({ type: "window" })
      .then((pages) => pages.forEach((page) => page.postMessage({ type: "singgah-flush" })))
  );
});
