"""Generate the TEST-ONLY offline-data-authentication PKI once (EMV Book 2 5.1 / 6.1).

Run ``python -m hardware_sim.make_test_pki`` only to *replace* the shipped fixtures in
``hardware_sim/data/pki/``; the card simulator and the tests read the committed files, so
the keys are stable from one run to the next.  Every key written here is TEST-ONLY: the
private halves are published in this repository and protect nothing.

Layout chosen so both certificate remainders are exercised:

* test CAs: 1408 bits (176 bytes), exponent 3, one per RID;
* issuers: 1152 bits (144 bytes) > N_CA - 36 = 140, so the Issuer Public Key Remainder (92)
  carries 4 bytes;
* ICCs: 1024 bits (128 bytes) > N_I - 42 = 102, so the ICC Public Key Remainder (9F48) carries
  26 bytes; exponent 65537 so both allowed exponents are in use;
* ICC PIN Encipherment keys (Book 2 7.1, certificate 9F2D): 1024 bits, exponent 3, a key pair
  distinct from the ICC key; ``--pin-keys`` (re)writes only this file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

OUT = Path(__file__).parent / "data" / "pki"
WARNING = "TEST-ONLY key material for the simulator and tests. Never use in production."

# Indexes checked against the published Visa / Mastercard live and test CAPK lists
# (Visa: 01 07 08 09 50 51 53 57 92 94 95 96 97 98 99; Mastercard: 00 02-06 EF F0 F1 F3 F5-FA FE).
TEST_CAS = {"A000000003": "E3", "A000000004": "E4"}
ISSUERS = {
    # issuer id -> RID whose test CA certifies it
    "476173": "A000000003",
    "541333": "A000000004",
    "999999": "A000000003",
}


def _key(bits: int, e: int) -> dict[str, str]:
    priv = rsa.generate_private_key(public_exponent=e, key_size=bits)
    nums = priv.private_numbers()
    n = nums.public_numbers.n
    length = (n.bit_length() + 7) // 8
    return {
        "modulus": n.to_bytes(length, "big").hex().upper(),
        "exponent": e.to_bytes(1 if e == 3 else 3, "big").hex().upper(),
        "private_exponent": nums.d.to_bytes(length, "big").hex().upper(),
    }


def _checksum(rid: str, index: str, modulus: str, exponent: str) -> str:
    data = bytes.fromhex(rid + index + modulus + exponent)
    return hashlib.sha1(data).hexdigest().upper()  # noqa: S324 - EMV CAPK checksum is SHA-1


def pin_keys() -> dict[str, object]:
    """ICC PIN Encipherment key pairs, one per issuer (same size as the ICC keys, so a card's
    VERIFY data length does not depend on which key enciphers the PIN)."""
    return {"_comment": WARNING, "pin_keys": {iid: _key(1024, 3) for iid in ISSUERS}}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    if "--pin-keys" in sys.argv[1:]:
        (OUT / "test_icc_pin_rsa_keys.json").write_text(json.dumps(pin_keys(), indent=1) + "\n")
        print(f"wrote test_icc_pin_rsa_keys.json to {OUT}")
        return 0
    cas = {}
    capks = []
    for rid, index in TEST_CAS.items():
        key = _key(1408, 3)
        cas[rid] = {"index": index, **key}
        capks.append(
            {
                "rid": rid,
                "index": index,
                "modulus": key["modulus"],
                "exponent": key["exponent"],
                "expiry": "2049-12-31",
                "hash_algorithm": "01",
                "key_algorithm": "01",
                "checksum": _checksum(rid, index, key["modulus"], key["exponent"]),
                "kind": "test",
                "source": "hardware_sim/make_test_pki.py (TEST-ONLY simulator CA)",
            }
        )
    issuers = {}
    for n, (iid, rid) in enumerate(ISSUERS.items(), start=1):
        issuers[iid] = {
            "rid": rid,
            "certificate_serial": f"{0x5E0000 + n:06X}",
            "revoked_certificate_serial": f"{0xDEAD00 + n:06X}",
            "certificate_expiry_mmyy": "1249",
            **_key(1152, 3),
        }
    iccs = {iid: _key(1024, 65537) for iid in ISSUERS}
    files = {
        "test_ca_keys.json": {"_comment": WARNING, "cas": cas},
        "test_capk.json": {
            "_comment": WARNING + " Public halves of test_ca_keys.json.",
            "keys": capks,
        },
        "test_issuer_rsa_keys.json": {"_comment": WARNING, "issuers": issuers},
        "test_icc_rsa_keys.json": {"_comment": WARNING, "iccs": iccs},
        "test_icc_pin_rsa_keys.json": pin_keys(),
    }
    for name, content in files.items():
        (OUT / name).write_text(json.dumps(content, indent=1) + "\n")
    print(f"wrote {', '.join(files)} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
