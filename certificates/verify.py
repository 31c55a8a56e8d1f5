"""Verify an HC1 string step by step, so a door scanner and an official can see what failed.

Steps, in order: ``prefix``, ``base45``, ``decompression``, ``cose`` (CBOR/COSE structure and a
DCC in the payload), ``signature`` (by a trusted signer, naming it), ``expiry`` (``iat <= now
<= exp``), ``key_usage`` (the signer may sign this type), ``schema`` (a warning only: HCERT asks
verifiers to be lenient there) and, when the caller checks it, ``revocation``. A failed stage
leaves the stages that need its output ``not_reached``. Garbage in gives a result, never an
exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from certificates.cose import ALGORITHM_NAMES, Sign1, signature_is_valid
from certificates.hc1 import (
    Claims,
    StageFailed,
    base45_decode,
    decode_cose,
    decompress,
    schema_errors,
    unprefix,
)
from certificates.signers import TYPE_NAMES, TrustedCertificate, TrustStore, kid_text

STEPS = (
    "prefix",
    "base45",
    "decompression",
    "cose",
    "signature",
    "expiry",
    "key_usage",
    "schema",
)


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"
    WARN = "warn"
    NOT_REACHED = "not_reached"


@dataclass(frozen=True)
class Step:
    name: str
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class VerificationResult:
    """Every step's outcome; ``claims`` and ``signer`` once they could be read."""

    steps: tuple[Step, ...]
    claims: Claims | None = None
    signer: TrustedCertificate | None = None
    schema_problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """All steps pass; a schema warning does not invalidate."""
        return all(step.outcome in (Outcome.PASS, Outcome.WARN) for step in self.steps)

    def step(self, name: str) -> Step | None:
        return next((step for step in self.steps if step.name == name), None)

    def passed(self, name: str) -> bool:
        found = self.step(name)
        return found is not None and found.outcome in (Outcome.PASS, Outcome.WARN)

    def with_step(self, step: Step) -> VerificationResult:
        return replace(self, steps=(*self.steps, step))

    def to_json(self) -> dict[str, Any]:
        """The result for the API and the CLI; holds no name or date of birth."""
        claims = self.claims
        return {
            "valid": self.valid,
            "steps": {s.name: {"outcome": s.outcome.value, "reason": s.reason} for s in self.steps},
            "signer": (
                {"kid": kid_text(self.signer.kid), "subject": self.signer.subject}
                if self.signer
                else None
            ),
            "certificate_type": claims.certificate_type if claims else None,
            "issuer_country": claims.issuer if claims else None,
            "issued_at": claims.issued_at if claims else None,
            "expires_at": claims.expires_at if claims else None,
            "schema_problems": self.schema_problems,
        }


def _find_signer(message: Sign1, trusted: TrustStore) -> tuple[Step, TrustedCertificate | None]:
    kid = message.kid
    if kid is None:
        return Step("signature", Outcome.FAIL, "the message carries no kid"), None
    algorithm = ALGORITHM_NAMES.get(message.alg or 0)
    if algorithm is None:
        reason = f"unsupported algorithm {message.alg!r}; ES256 and PS256 are accepted"
        return Step("signature", Outcome.FAIL, reason), None
    candidates = trusted.get(kid, ())
    if not candidates:
        reason = f"no trusted signer has kid {kid_text(kid)}"
        return Step("signature", Outcome.FAIL, reason), None
    for candidate in candidates:
        if signature_is_valid(message, candidate.certificate.public_key()):
            reason = f"{algorithm} signature by {candidate.subject} (kid {kid_text(kid)})"
            return Step("signature", Outcome.PASS, reason), candidate
    reason = f"the {algorithm} signature does not verify with any trusted signer of kid"
    return Step("signature", Outcome.FAIL, f"{reason} {kid_text(kid)}"), None


def _expiry(claims: Claims, now: datetime) -> Step:
    if claims.issued_at is None or claims.expires_at is None:
        return Step("expiry", Outcome.FAIL, "the issued-at (6) or expiry (4) claim is missing")
    moment = now.timestamp()
    if moment < claims.issued_at:
        return Step("expiry", Outcome.FAIL, "not yet valid: issued after the verification time")
    if moment > claims.expires_at:
        return Step("expiry", Outcome.FAIL, "expired")
    return Step("expiry", Outcome.PASS, "issued before and expiring after the verification time")


def _key_usage(claims: Claims, signer: TrustedCertificate | None) -> Step:
    if signer is None:
        return Step("key_usage", Outcome.NOT_REACHED, "not reached: no trusted signer")
    kind = claims.certificate_type
    if kind is None:
        return Step("key_usage", Outcome.FAIL, "the DCC must hold exactly one of v, t or r")
    if not signer.may_sign(kind):
        reason = f"the signer's key usage does not allow {TYPE_NAMES[kind]} certificates"
        return Step("key_usage", Outcome.FAIL, reason)
    if not signer.hcert_usages:
        return Step("key_usage", Outcome.PASS, "the signer has no HCERT key usage: any type")
    return Step("key_usage", Outcome.PASS, f"the signer may sign {TYPE_NAMES[kind]} certificates")


def _schema(claims: Claims) -> tuple[Step, list[dict[str, str]]]:
    problems = schema_errors(claims.dcc)
    if not problems:
        return Step("schema", Outcome.PASS, "matches the DCC schema 1.3.3"), problems
    first = problems[0]
    reason = f"{len(problems)} schema problem(s), first at {first['pointer']}: {first['detail']}"
    return Step("schema", Outcome.WARN, reason), problems


def verify_hc1(text: str, trusted: TrustStore, now: datetime) -> VerificationResult:
    """Verify ``text`` against the ``trusted`` signers at ``now``; see the module docstring."""
    done: list[Step] = []
    try:
        body = unprefix(text)
        done.append(Step("prefix", Outcome.PASS, "starts with HC1:"))
        compressed = base45_decode(body)
        done.append(Step("base45", Outcome.PASS, f"{len(compressed)} bytes"))
        message_bytes = decompress(compressed)
        done.append(Step("decompression", Outcome.PASS, f"{len(message_bytes)} bytes"))
        message, claims = decode_cose(message_bytes)
        done.append(Step("cose", Outcome.PASS, "a COSE_Sign1 whose payload holds a DCC"))
    except StageFailed as exc:
        failed = STEPS[len(done)]
        skipped = [
            Step(name, Outcome.NOT_REACHED, f"not reached: {failed} failed")
            for name in STEPS[len(done) + 1 :]
        ]
        return VerificationResult((*done, Step(failed, Outcome.FAIL, str(exc)), *skipped))
    signature, signer = _find_signer(message, trusted)
    schema, problems = _schema(claims)
    checks = (signature, _expiry(claims, now), _key_usage(claims, signer), schema)
    return VerificationResult((*done, *checks), claims, signer, problems)
