"""File Control Information and PSE directory records (EMV Book 1 11.3.4 and 12.2.3)."""

from __future__ import annotations

from emv import tlv
from hardware_sim.card.profile import ApplicationProfile

PSE_NAME = b"1PAY.SYS.DDF01"
PSE_SFI = 1


def pse_fci(languages: str) -> bytes:
    """FCI of the PSE (Book 1 Table 43): 6F{84, A5{88 SFI, 5F2D}}."""
    proprietary = tlv.encode(0x88, bytes([PSE_SFI]))
    proprietary += tlv.encode(0x5F2D, languages.encode("ascii"))
    return tlv.encode(0x6F, tlv.encode(0x84, PSE_NAME) + tlv.encode(0xA5, proprietary))


def adf_fci(app: ApplicationProfile) -> bytes:
    """FCI of an ADF (Book 1 Table 45): 6F{84, A5{50, 87, 9F38, 5F2D, 9F12, BF0C}}."""
    items: list[tuple[int, bytes]] = [(0x50, app.data[0x50])]
    for tag in (0x87, 0x9F38, 0x5F2D, 0x9F12):
        if tag in app.data:
            items.append((tag, app.data[tag]))
    if app.log_format is not None:
        log_entry = bytes([app.log_sfi, app.log_records])
        items.append((0xBF0C, tlv.encode(0x9F4D, log_entry)))
    proprietary = tlv.encode_many(items)
    return tlv.encode(0x6F, tlv.encode(0x84, app.aid) + tlv.encode(0xA5, proprietary))


def pse_record(applications: list[ApplicationProfile], record: int) -> bytes | None:
    """Directory record N of the PSE (Book 1 12.2.3): one entry 61 per application."""
    if not 1 <= record <= len(applications):
        return None
    app = applications[record - 1]
    entry: list[tuple[int, bytes]] = [(0x4F, app.aid), (0x50, app.data[0x50])]
    for tag in (0x9F12, 0x87):
        if tag in app.data:
            entry.append((tag, app.data[tag]))
    return tlv.encode(0x70, tlv.encode(0x61, tlv.encode_many(entry)))
