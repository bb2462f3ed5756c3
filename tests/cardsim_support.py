"""Shared helpers for tests/test_cardsim_*.py: drive a simulated card with raw APDUs the way
a terminal would, and an independent cryptogram oracle (pyemv)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyemv.cvn import VisaCVN18

from emv import apdu, dol, tlv
from hardware_sim.card import VirtualCard, load_card
from hardware_sim.test_keys import issuer_for_pan

# Terminal data for CDOL1 (amount 12.34 GBP, 2026-11-24, purchase, UN 11223344)
TERMINAL_DATA: dict[int, bytes] = {
    0x9F02: bytes.fromhex("000000001234"),
    0x9F03: bytes.fromhex("000000000000"),
    0x9F1A: bytes.fromhex("0826"),
    0x95: bytes.fromhex("0000008000"),
    0x5F2A: bytes.fromhex("0826"),
    0x9A: bytes.fromhex("261124"),
    0x9C: bytes.fromhex("00"),
    0x9F37: bytes.fromhex("11223344"),
    0x9F35: bytes.fromhex("22"),
    0x9F45: bytes.fromhex("0000"),
    0x9F4C: bytes(8),
    0x9F34: bytes.fromhex("1E0300"),
}


def sw(response: bytes) -> int:
    return int.from_bytes(response[-2:], "big")


def body(response: bytes) -> bytes:
    return response[:-2]


@dataclass
class Session:
    """A card after power-on, with the data read so far."""

    card: VirtualCard
    data: dict[int, bytes] = field(default_factory=dict)
    pdol_data: bytes = b""
    records: list[tuple[int, bytes]] = field(default_factory=list)
    afl: bytes = b""

    def send(self, command: apdu.CommandApdu | bytes) -> bytes:
        raw = command.to_bytes() if isinstance(command, apdu.CommandApdu) else command
        return self.card.process(raw)

    def select(self, aid: bytes, next_occurrence: bool = False) -> bytes:
        response = self.send(apdu.select_by_name(aid, next_occurrence))
        if len(response) > 2:
            self.data.update(tlv.flatten(tlv.decode(body(response))))
        return response

    def gpo(self, terminal: dict[int, bytes] | None = None) -> bytes:
        pdol = self.data.get(0x9F38, b"")
        self.pdol_data = dol.build(pdol, terminal or TERMINAL_DATA) if pdol else b""
        response = self.send(apdu.get_processing_options(self.pdol_data))
        if sw(response) == 0x9000:
            obj = tlv.decode_single(body(response))
            if obj.tag == 0x80:
                self.data[0x82], self.afl = obj.value[:2], obj.value[2:]
            else:
                flat = tlv.flatten(obj.children or ())
                self.data[0x82], self.afl = flat[0x82], flat[0x94]
        return response

    def read_all(self) -> list[bool]:
        """READ RECORD along the AFL; returns the ODA flag of every record read."""
        flags = []
        for i in range(0, len(self.afl), 4):
            sfi, first, last, oda = self.afl[i] >> 3, *self.afl[i + 1 : i + 4]
            for rec in range(first, last + 1):
                response = self.send(apdu.read_record(sfi, rec))
                assert sw(response) == 0x9000, f"record {sfi}.{rec}: {response.hex()}"
                self.records.append((sfi, body(response)))
                self.data.update(tlv.flatten(tlv.decode(body(response))))
                flags.append(rec < first + oda)
        return flags

    def cdol1_data(self, **changes: bytes) -> bytes:
        return dol.build(self.data[0x8C], {**TERMINAL_DATA, **_tags(changes)})

    def cdol2_data(self, values: dict[int, bytes]) -> bytes:
        return dol.build(self.data[0x8D], {**TERMINAL_DATA, **values})


def _tags(changes: dict[str, bytes]) -> dict[int, bytes]:
    return {int(k.removeprefix("t"), 16): v for k, v in changes.items()}


def start(profile: str = "visa_credit", aid: str | None = None, **overrides) -> Session:
    card = load_card(profile, random_bytes=lambda n: bytes(range(1, n + 1)), **overrides)
    card.power_on()
    session = Session(card)
    target = bytes.fromhex(aid) if aid else card.applications[0].profile.aid
    assert sw(session.select(target)) == 0x9000
    return session


def ready(profile: str = "visa_credit", **overrides) -> Session:
    """Selected, GPO done and every record read."""
    session = start(profile, **overrides)
    assert sw(session.gpo()) == 0x9000
    session.read_all()
    return session


def oracle_ac(pan: str, psn: str, values: dict[int, bytes]) -> bytes:
    """The cryptogram as pyemv computes it (CVN 18 data order; Option B = A for 16 digits)."""
    imk = issuer_for_pan(pan).imk_ac
    cvn = VisaCVN18(imk, imk, imk, pan, psn)
    return cvn.generate_ac(
        tag_9f02=values[0x9F02],
        tag_9f03=values[0x9F03],
        tag_9f1a=values[0x9F1A],
        tag_95=values[0x95],
        tag_5f2a=values[0x5F2A],
        tag_9a=values[0x9A],
        tag_9c=values[0x9C],
        tag_9f37=values[0x9F37],
        tag_82=values[0x82],
        tag_9f36=values[0x9F36],
        tag_9f10=values[0x9F10],
    )


def genac_fields(response: bytes) -> dict[int, bytes]:
    """CID, ATC, AC (if any), IAD and 9F4B from a format 1 or format 2 response."""
    obj = tlv.decode_single(body(response))
    if obj.tag == 0x80:
        v = obj.value
        return {0x9F27: v[:1], 0x9F36: v[1:3], 0x9F26: v[3:11], 0x9F10: v[11:]}
    return tlv.flatten(obj.children or ())
