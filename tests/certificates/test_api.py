"""The certificates API: issuers, signing certificates, issuing, revoking, verifying, trust."""

from __future__ import annotations

from datetime import timedelta

from certificates.issuers import list_positive_results
from certificates.signers import load_trusted_base64
from certificates.trust_list import import_trusted, verify_with_trust_list
from tests.certificates.support import (
    issuing_request,
    make_issuer,
    make_signer,
    pcr_entry,
    sign,
    vaccination_dcc,
)
from tests.factories import START, bearer_for, make_user
from web.accounts import Role, audit_entries


async def issuer_headers(db, issuer_id: int) -> dict[str, str]:
    staff = await make_user(db, Role.ISSUER)
    await db.execute(
        "UPDATE users SET issuer_id = :i WHERE id = :u", {"i": issuer_id, "u": staff.id}
    )
    return await bearer_for(db, staff)


async def test_admin_registers_an_issuer_and_its_signing_certificate(client, db) -> None:
    admin = await bearer_for(db, await make_user(db, Role.ADMIN))
    created = await client.post(
        "/api/issuers", json={"name": "RSUP Mohammad Hoesin", "kind": "hospital"}, headers=admin
    )
    assert created.status_code == 201, created.text
    issuer_id = created.json()["id"]
    signer = await client.post(
        f"/api/issuers/{issuer_id}/signing-certificates",
        json={"certificate_types": ["t", "r"]},
        headers=admin,
    )
    assert signer.status_code == 201, signer.text
    body = signer.json()
    assert body["certificate_types"] == ["r", "t"]
    assert "private" not in signer.text.lower() and "sealed" not in signer.text
    assert load_trusted_base64(body["certificate"]).may_sign("t")
    assert not load_trusted_base64(body["certificate"]).may_sign("v")
    trust = (await client.get("/api/trust-list")).json()
    assert trust == {body["kid"]: [body["certificate"]]}
    duplicate = await client.post(
        "/api/issuers", json={"name": "RSUP Mohammad Hoesin", "kind": "hospital"}, headers=admin
    )
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    actions = [entry["action"] for entry in await audit_entries(db)]
    assert {"issuer_created", "signing_certificate_created"} <= set(actions)


async def test_users_are_bound_to_existing_issuers_only(client, db, settings) -> None:
    admin = await bearer_for(db, await make_user(db, Role.ADMIN))
    issuer, _ = await make_issuer(db, settings)
    new = {"email": "lab@rs.id", "role": "issuer", "password": "a long password", "issuer_id": 999}
    assert (await client.post("/api/users", json=new, headers=admin)).status_code == 422
    bound = await client.post("/api/users", json={**new, "issuer_id": issuer.id}, headers=admin)
    assert bound.status_code == 201 and bound.json()["issuer_id"] == issuer.id
    wrong_role = {**new, "email": "o@rs.id", "role": "venue_manager", "issuer_id": issuer.id}
    assert (await client.post("/api/users", json=wrong_role, headers=admin)).status_code == 422


