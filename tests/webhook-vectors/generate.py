#!/usr/bin/env python3
"""Writes vectors.json: signed inbound webhook requests for the connectors in ../../connectors.

Signatures come from each vendor's own SDK where it has a signing helper (Stripe, Slack, Standard
Webhooks, Twilio, HubSpot), else from the vendor's documented algorithm with Python's hmac (GitHub,
Shopify, Zendesk, Intercom, Linear). Payloads follow the vendors' documented examples. Everything
is fixed (signing time 2026-01-01T00:00:00Z), so the output is reproducible.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install -r requirements.txt
    /tmp/venv/bin/python generate.py

Each vector: connector, sdk, secret, method, url, headers, body (the exact raw body), now_ms (the
signing time), expect_event_id (the first event's vendor id), expect_types (the unified event types
the manifest's mapping gives, in order); optionally expect_event_ids (every event of a batch),
expect_account_key (what `webhooks.account.key` yields), expect_handshake (the answer body).
"""

import base64
import hashlib
import hmac
import json
import os
from datetime import datetime, timezone
from importlib.metadata import version
from urllib.parse import urlencode

import hubspot.utils.signature
import slack_sdk.signature
import standardwebhooks
import stripe
import twilio.request_validator

NOW_S = 1767225600  # 2026-01-01T00:00:00Z
NOW_MS = NOW_S * 1000
NOW_ISO = "2026-01-01T00:00:00Z"
HERE = os.path.dirname(os.path.abspath(__file__))
DOCUMENTED = "documented algorithm"


def url(connector):
    return f"https://patchbay.example.com/webhooks/{connector}"


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sdk(package):
    return f"{package}=={version(package)}"


def hmac_hex(algo, key, msg):
    return hmac.new(key.encode(), msg.encode(), algo).hexdigest()


def hmac_b64(algo, key, msg):
    return base64.b64encode(hmac.new(key.encode(), msg.encode(), algo).digest()).decode()


vectors = []

# ------------------------------------------------------------------------------------------ HubSpot
# v3: base64 HMAC-SHA256(client secret, METHOD + URI + body + timestamp-ms), a batch of events.
secret = "d4c3b2a1-0f9e-4d8c-b7a6-5e4d3c2b1a09"
body = compact([
    {"eventId": 1001, "subscriptionId": 2718281, "portalId": 62515, "appId": 54321,
     "occurredAt": NOW_MS - 2500, "subscriptionType": "contact.creation", "attemptNumber": 0,
     "objectId": 123, "changeSource": "CRM", "changeFlag": "NEW"},
    {"eventId": 1002, "subscriptionId": 3141592, "portalId": 62515, "appId": 54321,
     "occurredAt": NOW_MS - 1500, "subscriptionType": "company.propertyChange", "attemptNumber": 0,
     "objectId": 456, "propertyName": "industry", "propertyValue": "COMPUTER_SOFTWARE",
     "changeSource": "CRM"},
])
signature = hubspot.utils.signature.Signature.get_signature(
    client_secret=secret, request_body=body, signature_version="v3",
    http_uri=url("hubspot"), http_method="POST", timestamp=str(NOW_MS))
vectors.append({
    "connector": "hubspot", "sdk": sdk("hubspot-api-client"), "secret": secret,
    "method": "POST", "url": url("hubspot"),
    "headers": {"Content-Type": "application/json", "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
                "X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": str(NOW_MS)},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": "1001", "expect_event_ids": ["1001", "1002"],
    "expect_types": ["crm.contact.created", "crm.company.updated"],
    "expect_account_key": "62515",
})

