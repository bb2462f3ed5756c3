"""Read application data (EMV Book 3 Section 10.2).

Walks the AFL with READ RECORD, validating every entry; keeps the records flagged for
offline data authentication under the SFI 1-10 / 11-30 rule (Book 3 10.3); rejects
duplicate primitive data objects and missing mandatory data (5A, 5F24, 8C, 8D).
"""

from __future__ import annotations

from dataclasses import dataclass

from emv import apdu, tlv
from emv.errors import TlvError
from emv.kernel.context import KernelTermination, TransactionContext
from emv.tvr import TvrBit

MANDATORY = {0x5A: "PAN", 0x5F24: "expiry date", 0x8C: "CDOL1", 0x8D: "CDOL2"}
ODA_MANDATORY = {0x8F: "CA public key index", 0x90: "issuer public key certificate"}


@dataclass(frozen=True)
class AflEntry:
    sfi: int
    first: int
    last: int
    oda_count: int


def parse_afl(afl: bytes) -> list[AflEntry]:
    """Book 3 10.2: each 4-byte entry must have a valid SFI and record range."""
    if len(afl) == 0 or len(afl) % 4:
        raise KernelTermination("card AFL is empty or not a multiple of 4 bytes")
    entries = []
    for i in range(0, len(afl), 4):
        byte1, first, last, oda = afl[i : i + 4]
        sfi = byte1 >> 3
        if byte1 & 0x07 or not 1 <= sfi <= 30:
            raise KernelTermination(f"card AFL entry {i // 4 + 1} has an invalid SFI")
        if first == 0 or last < first or oda > last - first + 1:
            raise KernelTermination(f"card AFL entry {i // 4 + 1} has an invalid record range")
        entries.append(AflEntry(sfi, first, last, oda))
    return entries


def read_application_data(ctx: TransactionContext) -> None:
    entries = parse_afl(ctx.card_data[0x94])
    seen: set[int] = set()
    records: list[tuple[int, bytes]] = []
    for entry in entries:
        for number in range(entry.first, entry.last + 1):
            command = apdu.read_record(entry.sfi, number)
            response = ctx.expect_ok(command, ctx.send(command))
            for_oda = number < entry.first + entry.oda_count
            _store_record(ctx, entry.sfi, number, response.data, for_oda, seen)
            records.append((entry.sfi, response.data))
    for tag, what in MANDATORY.items():
        if tag not in ctx.card_data:
            ctx.tvr.set(TvrBit.ICC_DATA_MISSING)
            raise KernelTermination(f"card data is missing the mandatory {what} ({tag:X})")


def _store_record(
    ctx: TransactionContext, sfi: int, number: int, data: bytes, for_oda: bool, seen: set[int]
) -> None:
    try:
        template: tlv.Tlv | None = tlv.decode_single(data)
    except TlvError as exc:
        if sfi <= 10:
            raise KernelTermination(
                f"card record {number} of SFI {sfi} is malformed: {exc}"
            ) from exc
        template = None  # SFI 11-30 files are issuer-proprietary (Book 3 10.2)
    if template is None or template.tag != 0x70:
        if sfi <= 10:
            raise KernelTermination(f"card record {number} of SFI {sfi} is not a 70 template")
        if for_oda:
            # Book 3 10.3: an ODA record not coded as a '70' template -> ODA has failed.
            ctx.notes.append("oda-record-not-70")
    if for_oda:
        # Book 3 10.3: SFI 1-10 contribute the template's value, SFI 11-30 the whole record.
        ctx.oda_records += template.value if sfi <= 10 and template is not None else data
    if template is None or template.tag != 0x70:
        return
    for obj in tlv.iter_primitives(template.children or ()):
        if obj.tag in seen:
            raise KernelTermination(f"card data repeats tag {tlv.tag_hex(obj.tag)}")
        seen.add(obj.tag)
        ctx.card_data[obj.tag] = obj.value
