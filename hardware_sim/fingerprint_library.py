"""The TEST-ONLY fingerprint library shared by the sensor, card and host simulators.

Templates are synthetic: 512 bytes (the size of a ZhianTec R30x character file) expanded
from a seed with SHA-256.  Every capture of a finger is its reference with a few bytes
disturbed (``sample_noise_percent``), so no two captures are byte-identical, as on a real
sensor; :func:`match_score` is the share of equal bytes (0-100) and a score at or above
``match_threshold`` is a match.  This is a stand-in for a minutiae matcher, good enough to
give matching and non-matching fingers; it is not a biometric algorithm.
"""

from __future__ import annotations

import hashlib
import json
import random
from functools import cache
from importlib import resources
from typing import Any


@cache
def library() -> dict[str, Any]:
    text = resources.files("hardware_sim.data").joinpath("fingerprints.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


def finger_ids() -> list[str]:
    return sorted(library()["fingers"])


def reference_template(finger: str) -> bytes:
    """The enrolled template of ``finger`` (KeyError for an unknown finger)."""
    seed = library()["fingers"][finger]["seed"]
    if not seed:
        raise KeyError(finger)
    length = int(library()["template_length"])
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return out[:length]


def capture_sample(finger: str, rng: random.Random | None = None) -> bytes:
    """One capture: the reference with ``sample_noise_percent`` of its bytes disturbed."""
    rng = rng or random.Random()
    sample = bytearray(reference_template(finger))
    count = len(sample) * int(library()["sample_noise_percent"]) // 100
    for index in rng.sample(range(len(sample)), count):
        sample[index] ^= rng.randrange(1, 256)
    return bytes(sample)


def match_score(a: bytes, b: bytes) -> int:
    if not a or len(a) != len(b):
        return 0
    return sum(x == y for x, y in zip(a, b, strict=True)) * 100 // len(a)


def matches(sample: bytes, reference: bytes) -> bool:
    return match_score(sample, reference) >= int(library()["match_threshold"])


def enrolled_finger(pan: str) -> str | None:
    finger = library()["enrolled_by_pan"].get(pan)
    return str(finger) if finger is not None else None