# ------------------------------------------------------------------------------------------- Stripe
# `Stripe-Signature: t=<s>,v1=<hex HMAC-SHA256(whsec_… bytes, "<t>.<body>")>`; Stripe sends indented JSON.
secret = "whsec_3b8c1f0e6a2d4e9f8b7c6d5e4f3a2b1c"
event = {
    "id": "evt_1QkX2vLkdIwHu7ixGxYzAbCd",
    "object": "event",
    "account": "acct_1Pq2Rs3Tu4Vw5Xy6",
    "api_version": "2025-12-15.clover",
    "created": NOW_S - 2,
    "data": {"object": {
        "id": "cus_RdMh8fJ2kLmNoP", "object": "customer", "address": None, "balance": 0,
        "created": NOW_S - 2, "currency": None, "default_source": None, "delinquent": False,
        "description": None, "email": "jenny.rosen@example.com", "invoice_prefix": "7D2A1C3B",
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "livemode": False, "metadata": {}, "name": "Jenny Rosen", "phone": "+14155550123",
        "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None}},
    "livemode": False,
    "pending_webhooks": 1,
    "request": {"id": "req_8xYzAbCdEfGhIj", "idempotency_key": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"},
    "type": "customer.created",
}
body = json.dumps(event, indent=2)
header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=NOW_S)
vectors.append({
    "connector": "stripe", "sdk": sdk("stripe"), "secret": secret,
    "method": "POST", "url": url("stripe"),
    "headers": {"Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)", "Stripe-Signature": header},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": event["id"], "expect_types": ["stripe.customer.created"],
    "expect_account_key": event["account"],
})

# ------------------------------------------------------------------------------------------- GitHub
# `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` (and legacy sha1 `X-Hub-Signature`).
secret = "gh-webhook-secret-7c1e"
user = {"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": False,
        "html_url": "https://github.com/octocat"}
body = compact({
    "action": "opened",
    "issue": {
        "url": "https://api.github.com/repos/octocat/Hello-World/issues/1347",
        "html_url": "https://github.com/octocat/Hello-World/issues/1347",
        "id": 1, "node_id": "MDU6SXNzdWUx", "number": 1347, "title": "Found a bug",
        "user": user, "labels": [{"id": 208045946, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=", "name": "bug",
                                  "color": "f29513", "default": True, "description": "Something isn't working"}],
        "state": "open", "locked": False, "assignee": user, "assignees": [user], "milestone": None,
        "comments": 0, "created_at": NOW_ISO, "updated_at": NOW_ISO, "closed_at": None,
        "author_association": "OWNER", "body": "I'm having a problem with this.", "reactions": {"total_count": 0}},
    "repository": {"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "Hello-World",
                   "full_name": "octocat/Hello-World", "private": False, "owner": user,
                   "html_url": "https://github.com/octocat/Hello-World"},
    "sender": user,
})
vectors.append({
    "connector": "github", "sdk": DOCUMENTED, "secret": secret,
    "method": "POST", "url": url("github"),
    "headers": {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/044aadd",
                "X-GitHub-Event": "issues", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                "X-GitHub-Hook-ID": "292430182",
                "X-GitHub-Hook-Installation-Target-ID": "1296269",
                "X-GitHub-Hook-Installation-Target-Type": "repository",
                "X-Hub-Signature": "sha1=" + hmac_hex(hashlib.sha1, secret, body),
                "X-Hub-Signature-256": "sha256=" + hmac_hex(hashlib.sha256, secret, body)},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "expect_types": ["ticketing.ticket.created"],
})

# -------------------------------------------------------------------------------------------- Slack
# `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<ts>:<body>")>`.
secret = "8f742231b10e8888abcd99yyyzzz85a5"
verifier = slack_sdk.signature.SignatureVerifier(secret)
body = compact({
    "token": "XXYYZZ", "team_id": "T0001", "context_team_id": "T0001", "api_app_id": "A0KRD7HC3",
    "event": {"type": "message", "channel": "C2147483705", "user": "U2147483697",
              "text": "Hello world", "ts": "1767225598.000200", "event_ts": "1767225598.000200",
              "channel_type": "channel"},
    "type": "event_callback",
    "authorizations": [{"enterprise_id": None, "team_id": "T0001", "user_id": "U0KRQLJ9H",
                        "is_bot": True, "is_enterprise_install": False}],
    "event_id": "Ev0PV52K21", "event_time": NOW_S - 2,
    "event_context": "4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMDAwMSJ9",
})
vectors.append({
    "connector": "slack", "sdk": sdk("slack-sdk"), "secret": secret,
    "method": "POST", "url": url("slack"),
    "headers": {"Content-Type": "application/json", "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
                "X-Slack-Request-Timestamp": str(NOW_S),
                "X-Slack-Signature": verifier.generate_signature(timestamp=str(NOW_S), body=body)},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": "Ev0PV52K21", "expect_types": ["slack.message.created"],
    "expect_account_key": "T0001",
})
challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
body = compact({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"})
vectors.append({
    "connector": "slack", "sdk": sdk("slack-sdk"), "secret": secret,
    "method": "POST", "url": url("slack"),
    "headers": {"Content-Type": "application/json", "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
                "X-Slack-Request-Timestamp": str(NOW_S),
                "X-Slack-Signature": verifier.generate_signature(timestamp=str(NOW_S), body=body)},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": None, "expect_types": [], "expect_handshake": challenge,
})

# ------------------------------------------------------------------------------------------ Shopify
# `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(app client secret, body)>`.
secret = "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"
body = compact({
    "id": 820982911946154508, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
    "name": "#9999", "email": "jon@example.com", "created_at": "2025-12-31T19:00:00-05:00",
    "updated_at": "2025-12-31T19:00:00-05:00", "currency": "USD", "financial_status": "voided",
    "total_price": "403.00", "subtotal_price": "393.00", "total_tax": "0.00", "test": True,
    "line_items": [{"id": 866550311766439020, "title": "Aviator sunglasses", "quantity": 1, "price": "199.00",
                    "sku": "SKU2006-001", "product_id": 788032119674292922}],
    "customer": {"id": 115310627314723954, "email": "john@example.com", "first_name": "John", "last_name": "Smith"},
})
vectors.append({
    "connector": "shopify", "sdk": DOCUMENTED, "secret": secret,
    "method": "POST", "url": url("shopify"),
    "headers": {"Content-Type": "application/json", "User-Agent": "Shopify-Captain-Hook",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Hmac-Sha256": hmac_b64(hashlib.sha256, secret, body),
                "X-Shopify-Shop-Domain": "example.myshopify.com",
                "X-Shopify-API-Version": "2025-10",
                "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
                "X-Shopify-Triggered-At": "2025-12-31T23:59:58.123456789Z"},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": "98880550-7158-44d4-b7cd-2c97c8a091b5", "expect_types": ["shopify.order.created"],
    "expect_account_key": "example.myshopify.com",
})

# ------------------------------------------------------------------------------------------ Zendesk
# base64 HMAC-SHA256(signing secret as is, timestamp + body); timestamp header ISO 8601.
secret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="  # Zendesk's documented test-webhook secret
body = compact({
    "type": "zen:event-type:ticket.created", "account_id": 12514403,
    "id": "0d2f1e8a-3b4c-4d5e-8f90-a1b2c3d4e5f6", "time": "2025-12-31T23:59:58Z",
    "zendesk_event_version": "2022-11-06", "subject": "zen:ticket:35436",
    "detail": {"actor_id": "20978392", "assignee_id": "235323", "brand_id": "123",
               "created_at": "2025-12-31T23:59:58Z", "custom_status": "1", "description": "The printer is on fire.",
               "external_id": "", "form_id": "6876543", "group_id": "98738", "id": "35436", "is_public": True,
               "organization_id": "10002", "priority": "HIGH", "requester_id": "20978392", "status": "OPEN",
               "subject": "Printer on fire", "submitter_id": "20978392", "tags": ["enterprise", "printer"],
               "type": "INCIDENT", "updated_at": "2025-12-31T23:59:58Z", "via": {"channel": "web_service"}},
    "event": {"meta": {"sequence": {"id": "CE4A698AF24F35B3208649C6951E000E", "position": 1, "total": 1}}},
})
vectors.append({
    "connector": "zendesk", "sdk": DOCUMENTED, "secret": secret,
    "method": "POST", "url": url("zendesk"),
    "headers": {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Zendesk Webhook",
                "X-Zendesk-Account-Id": "12514403",
                "X-Zendesk-Webhook-Id": "01F1KRFQ6BG29CNWFR60NK5FNY",
                "X-Zendesk-Webhook-Invocation-Id": "8350205582",
                "X-Zendesk-Webhook-Signature": hmac_b64(hashlib.sha256, secret, NOW_ISO + body),
                "X-Zendesk-Webhook-Signature-Timestamp": NOW_ISO},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": "0d2f1e8a-3b4c-4d5e-8f90-a1b2c3d4e5f6", "expect_types": ["ticketing.ticket.created"],
})

# ----------------------------------------------------------------------------------------- Intercom
# `X-Hub-Signature: sha1=<hex HMAC-SHA1(app client secret, body)>`.
secret = "ic-client-secret-0b1c2d3e4f"
body = compact({
    "type": "notification_event", "app_id": "abc12def",
    "data": {"type": "notification_event_data", "item": {
        "type": "contact", "id": "6762f0a41bb69f9f2193bc1c", "workspace_id": "abc12def",
        "external_id": "u-1001", "role": "user", "email": "ada@example.com", "phone": "+15555550100",
        "name": "Ada Lovelace", "created_at": NOW_S - 3, "updated_at": NOW_S - 3, "signed_up_at": None,
        "last_seen_at": None}},
    "links": {}, "id": "notif_4e3504a3-ba3f-46dc-ab48-8e4d5bdfdf4e", "topic": "contact.user.created",
    "delivery_status": "pending", "delivery_attempts": 1, "delivered_at": 0,
    "first_sent_at": NOW_S, "created_at": NOW_S - 1, "self": None,
})
vectors.append({
    "connector": "intercom", "sdk": DOCUMENTED, "secret": secret,
    "method": "POST", "url": url("intercom"),
    "headers": {"Content-Type": "application/json", "User-Agent": "intercom-parrot-service-client/1.0",
                "X-Hub-Signature": "sha1=" + hmac_hex(hashlib.sha1, secret, body)},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": "notif_4e3504a3-ba3f-46dc-ab48-8e4d5bdfdf4e", "expect_types": ["crm.contact.created"],
    "expect_account_key": "abc12def",
})

# ------------------------------------------------------------------------------------------- Twilio
# base64 HMAC-SHA1(auth token, URL + each form field name+value sorted by name), form-encoded SMS.
secret = "12345a6789b0c1d2e3f4a5b6c7d8e9f0"
params = [
    ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", "SM1f0e8b2a7c6d5e4f3a2b1c0d9e8f7a6b"),
    ("NumMedia", "0"), ("ToCity", "SAN FRANCISCO"), ("FromZip", "94105"),
    ("SmsSid", "SM1f0e8b2a7c6d5e4f3a2b1c0d9e8f7a6b"), ("FromState", "CA"), ("SmsStatus", "received"),
    ("FromCity", "SAN FRANCISCO"), ("Body", "Hello from Twilio! & more"), ("FromCountry", "US"),
    ("To", "+14155550100"), ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"), ("ToZip", "94107"),
    ("NumSegments", "1"), ("MessageSid", "SM1f0e8b2a7c6d5e4f3a2b1c0d9e8f7a6b"),
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"), ("From", "+14155550199"), ("ApiVersion", "2010-04-01"),
]
body = urlencode(params)
signature = twilio.request_validator.RequestValidator(secret).compute_signature(url("twilio"), dict(params))
vectors.append({
    "connector": "twilio", "sdk": sdk("twilio"), "secret": secret,
    "method": "POST", "url": url("twilio"),
    "headers": {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1",
                "I-Twilio-Idempotency-Token": "5f9a2c1e-8b7d-4e6f-a3c2-1d0e9f8a7b6c",
                "X-Twilio-Signature": signature},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": "SM1f0e8b2a7c6d5e4f3a2b1c0d9e8f7a6b", "expect_types": ["twilio.message.received"],
    "expect_account_key": "AC0123456789abcdef0123456789abcdef",
})

# ------------------------------------------------------------------------------------------- Linear
# `Linear-Signature: <hex HMAC-SHA256(signing secret, body)>`; `webhookTimestamp` (ms) in the body.
secret = "lin_wh_9d8c7b6a5f4e3d2c1b0a"
body = compact({
    "action": "create", "type": "Issue",
    "actor": {"id": "2e3a4b5c-6d7e-4f80-9a1b-2c3d4e5f6a7b", "type": "user", "name": "Ada Lovelace",
              "email": "ada@example.com", "url": "https://linear.app/acme/profiles/ada"},
    "createdAt": "2025-12-31T23:59:59.000Z",
    "data": {"id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f", "createdAt": "2025-12-31T23:59:59.000Z",
             "updatedAt": "2025-12-31T23:59:59.000Z", "number": 42, "identifier": "ENG-42",
             "title": "Checkout fails on Safari", "description": "Steps to reproduce: …", "priority": 2,
             "priorityLabel": "High", "url": "https://linear.app/acme/issue/ENG-42/checkout-fails-on-safari",
             "teamId": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
             "team": {"id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", "key": "ENG", "name": "Engineering"},
             "stateId": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
             "state": {"id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", "color": "#e2e2e2", "name": "Todo",
                       "type": "unstarted"},
             "assigneeId": "2e3a4b5c-6d7e-4f80-9a1b-2c3d4e5f6a7b",
             "assignee": {"id": "2e3a4b5c-6d7e-4f80-9a1b-2c3d4e5f6a7b", "name": "Ada Lovelace"},
             "labelIds": ["7f8e9d0c-1b2a-4c3d-9e4f-5a6b7c8d9e0f"],
             "labels": [{"id": "7f8e9d0c-1b2a-4c3d-9e4f-5a6b7c8d9e0f", "color": "#eb5757", "name": "Bug"}],
             "completedAt": None, "canceledAt": None},
    "url": "https://linear.app/acme/issue/ENG-42/checkout-fails-on-safari",
    "organizationId": "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
    "webhookTimestamp": NOW_MS, "webhookId": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
})
vectors.append({
    "connector": "linear", "sdk": DOCUMENTED, "secret": secret,
    "method": "POST", "url": url("linear"),
    "headers": {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Linear-Webhook",
                "Linear-Delivery": "234d1a4e-b617-4388-90fe-adc3633d6b72", "Linear-Event": "Issue",
                "Linear-Signature": hmac_hex(hashlib.sha256, secret, body)},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": "234d1a4e-b617-4388-90fe-adc3633d6b72", "expect_types": ["ticketing.ticket.created"],
})

# -------------------------------------------------------------------------------- Standard Webhooks
# `webhook-signature: v1,<base64 HMAC-SHA256(base64-decoded whsec_ secret, "<id>.<ts>.<body>")>`.
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
msg_id = "msg_2b9aS8tTQLdR6v1mP0xVYwZkE3q"
body = compact({"type": "contact.created", "timestamp": "2025-12-31T23:59:59.123456Z",
                "data": {"id": "ct_01HZX5Q8Y2", "email": "test@example.com", "username": "test_user"}})
signature = standardwebhooks.Webhook(secret).sign(msg_id, datetime.fromtimestamp(NOW_S, tz=timezone.utc), body)
vectors.append({
    "connector": "standard-webhooks", "sdk": sdk("standardwebhooks"), "secret": secret,
    "method": "POST", "url": url("standard-webhooks"),
    "headers": {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(NOW_S),
                "webhook-signature": signature},
    "body": body, "now_ms": NOW_MS,
    "expect_event_id": msg_id, "expect_types": ["webhook.event.received"],
})

with open(os.path.join(HERE, "vectors.json"), "w") as f:
    json.dump(vectors, f, indent=2, ensure_ascii=False)
    f.write("\n")
print(f"wrote {len(vectors)} vectors")
