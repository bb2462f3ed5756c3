"""Record files of one application, with the ODA data the test PKI adds (EMV Book 3 10.2/10.3).

* Each record is the template ``70`` around its data objects (Book 3 7.2, Annex B).
* The static data to be authenticated is built per Book 3 10.3: for SFI 1-10 the value of
  the ``70`` template, for SFI 11-30 the whole record, in AFL order, followed by the values of
  the tags named in the SDA Tag List 9F4A (only the AIP is allowed there).
* The certificates (8F 90 92 9F32 93 9F46 9F47 9F48) go into extra records of ``oda_sfi``
  which the AFL does NOT flag for ODA, so they do not sign themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from emv import tlv
from hardware_sim import pki
from hardware_sim.card.profile import AflEntry, ApplicationProfile, ProfileError

# A READ RECORD response carries at most 256 bytes: 70 81 LL + body.
MAX_RECORD_BODY = 240
ODA_TAG_ORDER = (0x8F, 0x9F32, 0x92, 0x90, 0x93, 0x9F47, 0x9F48, 0x9F46, 0x9F2E, 0x9F2F, 0x9F2D)


@dataclass
class PersonalisedApplication:
    """Record bytes by (SFI, record), the AFL including the ODA records, the ICC key."""

    records: dict[tuple[int, int], bytes]
    afl: list[AflEntry]
    icc_key: pki.IccKey | None
    oda_tags: dict[int, bytes]

    @property
    def afl_bytes(self) -> bytes:
        return b"".join(e.encode() for e in self.afl)


def record_template(items: list[tuple[int, bytes]]) -> bytes:
    return tlv.encode(0x70, tlv.encode_many(items))


def static_data_to_authenticate(
    records: dict[tuple[int, int], bytes], afl: list[AflEntry]
) -> bytes:
    """Book 3 10.3: the records the AFL flags for ODA, in AFL order."""
    out = bytearray()
    for entry in afl:
        for rec in range(entry.first, entry.first + entry.oda_count):
            raw = records[(entry.sfi, rec)]
            if entry.sfi <= 10:
                out += tlv.decode_single(raw, 0x70).value
            else:
                out += raw
    return bytes(out)


def sda_tag_list_values(app: ApplicationProfile) -> bytes:
    """Values of the tags listed in 9F4A; Book 3 10.3 allows only the AIP (82)."""
    if not app.sda_tag_list:
        return b""
    if app.sda_tag_list != b"\x82":
        raise ProfileError(f"application {app.label}: the SDA Tag List 9F4A may list only 82")
    return app.aip


@lru_cache(maxsize=64)
def _personalise_oda(
    method: str,
    pan: str,
    expiry: bytes,
    static: bytes,
    sda_values: bytes,
    tampered: bool,
    revoked: bool,
    pin_key_certificate: bool = False,
) -> tuple[tuple[tuple[int, bytes], ...], pki.IccKey | None]:
    """The test PKI's (deterministic) RSA signing, done once per distinct card content."""
    tags, key = pki.personalise_oda(
        method,
        pan[:6],
        pan,
        expiry,
        static,
        sda_values,
        tampered=tampered,
        revoked=revoked,
        pin_key_certificate=pin_key_certificate,
    )
    return tuple(tags.items()), key


def _pack(tags: dict[int, bytes]) -> list[list[tuple[int, bytes]]]:
    """Spread the ODA data objects over as few records as fit in a READ RECORD response."""
    records: list[list[tuple[int, bytes]]] = []
    size = MAX_RECORD_BODY + 1
    for tag in sorted(tags, key=lambda t: ODA_TAG_ORDER.index(t) if t in ODA_TAG_ORDER else 99):
        item = (tag, tags[tag])
        item_size = len(tlv.encode(*item))
        if size + item_size > MAX_RECORD_BODY:
            records.append([])
            size = 0
        records[-1].append(item)
        size += item_size
    return records


def personalise(app: ApplicationProfile) -> PersonalisedApplication:
    """Build the record files and, for SDA/DDA/CDA, the certificates from the test PKI."""
    records = {key: record_template(items) for key, items in app.records.items()}
    afl = list(app.afl)
    if app.oda == "none":
        return PersonalisedApplication(records, afl, None, {})
    static = static_data_to_authenticate(records, afl)
    try:
        signed, icc_key = _personalise_oda(
            app.oda,
            app.pan,
            app.expiry,
            static,
            sda_tag_list_values(app),
            app.oda_tampered,
            app.issuer_revoked,
            app.pin_key_certificate,
        )
        oda_tags = dict(signed)
    except pki.PkiError as exc:
        raise ProfileError(f"application {app.label}: {exc}") from exc
    packed = _pack(oda_tags)
    for rec, items in enumerate(packed, start=1):
        key = (app.oda_sfi, rec)
        if key in records:
            raise ProfileError(
                f"application {app.label}: record {key[0]}.{key[1]} is needed for ODA data"
            )
        records[key] = record_template(items)
    afl.append(AflEntry(app.oda_sfi, 1, len(packed), 0))
    return PersonalisedApplication(records, afl, icc_key, oda_tags)
