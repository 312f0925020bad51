#!/usr/bin/env python3
"""Independent checker of the Conexor format-v1 test vectors.

Reads tests/data/format-v1-vectors.json and recomputes every positive vector
from its inputs with the Python `cryptography` package and `hashlib` (it
reuses nothing from the Rust implementation but the expected values in the
file), then checks that every negative vector fails with the stated error
kind. Prints a summary; exits 1 on any mismatch, 2 if the file is unusable.

It does not generate vectors and does not talk to a server. The rules it
implements are those of docs/format-v1.md, written out again here on purpose.

Usage: python3 tests/python/check_format_v1.py [path/to/vectors.json]
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

MIN_KDF_ITERATIONS = 600_000
MAX_KDF_ITERATIONS = 10_000_000
B64U_RE = re.compile(r"[A-Za-z0-9_-]*")
BASE62_RE = re.compile(r"[0-9A-Za-z]*")


class FormatError(Exception):
    """A rejected input; `kind` matches the vectors' `error` values."""

    def __init__(self, kind, why):
        super().__init__(f"{kind}: {why}")
        self.kind = kind


# ------------------------------------------------------------------ encoding


def b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64u_decode_strict(text):
    """Canonical unpadded base64url, or None."""
    if not isinstance(text, str) or not B64U_RE.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # one spelling per value: rejects non-zero unused trailing bits
    if b64u_encode(data) != text:
        return None
    return data


# ----------------------------------------------------------------- format v1


def parse_api_key(text: str):
    """cxk_ + 12 base62 + '_' + 43 chars of canonical base64url (32 bytes), by position."""
    if not text.startswith("cxk_"):
        raise FormatError("malformed_key", "missing prefix")
    if not text.isascii():
        raise FormatError("malformed_key", "non-ascii")
    if len(text) != 4 + 12 + 1 + 43:
        raise FormatError("malformed_key", "wrong length")
    key_id, sep, secret_text = text[4:16], text[16], text[17:]
    if not BASE62_RE.fullmatch(key_id):
        raise FormatError("malformed_key", "key id not base62")
    if sep != "_":
        raise FormatError("malformed_key", "missing separator")
    secret = b64u_decode_strict(secret_text)
    if secret is None or len(secret) != 32:
        raise FormatError("malformed_key", "secret not canonical base64url of 32 bytes")
    return key_id, secret


def api_key_text(key_id: str, secret: bytes) -> str:
    return f"cxk_{key_id}_{b64u_encode(secret)}"


def auth_hash(auth_salt: bytes, secret: bytes) -> bytes:
    return hashlib.sha256(b"conexor/auth/v1" + auth_salt + secret).digest()


def derive_kek(secret: bytes, kdf_salt: bytes, iterations: int) -> bytes:
    if iterations < MIN_KDF_ITERATIONS:
        raise FormatError("weak_kdf", str(iterations))
    if iterations > MAX_KDF_ITERATIONS:
        raise FormatError("excessive_kdf", str(iterations))
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=kdf_salt, iterations=iterations)
    return kdf.derive(secret)


def wrap_aad(key_id):
    return f"conexor/wrap/v1/{key_id}"


def secret_aad(ws, sec):
    return f"conexor/secret/v1/{ws}/{sec}"


def dek_aad(ws, sec):
    return f"conexor/dek/v1/{ws}/{sec}"


