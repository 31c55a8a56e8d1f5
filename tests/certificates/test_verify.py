"""HC1 encode and verify: each failure has its own step and reason; garbage never raises."""

from __future__ import annotations

import io
import zlib
from datetime import timedelta
from functools import cache

import base45
import cbor2
import segno
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from certificates.cose import (
    ALG_ES256,
    ALG_PS256,
    HEADER_ALG,
    HEADER_KID,
    der_to_raw,
    sig_structure,
)
from certificates.hc1 import PREFIX
from certificates.signers import TrustedCertificate, trust_store
from certificates.verify import STEPS, Outcome, verify_hc1
from tests.certificates.support import make_signer, pcr_test_dcc, sign, vaccination_dcc
from tests.factories import START


def hc1_from_cose(message: bytes) -> str:
    return PREFIX + base45.b45encode(zlib.compress(message)).decode()


@cache
def shared_signer():
    """One signer for the fuzz test: making a key per example would dominate its run time."""
    return make_signer()


def failed_steps(result) -> dict[str, str]:
    return {s.name: s.reason for s in result.steps if s.outcome is Outcome.FAIL}


def test_a_signed_certificate_verifies_with_every_step_passing() -> None:
    key, signer = make_signer()
    result = verify_hc1(sign(vaccination_dcc(), key, signer), trust_store([signer]), START)
    assert result.valid
    assert [s.name for s in result.steps] == list(STEPS)
    assert all(s.outcome is Outcome.PASS for s in result.steps)
    assert result.signer == signer
    assert "ES256 signature by" in result.step("signature").reason
    assert result.claims.certificate_identifier == "URN:UVCI:01:ID:TEST1"


def test_tampering_breaks_the_signature() -> None:
    key, signer = make_signer()
    text = sign(vaccination_dcc(dose=2), key, signer)
    protected, unprotected, payload, signature = cbor2.loads(
        zlib.decompress(base45.b45decode(text[4:]))
    ).value
    forged = payload.replace(b"\x62dn\x02", b"\x62dn\x03")  # a third dose nobody gave
    assert forged != payload
    message = cbor2.dumps([protected, unprotected, forged, signature])
    result = verify_hc1(hc1_from_cose(message), trust_store([signer]), START)
    assert not result.valid
    assert failed_steps(result) == {
        "signature": result.step("signature").reason,
    }
    assert "does not verify" in result.step("signature").reason


def test_an_untrusted_signer_is_named_by_kid() -> None:
    key, signer = make_signer()
    _, stranger = make_signer()
    result = verify_hc1(sign(vaccination_dcc(), key, signer), trust_store([stranger]), START)
    assert not result.valid
    assert "no trusted signer has kid" in failed_steps(result)["signature"]
    assert result.step("key_usage").outcome is Outcome.NOT_REACHED


def test_a_signer_for_tests_only_may_not_sign_vaccinations() -> None:
    key, signer = make_signer(types=("t",))
    result = verify_hc1(sign(vaccination_dcc(), key, signer), trust_store([signer]), START)
    assert failed_steps(result) == {
        "key_usage": "the signer's key usage does not allow vaccination certificates"
    }
    test_result = verify_hc1(sign(pcr_test_dcc(), key, signer), trust_store([signer]), START)
    assert test_result.valid


def test_expiry_is_checked_against_the_given_time_inclusively() -> None:
    key, signer = make_signer()
    text = sign(vaccination_dcc(), key, signer, valid_for=timedelta(days=1))
    store = trust_store([signer])
    assert verify_hc1(text, store, START).valid
    assert verify_hc1(text, store, START + timedelta(days=1)).valid
    late = verify_hc1(text, store, START + timedelta(days=1, seconds=1))
    assert failed_steps(late) == {"expiry": "expired"}
    early = verify_hc1(text, store, START - timedelta(seconds=1))
    assert "not yet valid" in failed_steps(early)["expiry"]


def test_schema_problems_are_a_warning_only() -> None:
    key, signer = make_signer()
    dcc = vaccination_dcc()
    dcc["v"][0]["dn"] = 0  # doses count from 1
    result = verify_hc1(sign(dcc, key, signer), trust_store([signer]), START)
    assert result.valid
    assert result.step("schema").outcome is Outcome.WARN
    assert result.schema_problems == [{"pointer": "#/v/0/dn", "detail": "breaks minimum 1"}]


