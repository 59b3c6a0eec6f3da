"""Seeds a live host for scripts/schemathesis.sh and prints the objects' ids as shell assignments.

Waits for the host ($PATCHBAY_URL) and the mock vendors, then creates, with $PATCHBAY_ADMIN_TOKEN:
a HubSpot, a GitHub and a Linear account on the mocks (and a HubSpot contact's id), a spare HubSpot account (for the cases that change or
delete one), a webhook endpoint on the mock receiver, HubSpot's webhook secret, and one inbound
webhook signed as HubSpot v3 signs.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

URL = os.environ["PATCHBAY_URL"]
TOKEN = os.environ["PATCHBAY_ADMIN_TOKEN"]
SECRET = "schemathesis-hubspot-client-secret"


def call(method, path, body=None, headers=None, token=True):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {TOKEN}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        sys.exit(f"seed.py: {method} {path}: {e.code} {e.read().decode(errors='replace')}")


def wait(url):
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"seed.py: {url} did not answer")


def account(connector, base_url, credentials, context=None):
    body = {"connector": connector, "tenant_id": "acme", "credentials": credentials,
            "base_url": base_url, "context": context or {}}
    a = call("POST", "/integrated-accounts", body)
    if a["status"] != "active":
        sys.exit(f"seed.py: the {connector} account is {a['status']}: {a['status_detail']}")
    return a["id"]


wait(URL + "/healthz")
wait("http://127.0.0.1:9101/")
wait("http://127.0.0.1:9102/")
hubspot = account("hubspot", "http://127.0.0.1:9101", {"access_token": "demo-token"})
github = account("github", "http://127.0.0.1:9102", {"access_token": "demo-token"},
                 {"owner": "octo", "repo": "hello"})
linear = account("linear", "http://127.0.0.1:9104", {"api_key": "demo-token"})
contact = call("GET", f"/proxy/contacts?integrated_account_id={hubspot}&limit=1")["result"][0]["id"]
spare = account("hubspot", "http://127.0.0.1:9101", {"access_token": "demo-token"})
endpoint = call("POST", "/webhook-endpoints",
                {"url": "http://127.0.0.1:9105/hook", "tenant_id": "acme", "description": "schemathesis"})["id"]
call("PUT", "/connectors/hubspot/webhook-secret", {"secret": SECRET})
hook = URL + "/webhooks/hubspot"
payload = json.dumps([{"eventId": 1001, "subscriptionId": 1, "portalId": 62515, "appId": 1,
                       "occurredAt": 1767225600000, "subscriptionType": "contact.creation",
                       "attemptNumber": 0, "objectId": 123}]).encode()
ts = str(int(time.time() * 1000))
signature = base64.b64encode(hmac.new(SECRET.encode(), b"POST" + hook.encode() + payload + ts.encode(),
                                      hashlib.sha256).digest()).decode()
inbound = call("POST", "/webhooks/hubspot", payload, token=False,
               headers={"x-hubspot-request-timestamp": ts, "x-hubspot-signature-v3": signature})["id"]
for name, value in [("ACCOUNT_HUBSPOT", hubspot), ("ACCOUNT_GITHUB", github), ("ACCOUNT_SPARE", spare),
                    ("ACCOUNT_LINEAR", linear), ("CONTACT", contact),
                    ("ENDPOINT", endpoint), ("INBOUND", inbound)]:
    print(f"{name}={value}")
