"""The visitor wallet, the visitor's colour and the door decision at check-in."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag

from certificates.colour import CaseStatus, Colour, Vaccination, load_colour_rules
from certificates.hc1 import read_claims
from certificates.issuers import find_issued, revoke_certificate
from checkin import wallet
from checkin.tables import wallet_certificates
from checkin.visitors import unseal
from checkin.wallet import WalletCertificate, lasting_colour, visitor_status
from tests.certificates.support import (
    issue_to_rina,
    make_signer,
    pcr_entry,
    sign,
    vaccination_dcc,
    vaccination_entry,
)
from tests.factories import START, make_venue, make_visitor, poster_token

DOOR_KEYS = {"colour", "allowed", "initials", "valid_until", "reason"}


@pytest.fixture
def issue(db, settings):
    async def issued(entry: dict, kind: str, **when):
        return await issue_to_rina(db, settings, entry, kind, **when)

    return issued


async def add(client, visitor: dict, hc1: str):
    return await client.post("/api/me/certificates", json={"hc1": hc1}, headers=visitor["headers"])


async def status(client, visitor: dict) -> dict:
    return (await client.get("/api/me/status", headers=visitor["headers"])).json()


async def test_the_colour_follows_the_certificates_in_the_wallet(client, issue) -> None:
    me = await make_visitor(client)
    assert await status(client, me) == {
        "colour": "red",
        "reason": "no vaccination, valid test or recovery",
        "valid_until": None,
        "initials": "",
    }
    vaccinated = await issue(vaccination_entry(2, 2), "v", days=200)
    added = await add(client, me, vaccinated.hc1)
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["certificate_type"] == "v" and body["status"] == "valid"
    assert (body["dose_number"], body["series_doses"], body["initials"]) == (2, 2, "RS")
    # Yellow until the vaccination certificate's HC1 expires.
    assert await status(client, me) == {
        "colour": "yellow",
        "reason": "primary vaccination series completed",
        "valid_until": "2027-06-10T09:00:00Z",
        "initials": "RS",
    }
    tested = await issue(pcr_entry(sampled="2026-11-22T07:00:00Z"), "t")
    assert (await add(client, me, tested.hc1)).status_code == 201
    # Green until the PCR's 72 hours are over; then yellow again.
    green = await status(client, me)
    assert green["colour"] == "green" and green["valid_until"] == "2026-11-25T07:00:00Z"
    listed = await client.get("/api/me/certificates", headers=me["headers"])
    assert [c["certificate_type"] for c in listed.json()] == ["t", "v"]
    assert listed.json()[0]["test_result"] == "negative"
    assert "HC1:" not in listed.text and "Siregar" not in listed.text


async def test_an_expired_certificate_stops_counting(client, issue, clock) -> None:
    me = await make_visitor(client)
    booster = await issue(vaccination_entry(3, 3), "v", days=2)
    assert (await add(client, me, booster.hc1)).status_code == 201
    assert (await status(client, me))["colour"] == "green"
    assert (await status(client, me))["valid_until"] == "2026-11-24T09:00:00Z"
    clock.advance(days=2)
    assert (await status(client, me))["colour"] == "green"  # the expiry second still counts
    clock.advance(seconds=1)
    assert (await status(client, me))["colour"] == "red"
    listed = (await client.get("/api/me/certificates", headers=me["headers"])).json()
    assert [c["status"] for c in listed] == ["expired"]
    late = await add(client, await make_visitor(client), booster.hc1)
    assert late.status_code == 422
    assert late.json()["type"] == "/problems/certificate-rejected"
    assert late.json()["verification"]["steps"]["expiry"]["outcome"] == "fail"


async def test_a_revoked_certificate_stops_counting_and_cannot_be_added(client, db, issue) -> None:
    me = await make_visitor(client)
    booster = await issue(vaccination_entry(3, 3), "v")
    await add(client, me, booster.hc1)
    await revoke_certificate(
        db, await find_issued(db, booster.record.id), now=START, reason="issued in error"
    )
    assert (await status(client, me))["colour"] == "red"
    listed = (await client.get("/api/me/certificates", headers=me["headers"])).json()
    assert listed[0]["status"] == "revoked"
    again = await add(client, await make_visitor(client), booster.hc1)
    assert again.json()["verification"]["steps"]["revocation"]["outcome"] == "fail"


async def test_only_trusted_readable_certificates_are_added_once(client, issue) -> None:
    me = await make_visitor(client)
    key, untrusted = make_signer()
    foreign = sign(vaccination_dcc(3, 3), key, untrusted)
    refused = await add(client, me, foreign)
    assert refused.status_code == 422
    assert refused.json()["verification"]["steps"]["signature"]["outcome"] == "fail"
    for garbage in ("hello", "HC1:%%%", "HC1:" + "A" * 50):
        response = await add(client, me, garbage)
        assert response.status_code == 422, garbage
        assert response.json()["type"] == "/problems/certificate-rejected"
    booster = await issue(vaccination_entry(3, 3), "v")
    assert (await add(client, me, booster.hc1)).status_code == 201
    twice = await add(client, me, booster.hc1)
    assert twice.status_code == 409
    assert twice.json()["type"] == "/problems/certificate-already-in-wallet"


async def test_a_visitor_sees_and_deletes_only_their_own_certificates(client, issue) -> None:
    me, other = await make_visitor(client), await make_visitor(client)
    booster = await issue(vaccination_entry(3, 3), "v")
    mine = (await add(client, me, booster.hc1)).json()
    assert (await client.get("/api/me/certificates", headers=other["headers"])).json() == []
    assert (await status(client, other))["colour"] == "red"
    path = f"/api/me/certificates/{mine['id']}"
    stolen = await client.delete(path, headers=other["headers"])
    assert stolen.status_code == 404
    assert stolen.json()["type"] == "/problems/wallet-certificate-not-found"
    assert (await client.get("/api/me/certificates", headers=me["headers"])).json() != []
    assert (await client.delete(path, headers=me["headers"])).status_code == 204
    assert (await client.get("/api/me/certificates", headers=me["headers"])).json() == []
    assert (await client.get("/api/me/certificates")).status_code == 401


async def test_the_certificate_is_sealed_at_rest(client, db, app, issue) -> None:
    me, other = await make_visitor(client), await make_visitor(client)
    booster = await issue(vaccination_entry(3, 3), "v")
    await add(client, me, booster.hc1)
    row = await db.fetch_one(sa.select(wallet_certificates))
    stored = repr(dict(row._mapping)).encode() + bytes(row["hc1_sealed"])
    body = booster.hc1.removeprefix("HC1:").encode()
    for secret in (b"Siregar", b"SIREGAR", b"1990-04-01", body[:40], body[-40:]):
        assert secret not in stored
    keys = app.state.personal_keys
    sealed = bytes(row["hc1_sealed"])
    assert unseal(keys, f"wallet:{me['visitor_id']}", sealed).decode() == booster.hc1
    with pytest.raises(InvalidTag):
        unseal(keys, f"wallet:{other['visitor_id']}", sealed)
    assert (row["dose_number"], row["series_doses"], row["key_id"]) == (3, 3, keys.key_id)


async def test_the_door_decision_comes_with_the_check_in(client, db, kek, issue) -> None:
    venue = await make_venue(db, kek, name="Mal Palembang Indah", entry_policy=("green",))
    token = await poster_token(db, kek, venue)
    yellow, green = await make_visitor(client), await make_visitor(client)
    await add(client, yellow, (await issue(vaccination_entry(2, 2), "v")).hc1)
    await add(client, green, (await issue(vaccination_entry(3, 3), "v", days=30)).hc1)
    refused = await client.post("/api/checkins", json={"token": token}, headers=yellow["headers"])
    assert refused.status_code == 201  # the visit is recorded: the person is there
    door = refused.json()["door"]
    assert set(door) == DOOR_KEYS
    assert (door["colour"], door["allowed"], door["initials"]) == ("yellow", False, "RS")
    assert door["reason"].endswith("Mal Palembang Indah admits green only")
    admitted = await client.post("/api/checkins", json={"token": token}, headers=green["headers"])
    assert admitted.json()["door"] == {
        "colour": "green",
        "allowed": True,
        "initials": "RS",
        "valid_until": "2026-12-22T09:00:00Z",
        "reason": "booster dose",
    }
    nobody = await make_visitor(client)
    await client.put("/api/me/profile", json={"name": "budi santoso"}, headers=nobody["headers"])
    unknown = await client.post("/api/checkins", json={"token": token}, headers=nobody["headers"])
    assert unknown.json()["door"]["colour"] == "red"
    assert unknown.json()["door"]["initials"] == "BS"  # from the profile, with no certificate


async def test_the_door_decodes_a_certificate_once_not_at_every_check_in(
    client, db, kek, issue, monkeypatch
) -> None:
    """The door shows the holder's initials from the newest counting certificate; decoding
    the HC1 for them costs far more than the rest of a check-in, so it happens once."""
    venue = await make_venue(db, kek)
    token = await poster_token(db, kek, venue)
    me = await make_visitor(client)
    for doses in (1, 2):
        hc1 = (await issue(vaccination_entry(doses, 2), "v", days=200 - doses)).hc1
        assert (await add(client, me, hc1)).status_code == 201
    decoded: list[str] = []
    monkeypatch.setattr(wallet, "read_claims", lambda hc1: decoded.append(hc1) or read_claims(hc1))
    for _ in range(3):
        checked_in = await client.post(
            "/api/checkins", json={"token": token}, headers=me["headers"]
        )
        assert checked_in.json()["door"]["initials"] == "RS"
        assert (await status(client, me))["initials"] == "RS"
    assert len(decoded) <= 2  # each certificate at most once (the wallet read them when added)
    other = await make_visitor(client)  # the same HC1 in another wallet is decoded for it
    assert (await add(client, other, hc1)).status_code == 201
    assert (await status(client, other))["initials"] == "RS"
    listed = await client.get("/api/me/certificates", headers=other["headers"])
    assert [c["initials"] for c in listed.json()] == ["RS"]


async def test_a_case_status_turns_the_colour_black(client, db, app, issue) -> None:
    me = await make_visitor(client)
    await add(client, me, (await issue(vaccination_entry(3, 3), "v")).hc1)
    state = app.state
    case = CaseStatus(close_contact_at=START - timedelta(days=1))
    found = await visitor_status(
        db, state.personal_keys, me["visitor_id"], START, state.colour_rules, case
    )
    assert found.decision.colour is Colour.BLACK
    assert found.decision.valid_until == START + timedelta(days=13)


def certificate(expires_in: timedelta, dose: int = 3) -> WalletCertificate:
    return WalletCertificate(
        id=1, certificate_type="v", fact=Vaccination(dose, 3), issuer_country="ID",
        issued_at=int(START.timestamp()), expires_at=int((START + expires_in).timestamp()),
        added_at=int(START.timestamp()), revoked=False, initials="RS",
    )  # fmt: skip


def test_the_colour_holds_until_the_last_certificate_that_keeps_it_expires() -> None:
    rules = load_colour_rules()
    boosters = [certificate(timedelta(days=5)), certificate(timedelta(days=40))]
    decision = lasting_colour(boosters, CaseStatus(), START, rules)
    assert (decision.colour, decision.valid_until) == (Colour.GREEN, START + timedelta(days=40))
    # A booster's colour outlives a shorter, weaker certificate; with no end, none is stated.
    mixed = [certificate(timedelta(days=5), dose=2), certificate(timedelta(days=40))]
    decision = lasting_colour(mixed, CaseStatus(), START, rules)
    assert decision.valid_until == START + timedelta(days=40)
    assert lasting_colour([], CaseStatus(), START, rules).valid_until is None
