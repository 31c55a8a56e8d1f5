"""The issuing form: issuer staff sign a certificate in the browser and get its QR code."""

from __future__ import annotations

import base64
import io

import zxingcpp
from PIL import Image

from certificates.trust_list import verify_with_trust_list
from tests.certificates.support import make_issuer
from tests.factories import START, csrf_from, login, make_user
from web.accounts import Role

FORM = {
    "family_name": "Siregar",
    "given_name": "Rina",
    "dob": "1990-04-01",
    "kind": "v",
    "product": "EU/1/20/1528",
    "dose_number": "3",
    "series_doses": "2",
    "vaccinated_on": "2026-10-01",
}


async def test_issuer_staff_issue_from_the_form_and_get_a_readable_qr(client, db, settings) -> None:
    issuer, _ = await make_issuer(db, settings)
    staff = await make_user(db, Role.ISSUER, issuer_id=issuer.id)
    await login(client, staff.email)
    dashboard = await client.get("/dashboard")
    assert 'href="/certificates/issue"' in dashboard.text
    form = await client.get("/certificates/issue")
    assert form.status_code == 200 and issuer.name in form.text
    issued = await client.post(
        "/certificates/issue", data={**FORM, "csrf_token": csrf_from(form.text)}
    )
    assert issued.status_code == 201, issued.text
    data_uri = issued.text.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    image = Image.open(io.BytesIO(base64.b64decode(data_uri)))
    hc1 = zxingcpp.read_barcodes(image)[0].text
    assert hc1.startswith("HC1:") and hc1 in issued.text
    result = await verify_with_trust_list(db, hc1, START)
    assert result.valid and result.claims.dcc["v"][0]["dn"] == 3
    assert result.claims.dcc["nam"]["fnt"] == "SIREGAR"


async def test_a_bad_form_is_shown_again_with_the_reason(client, db, settings) -> None:
    issuer, _ = await make_issuer(db, settings)
    staff = await make_user(db, Role.ISSUER, issuer_id=issuer.id)
    await login(client, staff.email)
    form = await client.get("/certificates/issue")
    bad = {**FORM, "dose_number": "0", "csrf_token": csrf_from(form.text)}
    response = await client.post("/certificates/issue", data=bad)
    assert response.status_code == 422
    assert "#/v/0/dn" in response.text and 'role="alert"' in response.text


async def test_the_form_needs_issuer_staff_bound_to_an_issuer(client, db) -> None:
    unbound = await make_user(db, Role.ISSUER)
    await login(client, unbound.email)
    assert (await client.get("/certificates/issue")).status_code == 403
    client.cookies.clear()
    manager = await make_user(db, Role.VENUE_MANAGER)
    await login(client, manager.email)
    assert (await client.get("/certificates/issue")).status_code == 403
