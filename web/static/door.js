// The door verifier: door staff scan a visitor's HC1 certificate and see its colour, the
// holder's initials and until when it holds. The server checks the signature against the
// trust list and the revocations (POST /api/door/check); without a connection nothing is shown
// as valid, because a door must not admit on a check it could not make.
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
      door.hidden = true;
      return say("doorscan.offline");
    }
    const found = await response.json().catch(() => ({}));
    if (!response.ok || !found.valid) {
      showDoor("invalid", null, found.problem || found.detail || "");
      return say("doorscan.invalid");
    }
    const validUntil = found.valid_until
      ? messages["doorscan.valid_until"] + " " +
        new Date(found.valid_until).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" })
      : messages["doorscan.no_end"];
    showDoor(found.colour, found.initials, validUntil);
    say("scan.pointing");
  }

  window.SinggahCamera.startScanner({
    video: document.getElementById("camera"),
    torch: document.getElementById("torch"),
    onCode,
    say,
  });
})();
