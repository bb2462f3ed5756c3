"""End to end: the project's contact kernel (emv.kernel.contact) drives the simulated cards
through the in-process reader, with a small test issuer that checks the ARQC, answers an
ARPC (method 1) and, for the issuer_script card, MACed issuer scripts."""

from __future__ import annotations

from datetime import datetime

from crypto.emv_cryptogram import application_cryptogram, arpc_method_1
from crypto.emv_keys import derive_icc_master_key_option_a
from emv import apdu
from emv.config import default_terminal_config
from emv.kernel.contact import ContactKernel
from emv.kernel.context import Outcome, TransactionParameters
from emv.ports import AuthorisationRequest, AuthorisationResponse, FixedClock
from hardware_sim.card import load_card
from hardware_sim.card.secure_messaging import issuer_script, script_command
from hardware_sim.reader import InProcessReader
from hardware_sim.test_keys import issuer_for_pan
from terminal.cardholder import ScriptedCardholder


class CountingRandom:
    def random_bytes(self, count: int) -> bytes:
        return bytes(range(0x31, 0x31 + count))


class TestIssuer:
    """Checks the ARQC the way the host simulator does and approves with an ARPC."""

    __test__ = False

    def __init__(self, script_headers: tuple[str, ...] = (), code: str = "00") -> None:
        self.script_headers = script_headers
        self.code = code
        self.requests: list[AuthorisationRequest] = []
        self.arqc_ok: list[bool] = []

    def authorise(self, request: AuthorisationRequest) -> AuthorisationResponse:
        self.requests.append(request)
        data = request.emv_data
        pan, psn = request.pan, request.pan_sequence_number[-2:]
        mk = derive_icc_master_key_option_a(issuer_for_pan(pan).imk_ac, pan, psn)
        self.arqc_ok.append(application_cryptogram(mk, data) == data[0x9F26])
        arc = self.code.encode("ascii")
        arpc = arpc_method_1(mk, data[0x9F36], data[0x9F26], arc)
        commands = [
            script_command(pan, psn, data[0x9F36], data[0x9F26], bytes.fromhex(h))
            for h in self.script_headers
        ]
        scripts = issuer_script(commands, script_id=b"\x00\x00\x00\x07") if commands else b""
        return AuthorisationResponse(
            self.code, "123456", arpc + arc, scripts, stan="000001", rrn="000000000001"
        )


def run(card, issuer: TestIssuer, pin: str | None = None, app: int = 0):
    kernel = ContactKernel(
        default_terminal_config(),
        ScriptedCardholder(pin, application_index=app),
        issuer,
        FixedClock(datetime(2026, 11, 24, 12, 0, 0)),
        CountingRandom(),
    )
    params = TransactionParameters(amount_minor=1234, currency_numeric=826, currency_alpha="GBP")
    return kernel.run(InProcessReader(card), params)


def test_default_card_goes_online_and_is_approved_with_a_tc():
    card = load_card("visa_credit")
    issuer = TestIssuer()
    result = run(card, issuer, pin="1234")
    assert result.outcome is Outcome.APPROVED, result.reason
    assert result.cryptogram_type == "TC"
    assert issuer.arqc_ok == [True]
    app = card.applications[0]
    assert app.last_online_atc == app.atc == 41


def test_issuer_declines_and_the_card_agrees_with_an_aac():
    card = load_card("visa_credit")
    result = run(card, TestIssuer(code="05"), pin="1234")
    assert result.outcome is Outcome.DECLINED
    assert card.applications[0].last_online_atc == 39


def test_issuer_script_blocks_the_application_for_the_next_transaction():
    card = load_card("issuer_script")
    issuer = TestIssuer(script_headers=("841E0000",))
    result = run(card, issuer, pin="1234")
    assert issuer.arqc_ok == [True]
    assert [(r.command, r.sw) for r in card.script_results] == [("APPLICATION BLOCK", 0x9000)]
    assert result.issuer_script_results.startswith("20")  # 72 script, command OK
    card.power_on()
    select = card.process(apdu.select_by_name(bytes.fromhex("A0000000031010")).to_bytes())
    assert select[-2:] == b"\x62\x83"
    again = run(card, TestIssuer(), pin="1234")
    assert again.outcome is not Outcome.APPROVED


def test_two_apps_offered_by_priority_and_the_cardholder_picks_debit():
    card = load_card("two_apps")
    issuer = TestIssuer()
    result = run(card, issuer, pin="1357", app=0)  # debit has priority 1, credit 2
    assert result.aid == "A0000000032010"
    assert issuer.requests[0].pan == "4761739001010192"
    assert issuer.arqc_ok == [True]
    credit = run(load_card("two_apps"), TestIssuer(), pin="1357", app=1)
    assert credit.aid == "A0000000031010"


def test_card_pulled_mid_transaction_aborts_cleanly():
    card = load_card("visa_credit", faults={"remove_at_apdu": 6})
    result = run(card, TestIssuer(), pin="1234")
    assert result.outcome is Outcome.ABORTED
    assert result.card_removed
