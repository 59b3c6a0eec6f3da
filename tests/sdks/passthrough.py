"""Vendors' official SDKs pointed at Patchbay's passthrough route.

Run by the end-to-end test `passthrough::official_sdks_work_through_the_passthrough_route`
with a JSON object on stdin: the host URL, a Patchbay API token (the SDKs send it as their own
key; the host replaces it with the account's credentials) and the account ids. The phase
(argv[1]) says which SDK and what the vendor simulation was told to do. Prints one JSON object
of what the SDK saw; any assertion failure exits non-zero.
"""

import json
import sys


def stripe_calls(cfg):
    import stripe

    client = stripe.StripeClient(
        cfg["token"],
        base_addresses={"api": f"{cfg['host']}/passthrough/{cfg['stripe_account']}"},
        max_network_retries=0,
    )
    created = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada Lovelace", "metadata": {"plan": "pro"}},
        options={"idempotency_key": "sdk-idem-1"},
    )
    assert created.id.startswith("cus_"), created
    assert created.metadata["plan"] == "pro", created
    again = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada Lovelace"},
        options={"idempotency_key": "sdk-idem-1"},
    )
    assert again.id == created.id, (again.id, created.id)
    page = client.v1.customers.list(params={"limit": 2})
    assert len(page.data) == 2 and page.has_more, page
    every = [c.id for c in page.auto_paging_iter()]
    got = client.v1.customers.retrieve(created.id)
    assert got.email == "ada@example.com", got
    try:
        client.v1.customers.retrieve("cus_missing")
        raise AssertionError("a missing customer must raise")
    except stripe.InvalidRequestError as e:
        missing = {"status": e.http_status, "code": e.code}
    return {"created": created.id, "listed": every, "missing": missing}


def stripe_throttled(cfg):
    import stripe

    client = stripe.StripeClient(
        cfg["token"],
        base_addresses={"api": f"{cfg['host']}/passthrough/{cfg['stripe_account']}"},
        max_network_retries=0,
    )
    try:
        client.v1.customers.list()
        raise AssertionError("a throttled list must raise")
    except stripe.RateLimitError as e:
        # The SDK builds RateLimitError without `code`; the vendor's body is still there.
        body = e.json_body or {}
        code = (body.get("error") or {}).get("code")
        return {"status": e.http_status, "code": code, "headers": dict(e.headers or {})}


def hubspot_calls(cfg):
    from hubspot import HubSpot
    from hubspot.crm.contacts import ApiException, SimplePublicObjectInputForCreate

    client = HubSpot(access_token=cfg["token"], host=f"{cfg['host']}/passthrough/{cfg['hubspot_account']}")
    contacts = client.crm.contacts
    first = contacts.basic_api.get_page(limit=2)
    assert len(first.results) == 2 and first.paging.next.after, first
    every = contacts.get_all()
    created = contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "grace@example.com", "firstname": "Grace"})
    )
    got = contacts.basic_api.get_by_id(created.id, properties=["email", "firstname"])
    assert got.properties["email"] == "grace@example.com", got
    try:
        contacts.basic_api.get_by_id("999999999")
        raise AssertionError("a missing contact must raise")
    except ApiException as e:
        missing = e.status
    return {"listed": len(every), "created": created.id, "missing": missing}


PHASES = {"stripe": stripe_calls, "stripe-throttled": stripe_throttled, "hubspot": hubspot_calls}

if __name__ == "__main__":
    print(json.dumps(PHASES[sys.argv[1]](json.load(sys.stdin))))
