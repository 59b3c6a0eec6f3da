"""Verifies one outbound delivery of Patchbay with the reference `standardwebhooks` package.

Reads {"secret", "headers", "body"} as JSON on stdin; exits 0 when the signature verifies,
1 (with the library's error) when it does not. Used by tests/tests/e2e/webhooks.rs.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

def main() -> int:
    data = json.load(sys.stdin)
    try:
        Webhook(data["secret"]).verify(data["body"], data["headers"])
    except Exception as e:  # the library raises WebhookVerificationError
        print(f"refused: {e!r}")
        return 1
    print("verified")
    return 0

if __name__ == "__main__":
    sys.exit(main())
