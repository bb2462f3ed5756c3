"""A software PIN pad for simulated cardholders (TEST-ONLY keys).

It holds a DUKPT initial key derived from the published ANSI X9.24-1 test BDK and returns
only encrypted ISO 9564 format 0 PIN blocks with their KSN, exactly as a real PIN pad
would.  The host simulator knows the same TEST BDK (``hardware_sim/host/rules.json``).
"""

from __future__ import annotations

import json
from importlib import resources

from crypto.dukpt_tdes import TdesDukptOriginator
from emv.ports import OnlinePin

TEST_INITIAL_KSN = bytes.fromhex("FFFF9876543210E00000")


def _test_bdk() -> bytes:
    rules = json.loads(resources.files("hardware_sim.host").joinpath("rules.json").read_text())
    return bytes.fromhex(rules["dukpt_bdk_tdes"])


class SoftPinPad:
    def __init__(self) -> None:
        self._device = TdesDukptOriginator.from_bdk(_test_bdk(), TEST_INITIAL_KSN)

    def encrypt_online_pin(self, pin: str, pan: str) -> OnlinePin:
        block, ksn = self._device.encrypt_pin(pin, pan)
        return OnlinePin(block, ksn, 0)
