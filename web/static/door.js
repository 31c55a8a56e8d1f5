// The door verifier: door staff scan a visitor's HC1 certificate and see its colour, the
// holder's initials and until when it holds. The server checks the signature against the
// trust list and the revocations, then the colour rules (POST /api/door/check). Without a
// connection the signature and expiry are checked here against the trust list the service
// worker kept (hc1-offline.js), and shown as that: no colour, since revocations and the colour
// rules need the server.
(function () {
  "use strict";

  const messages = window.SinggahCamera.pageMessages();
  const statusLine = document.getElementById("scan-status");
  const door = document.getElementById("door-result");
  const colourLine = door.querySelector('[data-testid="door-colour"]');
  const initials = door.querySelector('[data-testid="door-initials"]');
  const until = door.querySelector('[data-testid="door-until"]');
  const locale = document.documentElement.lang === "en" ? "en-GB" : "id-ID";

  function say(key, extra) {
    statusLine.textContent = (messages[key] || "") + (extra ? " " + extra : "");
  }

  function showDoor(colour, initialsText, untilText) {
    door.hidden = false;
    door.className = "door door-" + colour;
    door.dataset.colour = colour;
    colourLine.textContent = messages["colour." + colour] || messages["doorscan.invalid"];
    initials.textContent = initialsText || "—";
    until.textContent = untilText;
  }

  function untilText(moment) {
    if (!moment) return messages["doorscan.no_end"];
    const when = new Date(moment).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
    return messages["doorscan.valid_until"] + " " + when;
  }

  async function checkOffline(text) {
    let trustList;
    try {
      trustList = await (await fetch("/api/trust-list")).json(); // the service worker's copy
    } catch (_) {
      door.hidden = true;
      return say("doorscan.offline");
    }
    const found = await window.SinggahHc1.verifyOffline(text, trustList, Date.now());
    if (!found.valid) {
      showDoor("invalid", null, found.problem);
      return say("doorscan.invalid");
    }
    showDoor("offline", found.initials, untilText(found.expires_at && found.expires_at * 1000));
    colourLine.textContent = messages["doorscan.offline_signature"];
    say("doorscan.offline_checked");
  }

  async function onCode(text) {
    if (!text.startsWith("HC1:")) return say("doorscan.not_certificate");
    say("doorscan.checking");
    let response;
    try {
      response = await fetch("/api/door/check", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ hc1: text }),
      });
    } catch (_) {
      return checkOffline(text);
    }
    const found = await response.json().catch(() => ({}));
    if (!response.ok || !found.valid) {
      showDoor("invalid", null, found.problem || found.detail || "");
      return say("doorscan.invalid");
    }
    showDoor(found.colour, found.initials, untilText(found.valid_until));
    say("scan.pointing");
  }

  window.SinggahCamera.startScanner({
    video: document.getElementById("camera"),
    torch: document.getElementById("torch"),
    onCode,
    say,
  });
})();
