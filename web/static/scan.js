// The visitor's scanner: Singgah posters check in, HC1 certificates go into the wallet, short
// venue codes can be typed. A check-in that cannot reach the server is kept in IndexedDB with
// the time of the scan and sent when the connection returns (the server accepts offline scans
// within bounds and marks them offline).
(function () {
  "use strict";

  const QUEUE_DB = "singgah";
  const QUEUE_STORE = "pending-checkins";
  const SYNC_TAG = "singgah-checkins";
  const RETRY_MS = 15000;
  const messages = window.SinggahCamera.pageMessages();
  const scanner = document.getElementById("scanner");
  const statusLine = document.getElementById("scan-status");
  const result = document.getElementById("scan-result");
  const pendingList = document.getElementById("pending");
  const pendingEmpty = document.getElementById("pending-empty");
  let csrf = document.querySelector('meta[name="csrf-token"]').content;
  const ourOrigins = new Set([location.origin, new URL(scanner.dataset.baseUrl).origin]);
  const locale = document.documentElement.lang === "en" ? "en-GB" : "id-ID";

  function say(key) {
    statusLine.textContent = messages[key] || "";
  }

  function show(kind, text, detail) {
    result.className = "scan-result " + kind;
    result.dataset.kind = kind;
    result.replaceChildren();
    const line = document.createElement("p");
    line.className = "scan-result-title";
    line.textContent = text;
    result.append(line);
    if (detail) {
      const more = document.createElement("p");
      more.textContent = detail;
      result.append(more);
    }
  }

  function clock(iso) {
    return new Date(iso).toLocaleString(locale, { dateStyle: "short", timeStyle: "short" });
  }

  // What a scanned text is: one of our posters, a certificate, another site, or neither.
  function classify(text) {
    if (text.startsWith("HC1:")) return { kind: "certificate", hc1: text };
    let url;
    try {
      url = new URL(text);
    } catch (_) {
      return { kind: "text" };
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") return { kind: "text" };
    if (!ourOrigins.has(url.origin)) return { kind: "foreign", host: url.host };
    const match = url.pathname.match(/^\/c\/([A-Za-z0-9_-]{16,})$/);
    return match ? { kind: "poster", token: match[1] } : { kind: "broken" };
  }

  // The page's CSRF token is tied to a session cookie; a page opened from the offline cache
  // can outlive it, so a refused token is renewed once from a fresh copy of this page.
  async function renewCsrf() {
    const html = await (await fetch("/scan", { cache: "no-store" })).text();
    const meta = new DOMParser().parseFromString(html, "text/html").querySelector('meta[name="csrf-token"]');
    if (meta) csrf = meta.content;
  }

  async function api(method, path, body, renewed = false) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (response.status === 403 && !renewed && String(data.type).endsWith("/csrf-failed")) {
      await renewCsrf();
      return api(method, path, body, true);
    }
    return { ok: response.ok, status: response.status, data };
  }

  function problem(data) {
    return data.detail || data.title || "";
  }

  // ---- the offline queue (IndexedDB) -------------------------------------------------------
  function openQueue() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(QUEUE_DB, 1);
      request.onupgradeneeded = () =>
        request.result.createObjectStore(QUEUE_STORE, { keyPath: "id", autoIncrement: true });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function inQueue(mode, work) {
    const db = await openQueue();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(QUEUE_STORE, mode);
      const request = work(transaction.objectStore(QUEUE_STORE));
      transaction.oncomplete = () => resolve(request && request.result);
      transaction.onerror = () => reject(transaction.error);
    });
  }

  const queued = () => inQueue("readonly", (store) => store.getAll());
  const enqueue = (scan) => inQueue("readwrite", (store) => store.add(scan));
  const dequeue = (id) => inQueue("readwrite", (store) => store.delete(id));

  async function renderPending() {
    const scans = await queued();
    pendingList.replaceChildren(
      ...scans.map((scan) => {
        const item = document.createElement("li");
        item.dataset.testid = "pending-scan";
        item.textContent = messages["scan.pending"] + " " + clock(scan.scanned_at);
        return item;
      })
    );
    pendingEmpty.hidden = scans.length > 0;
    return scans.length;
  }

  let flushing = false;
  // Sends the kept scans in the order they were made; stops at the first network failure.
  async function flush() {
    if (flushing || !navigator.onLine) return;
    flushing = true;
    try {
      for (const scan of await queued()) {
        let sent;
        try {
          sent = await api("POST", "/api/checkins", { token: scan.token, scanned_at: scan.scanned_at });
        } catch (_) {
          break;
        }
        if (sent.status >= 500 || sent.status === 429) break; // the server's trouble: retry later
        await dequeue(scan.id);
        if (sent.ok) {
          show("ok", messages["scan.sent"] + " " + sent.data.venue.name, clock(scan.scanned_at));
        } else {
          show("error", messages["scan.refused"], problem(sent.data));
        }
      }
    } finally {
      flushing = false;
      await renderPending();
    }
  }

  async function keepForLater(token, scannedAt) {
    await enqueue({ token, scanned_at: scannedAt });
    show("pending", messages["scan.offline_kept"], clock(scannedAt));
    await renderPending();
    // Not awaited: `ready` never settles where no service worker could be installed.
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.ready
        .then((registration) => registration.sync && registration.sync.register(SYNC_TAG))
        .catch(() => {});
    }
  }

  // ---- what each kind of code does ---------------------------------------------------------
  async function checkIn(token) {
    const scannedAt = new Date().toISOString();
    if (!navigator.onLine) return keepForLater(token, scannedAt);
    say("scan.checking_in");
    let sent;
    try {
      sent = await api("POST", "/api/checkins", { token, scanned_at: scannedAt });
    } catch (_) {
      return keepForLater(token, scannedAt);
    }
    if (!sent.ok) return show("error", messages["scan.refused"], problem(sent.data));
    const key = sent.status === 201 ? "scan.checked_in" : "scan.already_in";
    show("ok", messages[key] + " " + sent.data.venue.name, clock(sent.data.visit.checked_in_at));
    result.dataset.visitId = sent.data.visit.id;
  }

  async function addCertificate(hc1) {
    say("scan.adding_certificate");
    let sent;
    try {
      sent = await api("POST", "/api/me/certificates", { hc1 });
    } catch (_) {
      return show("error", messages["scan.offline_certificate"]);
    }
    if (!sent.ok) return show("error", messages["scan.refused"], problem(sent.data));
    show("ok", messages["scan.certificate_added"], sent.data.initials);
  }

  async function onCode(text) {
    const found = classify(text.trim());
    if (found.kind === "poster") await checkIn(found.token);
    else if (found.kind === "certificate") await addCertificate(found.hc1);
    else if (found.kind === "foreign") show("error", messages["scan.foreign_url"], found.host);
    else if (found.kind === "text") show("error", messages["scan.plain_text"]);
    else show("error", messages["scan.broken"]);
    say("scan.pointing");
  }

  async function onTypedCode(event) {
    event.preventDefault();
    const field = document.getElementById("venue-code");
    const code = field.value.trim().toUpperCase();
    if (!code) return field.focus();
    let found;
    try {
      found = await api("GET", "/api/venues/by-code/" + encodeURIComponent(code));
    } catch (_) {
      return show("error", messages["scan.offline_code"]);
    }
    if (!found.ok) return show("error", messages["scan.unknown_code"], code);
    field.value = "";
    await checkIn(found.data.token);
  }

  document.getElementById("code-form").addEventListener("submit", onTypedCode);
  window.addEventListener("online", flush);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data && event.data.type === "singgah-flush") flush();
    });
  }
  setInterval(async () => {
    if ((await renderPending()) > 0) flush();
  }, RETRY_MS);
  renderPending().then(flush);
  window.SinggahCamera.startScanner({
    video: document.getElementById("camera"),
    torch: document.getElementById("torch"),
    onCode,
    say,
  });
})();
