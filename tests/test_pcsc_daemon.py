"""pcscd lifecycle and the 'no pcscd' / 'other pcscd' errors, each in its own process.

libpcsclite picks its daemon socket once per process, so scenarios that need a different
daemon than the session one run in a child Python process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hardware_sim.pcscd import SYSTEM_SOCKET, PcscDaemon, PcscDaemonError, list_readers
from terminal.readers.pcsc import resolve_reader_name
from tests import pcsc_harness

pytestmark = [pytest.mark.pcsc, pytest.mark.xdist_group("pcscd")]

pcsc_daemon = pcsc_harness.pcsc_daemon

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, env: dict[str, str] | None = None, prefix: list[str] | None = None):
    full_env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
    full_env.update(env or {})
    argv = [*(prefix or []), sys.executable, "-c", textwrap.dedent(code)]
    done = subprocess.run(  # noqa: S603 - test helper, fixed argv
        argv, capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_pcscd_gives_empty_list_and_one_sentence(tmp_path: Path) -> None:
    out = run_python(
        """
        import json
        from emv.errors import CardTransportError
        from terminal.readers.pcsc import PcscReader, list_pcsc_readers, pcsc_reader_states
        readers = list_pcsc_readers()
        states, states_reason = pcsc_reader_states()
        errors = []
        for name in (None, "POS Sim"):
            try:
                PcscReader(name)
            except CardTransportError as exc:
                errors.append(str(exc))
        print(json.dumps({"readers": list(readers), "reason": readers.reason, "errors": errors,
                          "states": states, "states_reason": states_reason}))
        """,
        env={"PCSCLITE_CSOCK_NAME": str(tmp_path / "no-daemon" / "pcscd.comm")},
    )
    assert out["readers"] == []
    assert out["reason"].startswith("The PC/SC service pcscd cannot be reached (")
    assert out["reason"].endswith(
        "); start it with 'sudo systemctl start pcscd' (or run 'pcscd') and check the reader "
        "is plugged in."
    )
    assert "0x8010001D" in out["reason"]  # SCARD_E_NO_SERVICE
    assert out["errors"][0] == out["reason"]
    assert (out["states"], out["states_reason"]) == ([], out["reason"])
    assert "(Service not available, 0x8010001D)" in out["reason"]
    assert out["errors"][1] == out["reason"]  # unreachable pcscd wins over the name


def test_a_pcscd_that_never_answers_gives_one_sentence_not_a_hang(tmp_path: Path) -> None:
    """A daemon that accepts the connection and then stays silent (the hang once seen with a
    reader driver stuck in its start-up): listing, states and opening a reader all give up
    with the same sentence instead of blocking the caller for ever."""
    sock_path = tmp_path / "silent" / "pcscd.comm"
    out = run_python(
        f"""
        import json, socket, threading
        from emv.errors import CardTransportError
        from terminal.readers import pcsc
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        import os; os.makedirs({str(sock_path.parent)!r})
        silent.bind({str(sock_path)!r}); silent.listen(8)
        held = []
        threading.Thread(target=lambda: [held.append(silent.accept()) for _ in range(8)],
                         daemon=True).start()
        pcsc.ESTABLISH_TIMEOUT_SECONDS = 0.5
        readers = pcsc.list_pcsc_readers()
        states, states_reason = pcsc.pcsc_reader_states()
        try:
            pcsc.PcscReader(None)
            error = None
        except CardTransportError as exc:
            error = str(exc)
        print(json.dumps({{"readers": list(readers), "reason": readers.reason,
                          "states": states, "states_reason": states_reason, "error": error,
                          "connections": len(held)}}))
        """,
        env={"PCSCLITE_CSOCK_NAME": str(sock_path)},
    )
    sentence = (
        "The PC/SC service pcscd did not answer within 0.5 s; restart it with "
        "'sudo systemctl restart pcscd' and try again."
    )
    assert out["readers"] == [] and out["reason"] == sentence
    assert (out["states"], out["states_reason"]) == ([], sentence)
    assert out["error"] == sentence
    assert out["connections"] >= 1  # the client did reach the silent daemon


@pytest.mark.slow
def test_private_daemon_start_stop_leaves_no_process() -> None:
    out = run_python(
        """
        import json, os
        from hardware_sim.pcscd import (PcscDaemon, PcscDaemonError, free_port_pair,
                                        list_readers, pid_alive)
        daemon = PcscDaemon("Life Sim", free_port_pair(range(25000, 25500, 2)), private=True)
        daemon.start(timeout=30)
        pid, socket_path = daemon.pid, daemon.socket_path
        listed = list_readers()
        try:
            PcscDaemon("Second Sim", daemon.port + 2, private=True).start()
            second = "started"
        except PcscDaemonError as exc:
            second = str(exc)
        daemon.stop()
        print(json.dumps({
            "listed": listed, "alive": pid_alive(pid), "after": list_readers(),
            "socket_left": socket_path.exists(), "env": os.environ.get("PCSCLITE_CSOCK_NAME"),
            "second": second, "pid": pid,
        }))
        """
    )
    assert out["listed"] == ["Life Sim 00 00", "Life Sim 00 01"]
    assert out["alive"] is False
    assert out["after"] == []
    assert out["socket_left"] is False
    assert out["env"].endswith("/run/pcscd/pcscd.comm")
    assert out["second"] == (
        f"This process already runs a private pcscd (pid {out['pid']}); reuse it or stop it first."
    )


@pytest.mark.slow
def test_system_mode_reuses_our_pcscd_and_refuses_a_foreign_one(
    pcsc_daemon: PcscDaemon,
) -> None:
    """In a throw-away mount namespace (fresh /run), so the machine's pcscd is untouched.

    Where namespaces are not allowed (a container without CAP_SYS_ADMIN) the session daemon
    itself runs in system mode, and the same two checks run against it in this process.
    """
    if pcsc_daemon.socket_path == SYSTEM_SOCKET:
        again = PcscDaemon("POS Sim", pcsc_daemon.port, private=False)
        again.start()
        assert again.reused and again.pid is None
        again.stop()
        assert "POS Sim 00 00" in list_readers()
        with pytest.raises(PcscDaemonError, match=r"^Another pcscd \(pid \d+\) is already"):
            PcscDaemon("Other Sim", pcsc_daemon.port + 2, private=False).start()
        return
    out = run_python(
        """
        import json
        from hardware_sim.pcscd import (PcscDaemon, PcscDaemonError, free_port_pair,
                                        list_readers, pid_alive)
        port = free_port_pair(range(25500, 26000, 2))
        ours = PcscDaemon("Sys Sim", port, private=False)
        ours.start(timeout=30)
        again = PcscDaemon("Sys Sim", port, private=False)
        again.start()
        foreign = PcscDaemon("Other Sim", port + 2, private=False)
        try:
            foreign.start()
            refused = "started"
        except PcscDaemonError as exc:
            refused = str(exc)
        again.stop()
        still = list_readers()
        pid = ours.pid
        ours.stop()
        print(json.dumps({"reused": again.reused, "again_pid": again.pid, "pid": pid,
                          "refused": refused, "still": still, "alive": pid_alive(pid)}))
        """,
        prefix=[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -t tmpfs tmpfs /run && exec "$@"',
            "sh",
        ],
    )
    assert out["again_pid"] is None  # the second instance started nothing
    assert out["still"] == ["Sys Sim 00 00", "Sys Sim 00 01"]  # stop() of a reuser is a no-op
    assert out["refused"] == (
        f"Another pcscd (pid {out['pid']}) is already running without the 'Other Sim 00 00' "
        f"reader; stop it (kill {out['pid']}) or run as root so a private pcscd can be started."
    )
    assert out["alive"] is False


def test_start_without_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from hardware_sim import pcscd

    monkeypatch.setattr(pcscd, "VPCD_DRIVER", Path("/nonexistent/libifdvpcd.so"))
    with pytest.raises(PcscDaemonError, match="apt-get install pcscd vsmartcard-vpcd"):
        PcscDaemon("X", 40990).start()


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (None, "ACS ACR38U 00 00"),
        ("ACS ACR122U PICC Interface 01 00", "ACS ACR122U PICC Interface 01 00"),
        ("ACS ACR122U", "ACS ACR122U PICC Interface 01 00"),
        ("omnikey", "HID Global OMNIKEY 3x21 Smart Card Reader 02 00"),
    ],
)
def test_reader_name_resolution(wanted: str | None, expected: str) -> None:
    available = [
        "ACS ACR38U 00 00",
        "ACS ACR122U PICC Interface 01 00",
        "HID Global OMNIKEY 3x21 Smart Card Reader 02 00",
    ]
    assert resolve_reader_name(wanted, available) == expected


def test_serve_forever_keeps_card_in_until_stopped(pcsc_daemon: PcscDaemon) -> None:
    """What `pos sim card PROFILE --vpcd PORT` runs: insert, serve, remove on stop."""
    import threading

    from hardware_sim.pcscd import EchoCard, wait_card_presence
    from hardware_sim.vpcd import VpcdCardConnector
    from terminal.readers.pcsc import PcscReader

    reader_name = pcsc_daemon.reader_names[0]
    connector = VpcdCardConnector(EchoCard(), port=pcsc_daemon.slot_port(0))
    stop = threading.Event()
    server = threading.Thread(target=connector.serve_forever, args=(stop,), daemon=True)
    server.start()
    try:
        wait_card_presence(reader_name, True, 15)
        with PcscReader(reader_name) as reader:
            reader.wait_for_card(10)
            assert reader.transmit(bytes.fromhex("00EE000002CAFE")) == bytes.fromhex("CAFE9000")
    finally:
        stop.set()
        server.join(timeout=10)
    assert not server.is_alive()
    wait_card_presence(reader_name, False, 15)
