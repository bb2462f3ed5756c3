"""The host's asyncio server: it can be started from code that already runs an event loop
(the Textual cashier app starts an embedded host), and stops cleanly."""

from __future__ import annotations

import asyncio

from acquirer_client import messages as m
from acquirer_client.client import AcquirerClient, counter_stan_source
from hardware_sim.host import embedded_host
from hardware_sim.host.testcards import online_request

TERMINAL = m.TerminalIdentity("LOOP0001", "MERCHANT000001", "123456")


def test_a_host_started_inside_a_running_event_loop_serves() -> None:
    async def inside_a_loop() -> bool:
        with embedded_host(tls=True) as (sim, link):
            client = AcquirerClient(link, TERMINAL, counter_stan_source(1))
            with client:
                approved = await asyncio.to_thread(lambda: client.authorise(online_request()))
            return approved.approved and sim.ledger.net_charged("LOOP0001") == 1000

    assert asyncio.run(inside_a_loop())
