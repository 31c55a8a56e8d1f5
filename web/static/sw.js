// Singgah's service worker. Each concern lives in its own file so they can change apart:
// sw-offline.js caches the app shell and sends scans made offline; sw-push.js shows pushed
// notifications and opens the alert they are about.
importScripts("/static/sw-offline.js", "/static/sw-push.js");
