// The camera and the QR decoder shared by the scanner (/scan) and the door verifier (/door).
// The browser's BarcodeDetector is used where it reads QR codes (Android Chrome, Safari 17+);
// elsewhere (desktop Chromium on Linux, Firefox) the vendored jsQR decodes frames on a canvas.
(function () {
  "use strict";

  const FRAME_INTERVAL_MS = 150;

  async function nativeDetector() {
    if (!("BarcodeDetector" in window)) return null;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (!formats.includes("qr_code")) return null;
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return async (video) => {
        const found = await detector.detect(video);
        return found.length ? found[0].rawValue : null;
      };
    } catch (_) {
      return null;
    }
  }

  function canvasDetector() {
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return async (video) => {
      const width = video.videoWidth;
      const height = video.videoHeight;
      if (!width || !height) return null;
      canvas.width = width;
      canvas.height = height;
      context.drawImage(video, 0, 0, width, height);
      const image = context.getImageData(0, 0, width, height);
      const code = window.jsQR(image.data, width, height, { inversionAttempts: "attemptBoth" });
      return code ? code.data : null;
    };
  }

  function offerTorch(track, button) {
    const capabilities = track.getCapabilities ? track.getCapabilities() : {};
    if (!button || !capabilities.torch) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const on = button.getAttribute("aria-pressed") !== "true";
      await track.applyConstraints({ advanced: [{ torch: on }] });
      button.setAttribute("aria-pressed", String(on));
    });
  }

  // Starts the back camera in `video` and calls `onCode(text)` for each QR read; the next frame
  // is read only once `onCode` has settled. `say(key)` shows a status message.
  async function startScanner({ video, torch, onCode, say }) {
    say("scan.starting");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: "environment" } },
        audio: false,
      });
    } catch (_) {
      say("scan.no_camera");
      return;
    }
    video.srcObject = stream;
    await video.play();
    offerTorch(stream.getVideoTracks()[0], torch);
    say("scan.pointing");
    const detect = (await nativeDetector()) || canvasDetector();
    // A code left in view is acted on once: the same poster never checks in twice in a row,
    // while several different posters (or a certificate after a poster) each count.
    let last = null;
    const tick = async () => {
      try {
        const text = await detect(video);
        if (text && text !== last) {
          last = text;
          await onCode(text);
        }
      } finally {
        setTimeout(tick, FRAME_INTERVAL_MS);
      }
    };
    tick();
  }

  function pageMessages() {
    return JSON.parse(document.getElementById("page-messages").textContent);
  }

  window.SinggahCamera = { startScanner, pageMessages };
})();
