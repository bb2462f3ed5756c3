"""Batch close: reconciliation per currency and batch upload when the host disagrees."""

from __future__ import annotations

from datetime import datetime

from acquirer_client import messages as m
from acquirer_client.client import AcquirerClient, counter_stan_source
from acquirer_client.settlement import batch_totals, settle
from emv.ports import FixedClock
from hardware_sim.host import embedded_host
from hardware_sim.host.testcards import online_request

TERMINAL = m.TerminalIdentity("TERM0001", "MERCHANT000001", "123456")
WHEN = datetime(2026, 11, 24, 9, 0, 0)


def test_batch_totals_per_currency() -> None:
    records = [
        m.card_request(online_request(amount_minor=1000), TERMINAL, 1, WHEN),
        m.card_request(online_request(amount_minor=300, transaction_type=0x20), TERMINAL, 2, WHEN),
        m.card_request(online_request(amount_minor=250, currency_numeric=840), TERMINAL, 3, WHEN),
    ]
    totals = batch_totals(records)
    assert totals[978] == m.CurrencyTotals(978, 1, 300, 1, 1000)
    assert totals[978].net_amount == 700
    assert totals[840] == m.CurrencyTotals(840, 0, 0, 1, 250)


def test_settle_in_balance_then_out_of_balance_with_upload() -> None:
    with embedded_host() as (sim, link):
        client = AcquirerClient(link, TERMINAL, counter_stan_source(), clock=FixedClock(WHEN))
        records = []
        for i, (amount, tt, cur) in enumerate(
            [(1000, 0x00, 978), (400, 0x20, 978), (250, 0x00, 840)], start=1
        ):
            assert client.authorise(
                online_request(
                    amount_minor=amount, transaction_type=tt, currency_numeric=cur, atc=i
                )
            ).approved
            assert client.last_request is not None
            records.append(client.last_request)
        results = settle(client, 1, records)
        assert [(r.currency_numeric, r.in_balance, r.uploaded) for r in results] == [
            (840, True, 0),
            (978, True, 0),
        ]
        # batch 2: an offline approval whose advice never reached the host
        lost = m.card_request(online_request(amount_minor=600, atc=9), TERMINAL, 77, WHEN, "0220")
        ok = client.authorise(online_request(amount_minor=100, atc=10))
        assert ok.approved and client.last_request is not None
        results = settle(client, 2, [client.last_request, lost])
        assert [(r.currency_numeric, r.in_balance, r.uploaded) for r in results] == [(978, True, 2)]
        assert sim.ledger.net_charged() == 1000 - 400 + 250 + 100 + 600
        client.close()
