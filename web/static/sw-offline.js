// Offline: the app shell cache and scans kept while offline (see the visitor app issue).
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
