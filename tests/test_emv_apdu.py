"""APDU cases and T=0 transport behaviour (ISO 7816-4, EMV Book 1 9.3.1)."""

from __future__ import annotations

import pytest

from emv import apdu
from emv.errors import CardProtocolError


class ScriptedTransport:
    def __init__(self, answers: dict[bytes, list[bytes]]) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}
        self.sent: list[bytes] = []

    def transmit(self, command: bytes) -> bytes:
        self.sent.append(command)
        return self.answers[command].pop(0)


def test_command_cases() -> None:
    assert apdu.CommandApdu(0x00, 0x84, 0, 0).to_bytes() == bytes.fromhex("00840000")
    assert apdu.CommandApdu(0x00, 0x84, 0, 0, le=0).to_bytes() == bytes.fromhex("0084000000")
    assert apdu.CommandApdu(0, 0x20, 0, 0x80, b"\x24").to_bytes() == bytes.fromhex("002000800124")
    case4 = apdu.select_by_name(bytes.fromhex("A0000000031010"))
    assert case4.case == 4
    assert case4.to_bytes() == bytes.fromhex("00A4040007A000000003101000")


def test_emv_command_encodings() -> None:
    assert apdu.read_record(1, 2).to_bytes() == bytes.fromhex("00B2020C00")
    assert apdu.get_processing_options(b"").to_bytes() == bytes.fromhex("80A80000028300" + "00")
    assert apdu.get_data(0x9F36).to_bytes() == bytes.fromhex("80CA9F3600")
    assert apdu.generate_ac(0x90, b"\x01").to_bytes() == bytes.fromhex("80AE9000010100")


def test_61xx_triggers_get_response_and_concatenates() -> None:
    select = apdu.select_by_name(b"1PAY.SYS.DDF01").to_bytes()
    transport = ScriptedTransport(
        {
            select: [bytes.fromhex("6104")],
            bytes.fromhex("00C0000004"): [bytes.fromhex("6F02AABB6102")],
            bytes.fromhex("00C0000002"): [bytes.fromhex("CCDD9000")],
        }
    )
    channel = apdu.ApduChannel(transport)
    response = channel.send(apdu.select_by_name(b"1PAY.SYS.DDF01"))
    assert response.ok
    assert response.data == bytes.fromhex("6F02AABBCCDD")
    assert channel.count == 3


def test_6cxx_reissues_with_exact_le() -> None:
    command = apdu.read_record(1, 1)
    transport = ScriptedTransport(
        {
            command.to_bytes(): [bytes.fromhex("6C05")],
            bytes.fromhex("00B2010C05"): [bytes.fromhex("7003010203 9000".replace(" ", ""))],
        }
    )
    response = apdu.ApduChannel(transport).send(command)
    assert response.data == bytes.fromhex("7003010203")
    assert transport.sent[-1] == bytes.fromhex("00B2010C05")


def test_response_without_status_word_is_a_protocol_error() -> None:
    with pytest.raises(CardProtocolError):
        apdu.ResponseApdu.from_bytes(b"\x90")


def test_status_word_descriptions_come_from_data() -> None:
    assert apdu.describe_sw(0x6985) == "conditions of use not satisfied"
    assert apdu.describe_sw(0x63C2) == "verification failed, 2 tries left"
