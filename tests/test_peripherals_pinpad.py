"""The serial PIN pad driver against the simulated PIN pad over a real pty (pyserial).

Every case is the driver and the device talking docs/pinpad-protocol.md byte by byte:
online PIN (DUKPT, decrypted here with the host's BDK), offline PIN (sealed format 2),
cancel, the pad's timeout, a hung pad, bypass, a garbled frame, the cable pulled, and
TR-31 key loading.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crypto import des, dukpt_tdes, kcv, pinblock, tr31
from emv.ports import PinEntryStatus, PinRequest
from hardware_sim.pinpad import SimulatedPinPad, peripheral_test_keys
from hardware_sim.soft_pinpad import _test_bdk
from terminal.peripherals.link import PeripheralDisconnected
from terminal.peripherals.pinpad import PinPadError, SerialPinPad

PAN = "4761739001010119"


def online(pan: str = PAN) -> PinRequest:
    return PinRequest(True, 1234, "GBP", None, pan)


def offline() -> PinRequest:
    return PinRequest(False, 1234, "GBP", 3, PAN)


@pytest.fixture
def pad_and_sim(request: pytest.FixtureRequest) -> Iterator[tuple[SerialPinPad, SimulatedPinPad]]:
    script = getattr(request, "param", [])
    with SimulatedPinPad(pin="1234", script=script, time_scale=0) as sim:
        # A short margin only where the pad's silence is the behaviour under test; elsewhere
        # a late answer on a loaded machine must not read as a timeout.
        margin = 0.3 if "silent" in script else 10.0
        pad = SerialPinPad.open(sim.port, entry_margin_s=margin)
        try:
            yield pad, sim
        finally:
            pad.close()


def host_pin(block: bytes, ksn: bytes, pan: str = PAN) -> str:
    key = dukpt_tdes.host_pin_key(_test_bdk(), ksn)
    return pinblock.decode_format0(des.decrypt_ecb(key, block), pan)


def test_status_before_and_after_sign_on(pad_and_sim) -> None:
    pad, sim = pad_and_sim
    status = pad.status()
    assert (status.model, status.serial_number) == ("SIM-PP100", "SIM0000001")
    assert status.ksn == "FFFF9876543210E00001"
    assert status.signed_on is False
    pad.sign_on()
    assert pad.status().signed_on is True
    pad.display("TOTAL", "GBP 12.34")
    assert sim.state.displayed == ["TOTAL / GBP 12.34"]


def test_online_pin_is_dukpt_encrypted_and_host_decrypts_it(pad_and_sim) -> None:
    pad, _ = pad_and_sim
    first = pad.request_pin(online())
    second = pad.request_pin(online())
    assert first.status is PinEntryStatus.ENTERED and first.online is not None
    assert first.online.ksn.hex().upper() == "FFFF9876543210E00001"
    assert second.online is not None and second.online.ksn.hex().upper().endswith("00002")
    assert first.online.encrypted_block != second.online.encrypted_block
    assert host_pin(first.online.encrypted_block, first.online.ksn) == "1234"
    assert host_pin(second.online.encrypted_block, second.online.ksn) == "1234"


@pytest.mark.parametrize("pad_and_sim", [["digits:98765"]], indirect=True)
def test_wrong_pin_still_travels_encrypted(pad_and_sim) -> None:
    pad, _ = pad_and_sim
    entry = pad.request_pin(online())
    assert entry.online is not None
    assert host_pin(entry.online.encrypted_block, entry.online.ksn) == "98765"


def test_offline_pin_arrives_sealed_and_opens_to_format2(pad_and_sim) -> None:
    pad, sim = pad_and_sim
    entry = pad.request_pin(offline())
    assert entry.status is PinEntryStatus.ENTERED and entry.offline is not None
    assert entry.offline.block == bytes.fromhex("241234FFFFFFFFFF")
    # the DUKPT key was not used for an offline PIN
    assert pad.status().ksn == "FFFF9876543210E00001"
    assert sim.state.pin_requests == 1


@pytest.mark.parametrize(
    ("pad_and_sim", "status"),
    [
        (["cancel"], PinEntryStatus.CANCELLED),
        (["timeout"], PinEntryStatus.TIMEOUT),
        (["bypass"], PinEntryStatus.BYPASSED),
        (["silent"], PinEntryStatus.TIMEOUT),
    ],
    indirect=["pad_and_sim"],
)
def test_entry_outcomes(pad_and_sim, status: PinEntryStatus) -> None:
    pad, _ = pad_and_sim
    entry = pad.request_pin(online(), timeout_s=0)
    assert entry.status is status
    assert entry.online is None and entry.offline is None
    # the pad is usable again afterwards and the DUKPT counter did not move
    assert pad.status().ksn == "FFFF9876543210E00001"


@pytest.mark.parametrize("pad_and_sim", [["garble", "pin"]], indirect=True)
def test_garbled_frame_is_naked_and_retransmitted(pad_and_sim) -> None:
    pad, sim = pad_and_sim
    entry = pad.request_pin(online())
    assert pad.link.naks_sent == 1
    assert sim.state.naks_received == 1
    assert entry.online is not None
    assert host_pin(entry.online.encrypted_block, entry.online.ksn) == "1234"


@pytest.mark.parametrize("pad_and_sim", [["disconnect"]], indirect=True)
def test_unplugged_mid_entry_is_one_clear_sentence(pad_and_sim) -> None:
    pad, _ = pad_and_sim
    with pytest.raises(PeripheralDisconnected, match="^the PIN pad was disconnected; reconnect"):
        pad.request_pin(online())


def test_open_missing_port_is_one_sentence() -> None:
    with pytest.raises(PeripheralDisconnected, match="cannot open serial port /nonexistent/pp"):
        SerialPinPad.open("/nonexistent/pp")


def test_load_key_as_tr31_block_replaces_the_dukpt_key(pad_and_sim) -> None:
    pad, _ = pad_and_sim
    kbpk = bytes.fromhex(peripheral_test_keys()["pinpad_kbpk_tdes"])
    bdk = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
    ksn = bytes.fromhex("FFFF0000000001E00000")
    ipek = dukpt_tdes.derive_ipek(bdk, ksn)
    block = tr31.wrap(kbpk, ipek, tr31.Tr31Header("B", "B1", "T", "X"))
    assert pad.load_key(block, ksn) == kcv.tdes_kcv(ipek).hex().upper()
    entry = pad.request_pin(online())
    assert entry.online is not None
    assert entry.online.ksn.hex().upper() == "FFFF0000000001E00001"
    key = dukpt_tdes.host_pin_key(bdk, entry.online.ksn)
    assert (
        pinblock.decode_format0(des.decrypt_ecb(key, entry.online.encrypted_block), PAN) == "1234"
    )


def test_key_block_under_the_wrong_kbpk_is_refused(pad_and_sim) -> None:
    pad, _ = pad_and_sim
    block = tr31.wrap(bytes(16), bytes(range(16)), tr31.Tr31Header("B", "B1", "T", "X"))
    with pytest.raises(PinPadError, match="refused the key block"):
        pad.load_key(block, bytes.fromhex("FFFF0000000001E00000"))


def test_pad_without_key_refuses_online_pin() -> None:
    with SimulatedPinPad(load_test_key=False, time_scale=0) as sim:
        with SerialPinPad.open(sim.port) as pad:
            assert pad.status().ksn == ""
            with pytest.raises(PinPadError, match="no PIN key loaded"):
                pad.request_pin(online())
