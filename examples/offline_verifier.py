#!/usr/bin/env python3
"""A service that verifies doorman's access tokens offline, with revocation.

Given only the issuer URL it reads discovery, verifies signatures with PyJWT's
PyJWKClient (which fetches the JWKS again when a token names an unknown kid) and polls
the revocation feed; then it verifies each token read on stdin (one a line) and prints
`valid <sub>` or `invalid <reason>`.

    python3 -m venv .venv && .venv/bin/pip install 'PyJWT[crypto]>=2.10' 'requests>=2.32'
    DOORMAN_REVOCATION_POLL=5s .venv/bin/python examples/offline_verifier.py \\
        http://127.0.0.1:8080 doorman

Arguments: the issuer, and the audience (default `doorman`). DOORMAN_REVOCATION_POLL
(`500ms`, `5s`, `1m`; default: the feed's Cache-Control max-age) sets how often the feed
is polled. A revoked session's tokens are refused within one poll; if the feed has not
answered for three polls (and at least 30 s), every token is refused (`feed_stale`) rather
than trusted.
"""

import os
import re
import sys
import threading
import time
from datetime import datetime, timezone

import jwt
import requests

LEEWAY_SECS = 30  # doorman's feed keeps an entry until exp + 30 s
FEED_PAGE = 200  # a full page means more is waiting
STALE_AFTER = 30  # no answer from the feed for three polls and this long: refuse every token


def parse_duration(raw):
    match = re.fullmatch(r"(\d+)(ms|s|m)?", raw.strip())
    if not match:
        raise ValueError(f"not a duration: {raw}")
    n, unit = int(match[1]), match[2] or "s"
    return n / 1000 if unit == "ms" else n * 60 if unit == "m" else n


def max_age(response):
    match = re.search(r"max-age=(\d+)", response.headers.get("Cache-Control", ""))
    return int(match[1]) if match else None


class Verifier:
    def __init__(self, issuer, audience, poll=None):
        self.http = requests.Session()
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        discovery = self.http.get(url, timeout=10)
        discovery.raise_for_status()
        self.discovery = discovery.json()
        if self.discovery["issuer"] != issuer.rstrip("/"):
            raise ValueError(f"{url} names the issuer {self.discovery['issuer']}")
        self.audience = audience
        self.keys = jwt.PyJWKClient(self.discovery["jwks_uri"], cache_keys=True)
        self.revoked = {}  # sid -> when its tokens have all expired
        self.cursor = None
        self.etag = None
        self.fresh_at = None
        self.lock = threading.Lock()
        first = self.poll_feed()
        self.poll = poll or max_age(first) or 5
        threading.Thread(target=self.keep_polling, daemon=True).start()

    def keep_polling(self):
        while True:
            time.sleep(self.poll)
            try:
                self.poll_feed()
            except requests.RequestException as err:
                print(f"revocation feed: {err}", file=sys.stderr)

    def poll_feed(self):
        """Reads the feed from the cursor until a page is not full; returns the last answer."""
        while True:
            headers = {"If-None-Match": self.etag} if self.etag else {}
            params = {"after": self.cursor} if self.cursor else {}
            response = self.http.get(
                self.discovery["revocations_endpoint"], params=params, headers=headers, timeout=10
            )
            if response.status_code == 304:
                self.fresh_at = time.monotonic()
                return response
            response.raise_for_status()
            page = response.json()
            now = datetime.now(timezone.utc)
            with self.lock:
                # The feed repeats revocations that are still settling: a dict makes that harmless.
                for entry in page["items"]:
                    self.revoked[entry["sid"]] = datetime.fromisoformat(entry["expires_at"])
                self.revoked = {sid: exp for sid, exp in self.revoked.items() if exp > now}
                moved = page["next"] != self.cursor
                self.cursor, self.etag = page["next"], None if moved else response.headers.get("ETag")
                self.fresh_at = time.monotonic()
            if len(page["items"]) < FEED_PAGE:
                return response

    def verify(self, token):
        """The token's sub if it is a live access token of this issuer for this audience."""
        try:
            key = self.keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError:
            return None, "unknown_key"  # refresh tokens land here: their key is never published
        except jwt.DecodeError:
            return None, "malformed"
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],  # from the published key, never the token
                audience=self.audience,
                issuer=self.discovery["issuer"],
                leeway=LEEWAY_SECS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            return None, "expired"
        except jwt.InvalidIssuerError:
            return None, "wrong_issuer"
        except jwt.InvalidAudienceError:
            return None, "wrong_audience"
        except jwt.InvalidTokenError:
            return None, "bad_token"
        if claims.get("typ") != "access":
            return None, "not_an_access_token"
        with self.lock:
            if self.fresh_at is None or time.monotonic() - self.fresh_at > max(3 * self.poll, STALE_AFTER):
                return None, "feed_stale"
            if claims.get("sid") in self.revoked:
                return None, "revoked"
        return claims["sub"], None


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: offline_verifier.py ISSUER_URL [AUDIENCE] < tokens")
    issuer = sys.argv[1]
    audience = sys.argv[2] if len(sys.argv) > 2 else "doorman"
    raw_poll = os.environ.get("DOORMAN_REVOCATION_POLL")
    poll = parse_duration(raw_poll) if raw_poll else None
    verifier = Verifier(issuer, audience, poll)
    for line in sys.stdin:
        token = line.strip()
        if token:
            sub, reason = verifier.verify(token)
            print(f"valid {sub}" if sub else f"invalid {reason}", flush=True)


if __name__ == "__main__":
    main()