def seal(key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> dict:
    ct = AESGCM(key).encrypt(nonce, plaintext, aad)  # ciphertext || 16-byte tag
    return {"v": 1, "alg": "A256GCM", "nonce": b64u_encode(nonce), "ct": b64u_encode(ct)}


def open_envelope(key: bytes, aad: bytes, env) -> bytes:
    if not isinstance(env, dict) or set(env) != {"v", "alg", "nonce", "ct"}:
        raise FormatError("envelope", "not an object with exactly v, alg, nonce, ct")
    v = env["v"]
    if not isinstance(v, int) or isinstance(v, bool) or v != 1:
        raise FormatError("envelope", "version")
    if env["alg"] != "A256GCM":
        raise FormatError("envelope", "alg")
    nonce = b64u_decode_strict(env["nonce"])
    if nonce is None or len(nonce) != 12:
        raise FormatError("envelope", "nonce")
    ct = b64u_decode_strict(env["ct"])
    if ct is None or len(ct) < 16:
        raise FormatError("envelope", "ct")
    try:
        return AESGCM(key).decrypt(nonce, ct, aad)
    except InvalidTag:
        raise FormatError("decrypt", "authentication failed") from None


def open_key(key: bytes, aad: bytes, env) -> bytes:
    plain = open_envelope(key, aad, env)
    if len(plain) != 32:
        raise FormatError("envelope", "wrapped key not 32 bytes")
    return plain


def unwrap_wmk(kek, env, key_id):
    return open_key(kek, wrap_aad(key_id).encode(), env)


def verify_wmk_check(wmk, env) -> bool:
    try:
        plain = open_envelope(wmk, b"", env)
    except FormatError:
        return False
    return hmac.compare_digest(plain, b"conexor/check/v1")


def open_secret(wmk, ws, sec, sealed) -> bytes:
    if not isinstance(sealed, dict) or set(sealed) != {"value", "dek"}:
        raise FormatError("envelope", "sealed secret must have exactly value and dek")
    dek = open_key(wmk, dek_aad(ws, sec).encode(), sealed["dek"])
    return open_envelope(dek, secret_aad(ws, sec).encode(), sealed["value"])


# -------------------------------------------------------------------- checks


class Checker:
    def __init__(self):
        self.passed = 0
        self.failures = []

    def eq(self, name, got, want):
        if got == want:
            self.passed += 1
        else:
            self.failures.append(f"{name}: got {got!r}, want {want!r}")

    def true(self, name, cond, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failures.append(f"{name}: {detail or 'check failed'}")

    def fails(self, name, want_kind, fn):
        try:
            fn()
        except FormatError as e:
            self.eq(f"{name} (error kind)", e.kind, want_kind)
            return
        self.failures.append(f"{name}: succeeded, want {want_kind}")


def h(text):
    return bytes.fromhex(text)


def check_api_keys(c, cases):
    for case in cases:
        name = f"api_keys[{case['name']}]"
        secret = h(case["secret_hex"])
        c.eq(f"{name} text", api_key_text(case["key_id"], secret), case["text"])
        c.eq(f"{name} parse", parse_api_key(case["text"]), (case["key_id"], secret))


def check_chain(c, chain):
    i, x = chain["inputs"], chain["expected"]
    secret = h(i["secret_hex"])
    auth_salt, kdf_salt = h(i["auth_salt_hex"]), h(i["kdf_salt_hex"])
    wmk, new_wmk, dek = h(i["wmk_hex"]), h(i["new_wmk_hex"]), h(i["dek_hex"])
    ws, sec, key_id = i["workspace_id"], i["secret_id"], i["key_id"]
    plaintext = i["plaintext"].encode("utf-8")

    c.eq("chain api_key_text", api_key_text(key_id, secret), x["api_key_text"])
    c.eq("chain api_key parse", parse_api_key(x["api_key_text"]), (key_id, secret))

    auth_input = b"conexor/auth/v1" + auth_salt + secret
    c.eq("chain auth_input", auth_input.hex(), x["auth_input_hex"])
    c.eq("chain auth_hash", auth_hash(auth_salt, secret).hex(), x["auth_hash_hex"])

    kek = derive_kek(secret, kdf_salt, i["kdf_iterations"])
    c.eq("chain kek (cryptography PBKDF2HMAC)", kek.hex(), x["kek_hex"])
    kek2 = hashlib.pbkdf2_hmac("sha256", secret, kdf_salt, i["kdf_iterations"], 32)
    c.eq("chain kek (hashlib.pbkdf2_hmac)", kek2.hex(), x["kek_hex"])

    c.eq("chain wrap_aad", wrap_aad(key_id), x["wrap_aad"])
    wrapped = seal(kek, h(i["wrap_nonce_hex"]), wrap_aad(key_id).encode(), wmk)
    c.eq("chain wrapped_wmk", wrapped, x["wrapped_wmk"])
    c.eq("chain unwrap_wmk", unwrap_wmk(kek, x["wrapped_wmk"], key_id), wmk)

    c.eq("chain check_plaintext", x["check_plaintext"], "conexor/check/v1")
    check = seal(wmk, h(i["check_nonce_hex"]), b"", b"conexor/check/v1")
    c.eq("chain wmk_check", check, x["wmk_check"])
    c.true("chain verify_wmk_check", verify_wmk_check(wmk, x["wmk_check"]))

    c.eq("chain secret_aad", secret_aad(ws, sec), x["secret_aad"])
    c.eq("chain dek_aad", dek_aad(ws, sec), x["dek_aad"])
    sealed = {
        "value": seal(dek, h(i["value_nonce_hex"]), secret_aad(ws, sec).encode(), plaintext),
        "dek": seal(wmk, h(i["dek_nonce_hex"]), dek_aad(ws, sec).encode(), dek),
    }
    c.eq("chain sealed_secret", sealed, x["sealed_secret"])
    c.eq("chain open_secret", open_secret(wmk, ws, sec, x["sealed_secret"]), plaintext)

    unwrapped_dek = open_key(wmk, dek_aad(ws, sec).encode(), x["sealed_secret"]["dek"])
    rewrapped = seal(new_wmk, h(i["rewrap_nonce_hex"]), dek_aad(ws, sec).encode(), unwrapped_dek)
    c.eq("chain rewrapped_dek", rewrapped, x["rewrapped_dek"])
    rotated = {"value": x["sealed_secret"]["value"], "dek": x["rewrapped_dek"]}
    c.eq("chain open after rotation", open_secret(new_wmk, ws, sec, rotated), plaintext)

    # the expected JSON must also be what a compact serializer emits in spec order
    compact = json.dumps(x["wrapped_wmk"], separators=(",", ":"))
    c.true("chain envelope field order", compact.startswith('{"v":1,"alg":"A256GCM","nonce":"'), compact)


def check_negative(c, neg):
    for case in neg["api_keys"]:
        c.fails(f"negative.api_keys[{case['name']}]", case["error"], lambda t=case["text"]: parse_api_key(t))
    for case in neg["kdf"]:
        c.fails(
            f"negative.kdf[{case['name']}]",
            case["error"],
            lambda k=case: derive_kek(h(k["secret_hex"]), h(k["kdf_salt_hex"]), k["kdf_iterations"]),
        )
    for case in neg["unwrap_wmk"]:
        c.fails(
            f"negative.unwrap_wmk[{case['name']}]",
            case["error"],
            lambda k=case: unwrap_wmk(h(k["kek_hex"]), k["envelope"], k["key_id"]),
        )
    for case in neg["verify_wmk_check"]:
        c.true(
            f"negative.verify_wmk_check[{case['name']}]",
            not verify_wmk_check(h(case["wmk_hex"]), case["envelope"]),
            "verified",
        )
    for case in neg["open_secret"]:
        c.fails(
            f"negative.open_secret[{case['name']}]",
            case["error"],
            lambda k=case: open_secret(h(k["wmk_hex"]), k["workspace_id"], k["secret_id"], k["sealed"]),
        )


def self_test(c):
    """The strict decoder itself, so a lenient bug cannot pass negatives by accident."""
    c.eq("self b64u ok", b64u_decode_strict("-_8"), b"\xfb\xff")
    for bad in ["AA==", "AB", "+/8", "AAEC ", "AAECA", "A"]:
        c.eq(f"self b64u rejects {bad!r}", b64u_decode_strict(bad), None)


def main(argv):
    default = Path(__file__).resolve().parent.parent / "data" / "format-v1-vectors.json"
    path = Path(argv[1]) if len(argv) > 1 else default
    try:
        vectors = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"cannot read {path}: {e}", file=sys.stderr)
        return 2

    c = Checker()
    self_test(c)
    sections = [
        ("api_keys", lambda: check_api_keys(c, vectors["api_keys"])),
        ("chain", lambda: check_chain(c, vectors["chain"])),
        ("negative", lambda: check_negative(c, vectors["negative"])),
    ]
    for name, run in sections:
        try:
            run()
        except (FormatError, KeyError, TypeError, ValueError, InvalidTag) as e:
            c.failures.append(f"{name}: unexpected {type(e).__name__}: {e}")

    neg = vectors.get("negative", {})
    n_neg = sum(len(v) for v in neg.values()) if isinstance(neg, dict) else 0
    print(
        f"format v1 vectors ({path.name}): {len(vectors.get('api_keys', []))} api keys, "
        f"1 chain, {n_neg} negative cases; {c.passed} checks passed, {len(c.failures)} failed"
    )
    for f in c.failures:
        print(f"FAIL {f}")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
