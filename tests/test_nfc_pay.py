"""`pos pay --reader nfc:udp:HOST:PORT` against a simulated Type 4A card behind nfcpy's UDP driver."""

from __future__ import annotations

import json
import socket

import pytest

from hardware_sim.contactless import load_contactless_card
from hardware_sim.nfc_card import NfcType4ACard
from terminal.cli import main
from tests.net_support import silent_udp_port

pytestmark = [pytest.mark.nfc]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "profile, amount, outcome, apdus",
    [("visa_qvsdc", "9.99", "approved", 6), ("mastercard", "9.99", "approved", 7)],
)
def test_tap_through_nfcpy_udp(
    capsys: pytest.CaptureFixture[str], profile: str, amount: str, outcome: str, apdus: int
) -> None:
    port = free_udp_port()
    card = NfcType4ACard(load_contactless_card(profile), "localhost", port)
    card.start()
    try:
        code = main(
            [
                "pay",
                amount,
                "--reader",
                f"nfc:udp:localhost:{port}",
                "--trust-test-keys",
                "--plain-tcp",
                "--json",
            ]
        )
    finally:
        card.stop()
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert code == 0, err
    assert result["interface"] == "contactless"
    assert result["outcome"] == outcome
    assert result["apdu_count"] == apdus
    assert result["pan_masked"].startswith(("476173", "541333")) and "*" in result["pan_masked"]


def test_no_card_in_the_field_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    with silent_udp_port() as port:
        code = main(
            [
                "pay",
                "1.00",
                "--reader",
                f"nfc:udp:localhost:{port}",
                "--plain-tcp",
                "--card-timeout",
                "1",
            ]
        )
    _, err = capsys.readouterr()
    assert code == 1
    errors = [line for line in err.strip().splitlines() if "data key" not in line]
    assert "Traceback" not in err and len(errors) == 1
