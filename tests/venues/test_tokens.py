"""The poster token: tampering, keys, rotation, and an independent verifier from the spec."""

import base64
import json
import struct

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import START, make_venue, make_visitor, poster_token
from venues.errors import (
    SigningKeyRefused,
    TokenBadSignature,
    TokenKeyRetired,
    TokenMalformed,
    TokenUnknownKey,
    TokenVenueInactive,
    TokenVenueUnknown,
    VenueError,
)
from venues.keys import create_key, ensure_signing_key, jwks, list_keys, retire_key
from venues.registry import update_venue, verify_venue_token
from venues.tokens import (
    PAYLOAD,
    TOKEN_BYTES,
    TOKEN_CHARS,
    VERSION,
    SignatureCache,
    checkin_url,
    parse_token,
    sign_token,
    token_from_url,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_a_good_token_verifies_to_its_venue(db, kek) -> None:
    venue = await make_venue(db, kek)
    token = await poster_token(db, kek, venue)
    assert len(token) == TOKEN_CHARS
    assert (await verify_venue_token(db, token, SignatureCache())).id == venue.id


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8000", "https://singgah.sumselprov.go.id", "https://pl.id"]
)
async def test_poster_qr_is_version_10_or_less_at_level_m(db, kek, base_url) -> None:
    venue = await make_venue(db, kek)
    qr = segno.make(
        checkin_url(base_url, await poster_token(db, kek, venue)), error="m", micro=False
    )
    assert qr.version <= 10 and qr.error in {"M", "Q", "H"}


async def test_every_single_byte_change_is_rejected(db, kek) -> None:
    venue = await make_venue(db, kek)
    raw = unb64(await poster_token(db, kek, venue))
    reasons = set()
    for position in range(len(raw)):
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        with pytest.raises(VenueError) as refused:
            await verify_venue_token(db, b64(bytes(tampered)), SignatureCache())
        reasons.add(type(refused.value))
    assert reasons == {TokenMalformed, TokenUnknownKey, TokenBadSignature}


@pytest.mark.parametrize("text", ["", "abc", "!" * TOKEN_CHARS, "A" * (TOKEN_CHARS + 1), None])
async def test_garbage_is_malformed(db, text) -> None:
    with pytest.raises(TokenMalformed):
        await verify_venue_token(db, text, SignatureCache())


async def test_a_token_from_an_unknown_key_is_refused(db, kek) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    venue = await make_venue(db, kek)
    forged = sign_token(Ed25519PrivateKey.generate(), "0badc0de", venue.id, 1_700_000_000)
    with pytest.raises(TokenUnknownKey):
        await verify_venue_token(db, forged, SignatureCache())


async def test_a_token_for_a_venue_that_does_not_exist_is_refused(db, kek) -> None:
    from venues.keys import current_signer

    await ensure_signing_key(db, START, kek)
    key, private = await current_signer(db, kek)
    with pytest.raises(TokenVenueUnknown):
        await verify_venue_token(db, sign_token(private, key.kid, 424242, 0), SignatureCache())


async def test_deactivation_takes_effect_at_once_despite_the_cache(db, kek) -> None:
    venue = await make_venue(db, kek)
    token = await poster_token(db, kek, venue)
    cache = SignatureCache()
    await verify_venue_token(db, token, cache)
    await update_venue(db, venue, {"is_active": False}, START)
    with pytest.raises(TokenVenueInactive):
        await verify_venue_token(db, token, cache)


async def test_rotation_keeps_old_posters_until_their_key_is_retired(db, kek, clock) -> None:
    venue = await make_venue(db, kek)
    old_token = await poster_token(db, kek, venue)
    old_kid = (await list_keys(db))[0].kid
    cache = SignatureCache()
    await verify_venue_token(db, old_token, cache)
    clock.advance(days=30)
    new_key = await create_key(db, clock.now(), kek)
    new_token = await poster_token(db, kek, venue)
    assert new_token != old_token
    assert unb64(new_token)[1:5].hex() == new_key.kid
    await verify_venue_token(db, old_token, cache)
    await verify_venue_token(db, new_token, cache)
    with pytest.raises(SigningKeyRefused):
        await retire_key(db, new_key.kid, clock.now())  # it signs new posters
    await retire_key(db, old_kid, clock.now())
    with pytest.raises(TokenKeyRetired):
        await verify_venue_token(db, old_token, cache)
    await verify_venue_token(db, new_token, cache)
    assert [key["kid"] for key in jwks(await list_keys(db))["keys"]] == [new_key.kid]


async def test_poster_token_is_stable_for_a_key(db, kek) -> None:
    venue = await make_venue(db, kek)
    assert await poster_token(db, kek, venue) == await poster_token(db, kek, venue)


def test_urls_give_their_token() -> None:
    token = "A" * TOKEN_CHARS
    assert token_from_url(f"https://x.id/c/{token}?utm=1") == token
    with pytest.raises(TokenMalformed):
        token_from_url("https://x.id/venues/12")


