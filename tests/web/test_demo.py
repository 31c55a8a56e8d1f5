"""The demo data of `singgah serve --demo`: every role can be tried at once."""

from certificates.issuers import find_issuer, issue_certificate
from tests.certificates.support import issuing_request, pcr_entry
from tests.factories import START
from web.accounts import Role, find_user_by_email
from web.demo import DEMO_ACCOUNTS, seed_demo_accounts
from web.routes_certificates import sealing_key


async def test_the_demo_issuer_account_acts_for_a_lab_that_can_sign(db, settings) -> None:
    credentials = await seed_demo_accounts(db, START, settings)
    assert credentials is not None
    [email] = [email for email, role, _, _ in DEMO_ACCOUNTS if role is Role.ISSUER]
    account = await find_user_by_email(db, email)
    assert account is not None and account.issuer_id is not None
    lab = await find_issuer(db, account.issuer_id)
    issued = await issue_certificate(
        db, lab, issuing_request(pcr_entry()), now=START, sealing_key=sealing_key(settings)
    )
    assert issued.hc1.startswith("HC1:")


async def test_demo_accounts_are_made_once(db, settings) -> None:
    assert await seed_demo_accounts(db, START, settings) is not None
    assert await seed_demo_accounts(db, START, settings) is None
