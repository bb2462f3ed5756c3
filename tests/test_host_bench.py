"""``pos bench host`` (``hardware_sim.host.bench``): runs echo and host, prints both and the
ratio; figures are never asserted, only that every request was answered and reported."""

from __future__ import annotations

import pytest

from hardware_sim.host import bench


def test_bench_runs_echo_and_host_and_reports_the_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--clients", "2", "--requests", "6", "--runs", "1", "--plain"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "target",
        "clients",
        "req",
        "auth/s",
        "p50",
        "ms",
        "p99",
        "ms",
        "cpu",
        "us/req",
    ]
    rows = [line.split() for line in out[1:3]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("echo", "2", "6"), ("host", "2", "6")]
    assert out[3].startswith("host/echo throughput at 2 clients: ")


@pytest.mark.parametrize(
    "args",
    [["--clients", "0"], ["--clients", "a,b"], ["--runs", "0"], ["--requests", "-1"]],
)
def test_bench_refuses_bad_arguments_in_one_sentence(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: ") and err.count("\n") == 0


def test_pos_bench_host_passes_runs_and_memory_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    from terminal.cli import main

    argv = ["bench", "host", "--clients", "1", "--requests", "4", "--runs", "1", "--plain"]
    assert main([*argv, "--memory-ledger"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:3]]
    assert [(r[0], r[2]) for r in rows] == [("echo", "4"), ("host", "4")]


def test_a_client_that_cannot_connect_fails_the_run_in_one_sentence() -> None:
    from acquirer_client.link import LinkConfig

    link = LinkConfig("127.0.0.1", 9, plain_tcp=True, connect_timeout=0.5)  # discard: closed
    with pytest.raises(RuntimeError, match="benchmark clients failed"):
        bench._drive(link, [[b"x"], [b"y"]])
