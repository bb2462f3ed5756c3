"""The online data a tap produces verifies at the issuer; tampered signatures are refused."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.emv_cryptogram import AC_DATA_TAGS, application_cryptogram
from crypto.emv_keys import derive_icc_master_key_option_a
from emv import tlv
from emv.capk import CapkStore
from emv.contactless.dynamic_auth import OdaError, verify_fdda
from emv.contactless.entry_point import Transaction
from emv.contactless.outcome import OutcomeStatus
from emv.ports import Message as M
from hardware_sim.contactless import InProcessTransport, load_contactless_card
from hardware_sim.contactless.card import ContactlessCard
from hardware_sim.test_keys import issuer_for_pan
from tests.contactless_helpers import USD, WHEN, entry_point, sim_capks


def host_verifies(emv_data: dict[int, bytes], pan: str, psn: str) -> bool:
    keys = issuer_for_pan(pan)
    assert keys is not None
    mk = derive_icc_master_key_option_a(keys.imk_ac, pan, psn)
    return application_cryptogram(mk, emv_data) == emv_data[0x9F26]


@pytest.mark.parametrize(
    ("name", "amount"),
    [("visa_qvsdc", 3000), ("visa_online_pin", 8000), ("mastercard", 3000)],
)
def test_arqc_from_de55_verifies_with_issuer_keys(name: str, amount: int) -> None:
    ep, _ = entry_point()
    ep.start(Transaction(amount, USD))
    result = ep.tap(InProcessTransport(load_contactless_card(name)))
    assert result.outcome is OutcomeStatus.ONLINE_REQUEST
    auth = result.authorisation
    assert auth is not None
    for tag in (*AC_DATA_TAGS, 0x9F26, 0x9F27, 0x84, 0x9F34):
        assert tag in auth.emv_data, hex(tag)
    assert auth.emv_data[0x9F02] == bytes.fromhex(f"{amount:012d}")
    assert auth.emv_data[0x5F2A] == b"\x08\x40"
    assert auth.emv_data[0x9A] == bytes.fromhex(WHEN.strftime("%y%m%d"))
    assert auth.emv_data[0x9F27][0] & 0xC0 == 0x80
    assert auth.pos_entry_mode == "071"
    assert host_verifies(auth.emv_data, auth.pan, auth.pan_sequence_number)
    assert auth.pan not in repr(auth)
    forged = dict(auth.emv_data)
    forged[0x9F02] = bytes.fromhex("000000000001")
    assert not host_verifies(forged, auth.pan, auth.pan_sequence_number)


def test_offline_approval_carries_a_tc_that_verifies() -> None:
    ep, _ = entry_point()
    ep.start(Transaction(1500, USD))
    result = ep.tap(InProcessTransport(load_contactless_card("mastercard")))
    assert result.outcome is OutcomeStatus.APPROVED and result.oda_performed
    auth = result.authorisation
    assert auth is not None and auth.emv_data[0x9F27] == b"\x40"
    assert host_verifies(auth.emv_data, auth.pan, auth.pan_sequence_number)


@dataclass
class TamperGenerateAc:
    """Flips one bit of the SDAD (the last object) in the GENERATE AC response."""

    card: ContactlessCard

    def transmit(self, apdu: bytes) -> bytes:
        response = self.card.process(apdu)
        if apdu[1] == 0xAE and response[-2:] == b"\x90\x00":
            response = response[:-3] + bytes([response[-3] ^ 0x01]) + response[-2:]
        return response


def test_cda_failure_declines() -> None:
    card = load_contactless_card("mastercard")
    assert isinstance(card, ContactlessCard)
    ep, _ = entry_point()
    ep.start(Transaction(1500, USD))
    result = ep.tap(TamperGenerateAc(card))
    assert result.outcome is OutcomeStatus.DECLINED
    assert result.oda_failed and result.tvr[0] & 0x04  # TVR byte 1 b3: CDA failed
    assert result.ui[-2:] == [M.CARD_READ_OK, M.DECLINED]
    assert result.authorisation is None


def test_unknown_ca_key_fails_fdda_and_goes_online_per_ctq() -> None:
    ep, _ = entry_point()
    ep.capks = CapkStore()  # a terminal without the test CA keys
    ep.start(Transaction(1500, USD))
    result = ep.tap(InProcessTransport(load_contactless_card("visa_qvsdc")))
    # CTQ byte 1 b6 "go online if ODA fails" and the reader is online capable.
    assert result.oda_failed and "no valid CA public key for RID A000000003" in result.reason
    assert result.outcome is OutcomeStatus.ONLINE_REQUEST


def _gpo_data() -> tuple[ContactlessCard, dict[int, bytes], bytes, bytes]:
    card = load_contactless_card("visa_qvsdc")
    assert isinstance(card, ContactlessCard)
    pdol_values = bytes.fromhex("36004000" + "000000001500" + "000000000000" + "0840")
    pdol_values += bytes(5) + bytes.fromhex("0840" + "261124" + "00" + "01020304")
    card.process(bytes.fromhex("00A4040007A000000003101000"))
    gpo = card.process(
        bytes.fromhex("80A80000")
        + bytes([len(pdol_values) + 2, 0x83, len(pdol_values)])
        + pdol_values
        + b"\x00"
    )
    values = tlv.flatten(tlv.decode(gpo[:-2]))
    for rec in ((1, 1), (2, 1), (2, 2)):
        values.update(tlv.flatten(tlv.decode(card.records[rec])))
    static = tlv.decode_single(card.records[(1, 1)]).value + values[0x82]
    dynamic = bytes.fromhex("010203040000000015000840") + values[0x9F69]
    return card, values, static, dynamic


def test_fdda_verifies_against_the_card_signature() -> None:
    card, values, static, dynamic = _gpo_data()
    number = verify_fdda(sim_capks(), card.aid[:5], values, static, dynamic, WHEN.date())
    assert len(number) == 4


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["sdad", "static", "dynamic", "icc_cert"]), st.integers(0, 10_000))
def test_any_flipped_bit_breaks_fdda(target: str, position: int) -> None:
    card, values, static, dynamic = _gpo_data()

    def flip(data: bytes) -> bytes:
        i = position % (len(data) * 8)
        return data[: i // 8] + bytes([data[i // 8] ^ (1 << (i % 8))]) + data[i // 8 + 1 :]

    if target == "sdad":
        values[0x9F4B] = flip(values[0x9F4B])
    elif target == "icc_cert":
        values[0x9F46] = flip(values[0x9F46])
    elif target == "static":
        static = flip(static)
    else:
        dynamic = flip(dynamic)
    with pytest.raises(OdaError):
        verify_fdda(sim_capks(), card.aid[:5], values, static, dynamic, WHEN.date())
