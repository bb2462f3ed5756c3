"""DE 64/128 MAC under a per-transaction key, end to end against the host."""

from __future__ import annotations

from datetime import datetime

import pytest

from acquirer_client import mac
from acquirer_client import messages as m
from acquirer_client.client import AcquirerClient, counter_stan_source
from emv.ports import OnlineUnavailable
from hardware_sim.host import HostConfig, embedded_host
from hardware_sim.host.config import default_rules
from hardware_sim.host.testcards import online_request

TERMINAL = m.TerminalIdentity("TERM0001", "MERCHANT000001", "123456")
WHEN = datetime(2026, 11, 24, 9, 0, 0)
KEY = bytes.fromhex(default_rules()["mac_keys"]["default"])


def test_sign_verify_and_field_choice() -> None:
    req = m.card_request(online_request(), TERMINAL, 5, WHEN)
    raw = mac.sign(KEY, req)
    assert "64" in mac.verify(KEY, raw)
    rev_raw = mac.sign(KEY, m.reversal_request(req, WHEN))
    assert "128" in mac.verify(KEY, rev_raw)
    tampered = bytearray(raw)
    tampered[raw.index(b"000000001000")] = ord("9")
    with pytest.raises(m.MessageError, match="MAC"):
        mac.verify(KEY, bytes(tampered))
    with pytest.raises(m.MessageError, match="MAC"):
        mac.verify(KEY, raw, response=True)  # a request MAC is not a response MAC
    with pytest.raises(m.MessageError, match="no MAC"):
        mac.verify(KEY, m.encode(req))


def test_key_differs_per_transaction() -> None:
    a = m.card_request(online_request(), TERMINAL, 5, WHEN)
    b = m.card_request(online_request(), TERMINAL, 6, WHEN)
    assert mac.transaction_key(KEY, a, response=False) != mac.transaction_key(
        KEY, b, response=False
    )


def test_maced_approval_and_reversal() -> None:
    with embedded_host() as (sim, link):
        client = AcquirerClient(link, TERMINAL, counter_stan_source(), mac_key=KEY)
        assert client.authorise(online_request(amount_minor=800)).approved
        client.reverse_last()
        assert client.reversals.due() == []
        assert sim.ledger.net_charged() == 0 and sim.mac_failures == 0
        client.close()


def test_wrong_mac_key_moves_no_money() -> None:
    with embedded_host(read_timeout=3.0, overall_timeout=5.0) as (sim, link):
        client = AcquirerClient(link, TERMINAL, counter_stan_source(), mac_key=bytes(16))
        with pytest.raises(OnlineUnavailable, match="MAC"):
            client.authorise(online_request())
        assert sim.mac_failures >= 1
        assert sim.ledger.net_charged() == 0
        client.close()


def test_host_requiring_mac_declines_unmaced() -> None:
    config = HostConfig().with_rules(require_mac=True)
    with embedded_host(config=config) as (sim, link):
        client = AcquirerClient(link, TERMINAL, counter_stan_source())
        assert client.authorise(online_request()).response_code == "63"
        assert sim.ledger.rows() == []
        client.close()