async def test_issuer_staff_issue_a_certificate_that_verifies(client, db, settings) -> None:
    issuer, signer = await make_issuer(db, settings)
    headers = await issuer_headers(db, issuer.id)
    issued = await client.post(
        "/api/certificates", json=issuing_request(pcr_entry()), headers=headers
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["hc1"].startswith("HC1:") and body["ci"].startswith("URN:UVCI:01:ID:")
    assert body["certificate"]["kid"] == signer.kid
    assert body["certificate"]["test_result"] == "negative"
    verified = await client.post("/api/certificates/verify", json={"hc1": body["hc1"]})
    assert verified.status_code == 200
    result = verified.json()
    assert result["valid"] is True, result
    assert result["steps"]["revocation"]["outcome"] == "pass"
    assert result["steps"]["schema"]["outcome"] == "pass"
    assert "Siregar" not in verified.text and "SIREGAR" not in verified.text
    audit = await audit_entries(db)
    assert audit[0]["action"] == "certificate_issued"
    assert "Siregar" not in str(audit) and "1990" not in str(audit)


async def test_a_revoked_certificate_fails_with_its_own_reason(client, db, settings, clock) -> None:
    issuer, _ = await make_issuer(db, settings)
    headers = await issuer_headers(db, issuer.id)
    body = (
        await client.post("/api/certificates", json=issuing_request(pcr_entry()), headers=headers)
    ).json()
    certificate_id = body["certificate"]["id"]
    clock.advance(hours=1)
    revoked = await client.post(
        f"/api/certificates/{certificate_id}/revoke",
        json={"reason": "wrong person"},
        headers=headers,
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    again = await client.post(
        f"/api/certificates/{certificate_id}/revoke", json={"reason": "again"}, headers=headers
    )
    assert again.status_code == 409
    result = (await client.post("/api/certificates/verify", json={"hc1": body["hc1"]})).json()
    assert result["valid"] is False
    assert result["steps"]["revocation"]["outcome"] == "fail"
    assert "revoked by its issuer" in result["steps"]["revocation"]["reason"]
    assert all(
        step["outcome"] == "pass" for name, step in result["steps"].items() if name != "revocation"
    )


async def test_only_the_issuing_issuer_may_revoke(client, db, settings) -> None:
    issuer, _ = await make_issuer(db, settings)
    other, _ = await make_issuer(db, settings, name="Lab Lain")
    body = (
        await client.post(
            "/api/certificates",
            json=issuing_request(pcr_entry()),
            headers=await issuer_headers(db, issuer.id),
        )
    ).json()
    response = await client.post(
        f"/api/certificates/{body['certificate']['id']}/revoke",
        json={"reason": "not ours"},
        headers=await issuer_headers(db, other.id),
    )
    assert response.status_code == 403
    missing = await client.post(
        "/api/certificates/424242/revoke",
        json={"reason": "x"},
        headers=await issuer_headers(db, issuer.id),
    )
    assert missing.status_code == 404


async def test_issuing_needs_a_bound_issuer_a_signer_for_the_type_and_a_valid_dcc(
    client, db, settings
) -> None:
    unbound = await bearer_for(db, await make_user(db, Role.ISSUER))
    request = issuing_request(pcr_entry())
    assert (
        await client.post("/api/certificates", json=request, headers=unbound)
    ).status_code == 403
    issuer, _ = await make_issuer(db, settings, types=("v",))
    headers = await issuer_headers(db, issuer.id)
    no_signer = await client.post("/api/certificates", json=request, headers=headers)
    assert no_signer.status_code == 409
    assert no_signer.json()["type"] == "/problems/no-signing-certificate"
    bad_entry = issuing_request({"tg": "840539006", "dn": 0, "sd": 2}, kind="v")
    invalid = await client.post("/api/certificates", json=bad_entry, headers=headers)
    assert invalid.status_code == 422
    assert invalid.json()["type"] == "/problems/invalid-certificate-content"
    assert any(e["pointer"] == "#/v/0/dn" for e in invalid.json()["errors"])
    two_kinds = {**request, "v": {}}
    assert (
        await client.post("/api/certificates", json=two_kinds, headers=headers)
    ).status_code == 422


async def test_verify_answers_garbage_with_a_result_and_bad_bodies_with_problems(client) -> None:
    for garbage in ("", "HC1:", "HC1:%%%", "hello", "HC1:" + "A" * 5000):
        response = await client.post("/api/certificates/verify", json={"hc1": garbage})
        assert response.status_code == 200
        assert response.json()["valid"] is False
    not_json = await client.post(
        "/api/certificates/verify", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.headers["content-type"] == "application/problem+json"
    wrong = await client.post("/api/certificates/verify", json={"hc1": 5})
    assert wrong.status_code == 422


async def test_positive_results_are_listed_for_case_creation(client, db, settings) -> None:
    issuer, _ = await make_issuer(db, settings)
    headers = await issuer_headers(db, issuer.id)
    for result, sampled in (
        ("260373001", "2026-11-22T07:00:00Z"),
        ("260415000", "2026-11-22T07:30:00Z"),
        ("260373001", "2026-11-10T07:00:00Z"),
    ):
        request = issuing_request(pcr_entry(result, sampled))
        assert (
            await client.post("/api/certificates", json=request, headers=headers)
        ).status_code == 201
    positives = await list_positive_results(db, START - timedelta(days=1))
    assert [p.test_result for p in positives] == ["positive"]
    assert positives[0].sampled_at == int((START - timedelta(hours=2)).timestamp())


async def test_an_imported_foreign_signer_makes_its_certificates_verify(db) -> None:
    key, foreign = make_signer()
    text = sign(vaccination_dcc(), key, foreign)
    before = await verify_with_trust_list(db, text, START)
    assert "no trusted signer" in before.step("signature").reason
    assert await import_trusted(db, [foreign], source="test", now=START) == 1
    assert await import_trusted(db, [foreign], source="test", now=START) == 0
    after = await verify_with_trust_list(db, text, START)
    assert after.valid


async def test_a_positive_lab_result_starts_a_pending_case_for_the_region(
    client, db, settings
) -> None:
    from tests.factories import bearer_for, make_user, make_visitor

    person = await make_visitor(client)
    await client.put("/api/me/profile", headers=person["headers"], json={"nik": "1671014501900003"})
    issuer, _ = await make_issuer(db, settings)
    headers = await issuer_headers(db, issuer.id)
    body = {
        **issuing_request(pcr_entry(result="260373001", sampled="2026-11-21T08:00:00Z")),
        "subject": {"nik": "1671014501900003"},
    }
    issued = (await client.post("/api/certificates", json=body, headers=headers)).json()
    assert issued["case"]["status"] == "pending"
    palembang = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="16.71"))
    jakarta = await bearer_for(db, await make_user(db, Role.HEALTH_OFFICIAL, region="31"))
    pending = (await client.get("/api/cases?status=pending", headers=palembang)).json()
    assert [(c["id"], c["people"], c["positive_on"]) for c in pending] == [
        (issued["case"]["id"], 1, "2026-11-21")
    ]
    assert (await client.get("/api/cases", headers=jakarta)).json() == []
    refused = await client.post(
        "/api/exposure-runs",
        headers=palembang,
        json={"case_ids": [issued["case"]["id"]], "dry_run": True},
    )
    assert refused.json()["type"] == "/problems/case-not-confirmed"
    confirmed = await client.post(f"/api/cases/{issued['case']['id']}/confirm", headers=palembang)
    assert confirmed.json()["status"] == "confirmed"
    negative = (
        await client.post(
            "/api/certificates",
            headers=headers,
            json={**issuing_request(pcr_entry()), "subject": {"nik": "1671014501900003"}},
        )
    ).json()
    assert negative["case"] is None