def test_each_decoding_stage_reports_its_own_failure() -> None:
    key, signer = make_signer()
    good = sign(vaccination_dcc(), key, signer)
    store = trust_store([signer])
    cases = {
        "prefix": "HC2:" + good[4:],
        "base45": good + "~",
        "decompression": PREFIX + base45.b45encode(b"not zlib").decode(),
        "cose": hc1_from_cose(b"\xff\xff"),
    }
    for step, text in cases.items():
        result = verify_hc1(text, store, START)
        assert list(failed_steps(result)) == [step], step
        later = STEPS[STEPS.index(step) + 1 :]
        assert all(result.step(name).outcome is Outcome.NOT_REACHED for name in later)


def test_a_payload_without_a_dcc_is_not_a_certificate() -> None:
    _, signer = make_signer()
    payload = cbor2.dumps({1: "ID", 4: 2_000_000_000, 6: 1})
    protected = cbor2.dumps({HEADER_ALG: ALG_ES256, HEADER_KID: signer.kid})
    message = cbor2.dumps([protected, {}, payload, b"x" * 64])
    result = verify_hc1(hc1_from_cose(message), trust_store([signer]), START)
    assert "holds no DCC" in failed_steps(result)["cose"]


def _claims_bytes() -> bytes:
    expires = int((START + timedelta(days=1)).timestamp())
    return cbor2.dumps({1: "NL", 6: int(START.timestamp()), 4: expires, -260: {1: pcr_test_dcc()}})


def test_ps256_untagged_with_headers_only_unprotected_verifies() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _, ec_signer = make_signer()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "NL DSC")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(START - timedelta(days=1))
        .not_valid_after(START + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    signer = TrustedCertificate(der, certificate)
    payload = _claims_bytes()
    signature = key.sign(
        sig_structure(b"", payload),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    unprotected = {HEADER_ALG: ALG_PS256, HEADER_KID: signer.kid}
    message = cbor2.dumps([b"", unprotected, payload, signature])  # untagged
    result = verify_hc1(hc1_from_cose(message), trust_store([ec_signer, signer]), START)
    assert result.valid, failed_steps(result)
    assert "PS256 signature by CN=NL DSC" in result.step("signature").reason


def test_every_trusted_certificate_with_the_kid_is_tried() -> None:
    key, signer = make_signer()
    _, impostor = make_signer()
    text = sign(vaccination_dcc(), key, signer)
    colliding = {signer.kid: (impostor, signer)}  # two certificates behind one kid
    assert verify_hc1(text, colliding, START).valid


def test_es256_with_alg_in_the_unprotected_header_verifies() -> None:
    key, signer = make_signer()
    payload = _claims_bytes()
    protected = cbor2.dumps({HEADER_KID: signer.kid})
    der = key.sign(sig_structure(protected, payload), ec.ECDSA(hashes.SHA256()))
    message = cbor2.dumps(
        cbor2.CBORTag(18, [protected, {HEADER_ALG: ALG_ES256}, payload, der_to_raw(der)])
    )
    assert verify_hc1(hc1_from_cose(message), trust_store([signer]), START).valid


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.binary().map(lambda b: PREFIX + base45.b45encode(b).decode()),
        st.binary().map(lambda b: hc1_from_cose(b)),
    )
)
def test_garbage_gives_a_failed_result_never_an_exception(text: str) -> None:
    _, signer = shared_signer()
    result = verify_hc1(text, trust_store([signer]), START)
    assert not result.valid
    assert result.to_json()["valid"] is False


def test_an_issued_certificate_decodes_with_plain_libraries_and_its_qr_reads() -> None:
    key, signer = make_signer()
    dcc = vaccination_dcc()
    text = sign(dcc, key, signer)
    # Independent decoding: no Singgah code below this line.
    assert text.startswith("HC1:")
    message = cbor2.loads(zlib.decompress(base45.b45decode(text[4:])))
    assert message.tag == 18
    protected_bytes, _, payload, raw_signature = message.value
    protected = cbor2.loads(protected_bytes)
    assert protected[1] == -7 and protected[4] == signer.kid
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    r, s = int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big")
    signer.certificate.public_key().verify(
        encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA256())
    )
    claims = cbor2.loads(payload)
    assert claims[1] == "ID" and claims[6] <= claims[4]
    assert claims[-260][1] == dcc
    # Its QR image, drawn by segno, reads back with an independent reader.
    buffer = io.BytesIO()
    segno.make(text, error="q").save(buffer, kind="png", scale=4)
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(buffer.getvalue())))
    assert [barcode.text for barcode in found] == [text]
