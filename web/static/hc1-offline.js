// Checks an HC1 certificate's signature in the browser against a trust list fetched earlier
// (GET /api/trust-list, kept by the service worker), for the door when there is no network.
// HC1 = "HC1:" + Base45(zlib(COSE_Sign1(CWT))), signed ES256 or PS256 (docs/certificates.md).
// Only the signature and the expiry can be checked here: revocations and the colour rules
// live on the server, so the door shows an offline result as such, never as a colour.
(function () {
  "use strict";

  const BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  const ALGORITHMS = {
    "-7": { importAs: { name: "ECDSA", namedCurve: "P-256" }, verifyAs: { name: "ECDSA", hash: "SHA-256" } },
    "-37": { importAs: { name: "RSA-PSS", hash: "SHA-256" }, verifyAs: { name: "RSA-PSS", saltLength: 32 } },
  };

  function base45(text) {
    const out = [];
    for (let i = 0; i < text.length; i += 3) {
      const digits = [...text.slice(i, i + 3)].map((c) => BASE45.indexOf(c));
      if (digits.includes(-1)) throw new Error("not Base45");
      const n = digits.reduce((sum, d, k) => sum + d * 45 ** k, 0);
      if (digits.length === 3) out.push(n >> 8, n & 255);
      else out.push(n);
    }
    return new Uint8Array(out);
  }

  async function inflate(bytes) {
    if (bytes[0] !== 0x78) return bytes; // HCERT allows an uncompressed message
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // A CBOR reader for what HCERT holds: integers, strings, arrays, maps (keys as strings),
  // tags (dropped), simple values and floats; definite lengths only.
  function cbor(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    function length(info) {
      if (info < 24) return info;
      const size = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
      if (!size) throw new Error("indefinite CBOR lengths are not used by HCERT");
      let n = 0;
      for (let k = 0; k < size; k++) n = n * 256 + bytes[at + k];
      at += size;
      return n;
    }
    function item() {
      const head = bytes[at++];
      const major = head >> 5;
      const info = head & 31;
      if (major === 7) {
        const simple = { 20: false, 21: true, 22: null };
        if (info in simple) return simple[info];
        if (info === 26) return (at += 4), view.getFloat32(at - 4);
        if (info === 27) return (at += 8), view.getFloat64(at - 8);
        throw new Error("unsupported CBOR simple value");
      }
      const n = length(info);
      if (major === 0) return n;
      if (major === 1) return -1 - n;
      if (major === 2 || major === 3) {
        const slice = bytes.slice(at, (at += n));
        return major === 2 ? slice : new TextDecoder().decode(slice);
      }
      if (major === 4) return Array.from({ length: n }, item);
      if (major === 5) {
        const map = {};
        for (let k = 0; k < n; k++) map[String(item())] = item();
        return map;
      }
      return item(); // major 6: a tag, of which only the value matters here
    }
    return item();
  }

  function cborHead(major, n) {
    if (n < 24) return [(major << 5) | n];
    if (n < 256) return [(major << 5) | 24, n];
    if (n < 65536) return [(major << 5) | 25, n >> 8, n & 255];
    return [(major << 5) | 26, (n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  // RFC 9052 Sig_structure: ["Signature1", protected, external_aad = h'', payload].
  function toBeSigned(protectedBytes, payload) {
    const context = new TextEncoder().encode("Signature1");
    return new Uint8Array([
      ...cborHead(4, 4),
      ...cborHead(3, context.length), ...context,
      ...cborHead(2, protectedBytes.length), ...protectedBytes,
      ...cborHead(2, 0),
      ...cborHead(2, payload.length), ...payload,
    ]);
  }

  // The SubjectPublicKeyInfo of a DER X.509 certificate, for WebCrypto's "spki" import.
  function publicKeyInfo(der) {
    function tlv(at) {
      let size = der[at + 1];
      let header = 2;
      if (size & 0x80) {
        const count = size & 0x7f;
        size = 0;
        for (let k = 0; k < count; k++) size = size * 256 + der[at + 2 + k];
        header += count;
      }
      return { tag: der[at], start: at, body: at + header, end: at + header + size };
    }
    const tbs = tlv(tlv(0).body);
    let field = tlv(tbs.body);
    if (field.tag === 0xa0) field = tlv(field.end); // the explicit version
    for (let skip = 0; skip < 5; skip++) field = tlv(field.end); // serial .. subject
    return der.slice(field.start, field.end);
  }

  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));

  async function signedBy(candidates, alg, signature, data) {
    for (const der of candidates) {
      try {
        const key = await crypto.subtle.importKey(
          "spki", publicKeyInfo(fromBase64(der)), alg.importAs, false, ["verify"]
        );
        if (await crypto.subtle.verify(alg.verifyAs, key, signature, data)) return true;
      } catch (_) {
        // A certificate that does not parse or fit the algorithm: try the next one.
      }
    }
    return false;
  }

  function initials(dcc) {
    const names = dcc.nam || {};
    const given = names.gn || String(names.gnt || "").replaceAll("<", " ");
    const family = names.fn || String(names.fnt || "").replaceAll("<", " ");
    return (given + " " + family).split(/\s+/).filter(Boolean).slice(0, 3)
      .map((part) => part[0].toUpperCase()).join("");
  }

  // {valid, problem, initials, expires_at (seconds)} for `text` under `trustList`
  // ({base64 kid: [base64 DER, ...]}) at `now` (milliseconds).
  async function verifyOffline(text, trustList, now) {
    try {
      if (!text.startsWith("HC1:")) return { valid: false, problem: "not an HC1 certificate" };
      const [protectedBytes, unprotected, payload, signature] = cbor(await inflate(base45(text.slice(4))));
      const headers = { ...unprotected, ...(protectedBytes.length ? cbor(protectedBytes) : {}) };
      const alg = ALGORITHMS[String(headers["1"])];
      if (!alg || !(headers["4"] instanceof Uint8Array)) {
        return { valid: false, problem: "unsupported algorithm or no kid" };
      }
      const candidates = trustList[toBase64(headers["4"])] || [];
      if (!(await signedBy(candidates, alg, signature, toBeSigned(protectedBytes, payload)))) {
        return { valid: false, problem: "signature: no trusted signer verifies it" };
      }
      const claims = cbor(payload);
      const expires = claims["4"];
      if (typeof expires === "number" && expires * 1000 < now) {
        return { valid: false, problem: "expired" };
      }
      const dcc = (claims["-260"] || {})["1"] || {};
      return { valid: true, problem: null, initials: initials(dcc), expires_at: expires };
    } catch (error) {
      return { valid: false, problem: "unreadable: " + error.message };
    }
  }

  window.SinggahHc1 = { verifyOffline };
})();
