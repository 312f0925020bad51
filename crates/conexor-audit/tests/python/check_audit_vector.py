#!/usr/bin/env python3
"""Independent checker of the Conexor audit test vector.

Reads crates/conexor-audit/tests/data/audit-vector.json and recomputes, from
the record fields alone, with nothing from the Rust implementation:

- each record's canonical JSON (RFC 8785, JCS) and
  hash = hex(sha256(prev_hash as ASCII || JCS(record without "hash")));
- the chain links (the first prev_hash is 64 "0", each next one the hash
  before it);
- the checkpoint's canonical JSON, and its Ed25519 signature (re-signed from
  the seed and checked against the public key) when the `cryptography`
  package is installed; without it that part is reported as skipped.

JCS here is `json.dumps(obj, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`. That equals RFC 8785 for these records because they
hold no floating-point numbers (JCS formats numbers like JavaScript) and
every member name is in the Basic Multilingual Plane below the surrogates
(JCS sorts names by UTF-16 code units, Python by code points); Python also
escapes control characters as lowercase \\u00xx with the short forms \\b \\t
\\n \\f \\r, as JCS does, and leaves "/" and non-ASCII text unescaped.

Exits 0 when everything matches, 1 on a mismatch, 2 when the file is
unusable. Usage: python3 check_audit_vector.py [path/to/audit-vector.json]
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

ZERO = "0" * 64


def jcs(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main():
    default = Path(__file__).resolve().parent.parent / "data" / "audit-vector.json"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    try:
        vector = json.loads(path.read_text(encoding="utf-8"))
        records = vector["records"]
        checkpoint = vector["checkpoint"]
    except (OSError, ValueError, KeyError) as e:
        print(f"unusable vector file {path}: {e}", file=sys.stderr)
        return 2

    failures = 0
    prev = ZERO
    for entry in records:
        record = dict(entry["record"])
        stated = record.pop("hash")
        canonical = jcs(record)
        if canonical != entry["jcs"]:
            print(f"seq {record['seq']}: jcs differs\n  python: {canonical}\n  vector: {entry['jcs']}")
            failures += 1
        digest = hashlib.sha256(record["prev_hash"].encode("ascii") + canonical.encode("utf-8")).hexdigest()
        if digest != stated:
            print(f"seq {record['seq']}: hash differs: python {digest}, vector {stated}")
            failures += 1
        if record["prev_hash"] != prev:
            print(f"seq {record['seq']}: prev_hash does not link to the record before it")
            failures += 1
        prev = stated

    cp = checkpoint["checkpoint"]
    if set(cp) != {"workspace", "seq", "hash", "ts"}:
        print("checkpoint must have exactly workspace, seq, hash, ts")
        failures += 1
    if cp["hash"] != prev or cp["seq"] != len(records):
        print("checkpoint does not sign the last record")
        failures += 1
    message = jcs(cp)
    if message != checkpoint["jcs"]:
        print(f"checkpoint jcs differs\n  python: {message}\n  vector: {checkpoint['jcs']}")
        failures += 1

    signed = "skipped (install the cryptography package)"
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    except ImportError:
        Ed25519PrivateKey = None
    if Ed25519PrivateKey is not None:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(checkpoint["seed_hex"]))
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        pubkey = "ed25519:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if pubkey != checkpoint["pubkey"]:
            print(f"public key differs: python {pubkey}, vector {checkpoint['pubkey']}")
            failures += 1
        if hashlib.sha256(raw).hexdigest()[:16] != checkpoint["key_id"]:
            print("key_id is not the first 16 hex characters of sha256(public key)")
            failures += 1
        sig = b64url_decode(checkpoint["sig"])
        if key.sign(message.encode("utf-8")) != sig:
            print("signature differs from python's (ed25519 is deterministic)")
            failures += 1
        try:
            key.public_key().verify(sig, message.encode("utf-8"))
        except Exception:  # noqa: BLE001 - any failure is a mismatch
            print("signature does not verify")
            failures += 1
        signed = "ok"

    if failures:
        print(f"{failures} mismatch(es) in {path}")
        return 1
    print(f"audit vector ok: {len(records)} records, chain, checkpoint jcs; signature {signed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