def token_shaped(kid: bytes) -> st.SearchStrategy[str]:
    """Tokens of the right length and version carrying ``kid`` (or any kid), any venue id up
    to 2**64 - 1, any time and any signature: these get past the format checks into the
    database lookup and the signature check."""
    kids = st.sampled_from([kid]) | st.binary(min_size=4, max_size=4)
    payloads = st.builds(
        lambda k, venue, at, rest: PAYLOAD.pack(VERSION, k, venue, at) + rest,
        kids,
        st.integers(0, 2**64 - 1),
        st.integers(0, 2**32 - 1),
        st.binary(min_size=TOKEN_BYTES - PAYLOAD.size, max_size=TOKEN_BYTES - PAYLOAD.size),
    )
    return payloads.map(b64)


def any_token_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(),
        st.text(alphabet="ABCZaz09_-=+/\n", min_size=TOKEN_CHARS - 2, max_size=TOKEN_CHARS + 2),
        st.binary().map(b64),
        st.binary(min_size=TOKEN_BYTES, max_size=TOKEN_BYTES).map(b64),
    )


@settings(max_examples=500, deadline=None)
@given(st.one_of(any_token_text(), st.binary().map(lambda b: b.decode("latin-1"))))
def test_any_text_parses_or_is_malformed_never_another_error(text: str) -> None:
    try:
        parsed, signed, signature = parse_token(text)
    except TokenMalformed:
        return
    assert len(signed) + len(signature) == len(b"singgah/venue-token/v1\n") + TOKEN_BYTES
    assert 0 <= parsed.venue_id < 2**63


@pytest.mark.parametrize("url", ["", "/c/", "https://x.id/c/%00", "/c/" + "A" * 5000 + "?#"])
def test_odd_urls_are_malformed(url: str) -> None:
    with pytest.raises(TokenMalformed):
        parse_token(token_from_url(url))


# The database and the key are made once per test and only read by the examples, so sharing
# the function-scoped fixtures between examples is what we want here.
FUZZ_WITH_FIXTURES = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ_WITH_FIXTURES
@given(data=st.data())
async def test_any_token_gives_a_venue_error_never_another_exception(db, kek, data) -> None:
    venue = await make_venue(db, kek)
    kid = unb64(await poster_token(db, kek, venue))[1:5]
    token = data.draw(token_shaped(kid) if data.draw(st.booleans()) else any_token_text())
    with pytest.raises(VenueError):
        await verify_venue_token(db, token, SignatureCache())


@FUZZ_WITH_FIXTURES
@given(data=st.data())
async def test_checking_in_with_any_token_is_a_4xx_problem(client, db, kek, data) -> None:
    venue = await make_venue(db, kek)
    kid = unb64(await poster_token(db, kek, venue))[1:5]
    me = await make_visitor(client)
    token = data.draw(token_shaped(kid) if data.draw(st.booleans()) else any_token_text())
    response = await client.post("/api/checkins", json={"token": token}, headers=me["headers"])
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == response.status_code


def independent_verify(url: str, key_set: dict) -> dict:
    """A verifier written only from docs/qr-format.md, with plain base64, struct and
    cryptography calls: nothing from the singgah packages."""
    token = url.rsplit("/c/", 1)[1]
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) == 81
    payload, signature = raw[:17], raw[17:]
    version, kid, venue_id, issued_at = struct.unpack(">B4sQI", payload)
    assert version == 1
    jwk = next(k for k in key_set["keys"] if k["kid"] == kid.hex())
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    x = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    Ed25519PublicKey.from_public_bytes(x).verify(signature, b"singgah/venue-token/v1\n" + payload)
    return {"venue_id": venue_id, "issued_at": issued_at, "kid": kid.hex()}


async def test_an_independent_verifier_from_the_spec_accepts_a_poster(client, db, kek) -> None:
    venue = await make_venue(db, kek)
    shown = (await client.get(f"/api/venues/{venue.id}", headers=await admin(db))).json()
    key_set = (await client.get("/.well-known/singgah/keys.json")).json()
    assert all(set(k) == {"kty", "crv", "x", "kid", "use", "alg"} for k in key_set["keys"])
    assert (
        independent_verify(shown["checkin_url"], json.loads(json.dumps(key_set)))["venue_id"]
        == venue.id
    )


async def admin(db) -> dict[str, str]:
    from tests.factories import bearer_for, make_user

    return await bearer_for(db, await make_user(db))


def test_the_worked_example_in_the_spec_is_right() -> None:
    """docs/qr-format.md's example is checked against the code, so the spec cannot drift."""
    import re
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    spec = (Path(__file__).resolve().parents[2] / "docs" / "qr-format.md").read_text()
    values = dict(re.findall(r"^\| ([a-z `()]+?) \| `([^`]+)` \|$", spec, re.MULTILINE))
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    assert b64(key.public_key().public_bytes_raw()) == values["public key `x`"]
    token = sign_token(key, "01020304", 42, 1767225600)
    assert token == values["token"]
    raw = unb64(token)
    assert raw[:17].hex() == values["payload (hex)"]
    assert raw[17:].hex() == values["signature (hex)"]
    signed = bytes.fromhex(values["signed bytes (hex)"])
    assert (
        independent_verify(
            "https://x.id/c/" + token,
            {
                "keys": [
                    {
                        "kty": "OKP",
                        "crv": "Ed25519",
                        "alg": "EdDSA",
                        "kid": "01020304",
                        "x": values["public key `x`"],
                    }
                ]
            },
        )["venue_id"]
        == 42
    )
    key.public_key().verify(bytes.fromhex(values["signature (hex)"]), signed)
