"""Whole contactless taps through pyscard -> real pcscd -> vpcd -> the simulated cards.

The same Entry Point and kernels as the in-process tests; the result (outcome, UI
requests, TVR, DE 55 data, APDU count) must be identical to the in-process tap.
"""

from __future__ import annotations

import pytest

from emv.contactless.outcome import OutcomeStatus
from emv.ports import Message as M
from hardware_sim.contactless import InProcessTransport, load_contactless_card, load_profile
from terminal.readers.pcsc import PcscReader
from tests import pcsc_harness
from tests.contactless_helpers import tap_once
from tests.pcsc_harness import VpcdSlot

pcsc_daemon = pcsc_harness.pcsc_daemon  # shared session fixtures
vpcd_slot = pcsc_harness.vpcd_slot

pytestmark = [pytest.mark.pcsc, pytest.mark.xdist_group("pcscd")]


@pytest.mark.parametrize("name", ["visa_qvsdc", "mastercard", "visa_online_pin", "visa_bad_fdda"])
def test_tap_over_pcsc_matches_in_process(vpcd_slot: VpcdSlot, name: str) -> None:
    amount = load_profile(name)["scenario_amount"]
    reference, _ = tap_once(InProcessTransport(load_contactless_card(name)), amount)
    connector = vpcd_slot.insert(load_contactless_card(name))
    with PcscReader(vpcd_slot.reader, interface="contactless") as reader:
        reader.wait_for_card(10)
        result, _ = tap_once(reader, amount)
    assert result == reference
    assert connector.apdu_count == reference.apdu_count == load_profile(name)["min_apdus"]


def test_card_pulled_during_read_record_over_pcsc(vpcd_slot: VpcdSlot) -> None:
    # SELECT PPSE, SELECT AID, GPO answered; the card leaves on the first READ RECORD.
    vpcd_slot.insert(load_contactless_card("visa_qvsdc"), remove_after_apdus=3)
    with PcscReader(vpcd_slot.reader, interface="contactless") as reader:
        reader.wait_for_card(10)
        result, _ = tap_once(reader, 1500)
    assert result.outcome is OutcomeStatus.TRY_AGAIN
    assert result.restart
    assert result.ui == [M.PRESENT_CARD, M.TRY_AGAIN]
