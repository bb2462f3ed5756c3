"""Start and stop a pcscd (pcsc-lite) with vsmartcard vpcd reader slots, for tests and demos.

pcsc-lite has one fixed daemon socket, ``/run/pcscd/pcscd.comm``, so normally only one
pcscd can run per machine.  Two modes are offered:

* **private** (default when root may ``unshare`` a mount namespace): pcscd runs in its own
  mount namespace where a temporary folder is bind-mounted over ``/run``.  Its socket is
  then an ordinary file in that folder, which clients reach by setting the environment
  variable ``PCSCLITE_CSOCK_NAME`` (read by libpcsclite, pcsc-lite ``winscard_msg.c``).
  Several private daemons (one per test worker, one per demo) never collide, and a system
  pcscd serving real USB readers is left alone.  libpcsclite reads the variable once per
  process, so a process can be the client of one socket path only: :meth:`start` sets the
  variable in ``os.environ`` and the path is fixed per process (``/tmp/pos-pcscd-<pid>``).
* **system**: pcscd on the standard socket.  An already running pcscd is reused when it
  already offers our reader; otherwise :meth:`start` fails with one clear sentence.

``private=None`` (auto) follows ``POS_PCSCD_PRIVATE=0/1`` when set, else uses private mode
when possible.  The daemon gets SIGTERM if the thread that started it dies
(``PR_SET_PDEATHSIG``), so start it from a thread that outlives it (normally the main one).

Readers come from a ``reader.conf`` in a private folder passed with ``pcscd -f -c DIR``
(``FRIENDLYNAME``, ``DEVICENAME /dev/null:0xPORT``, ``LIBPATH .../libifdvpcd.so``,
``CHANNELID 0xPORT``).  The vpcd driver opens two slots, ``NAME 00 00`` on TCP ``port``
and ``NAME 00 01`` on ``port + 1``; the card end is :class:`hardware_sim.vpcd.VpcdCardConnector`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SYSTEM_RUN_DIR = Path("/run/pcscd")
SYSTEM_SOCKET = SYSTEM_RUN_DIR / "pcscd.comm"
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
PRIVATE_ENV = "POS_PCSCD_PRIVATE"  # "0" forces system mode, "1" private mode (default: auto)
# Private daemons' vpcd slots: away from the packaged 35963/35964 and below Linux's
# ephemeral range (32768-60999 by default), so that no outgoing connection or bind(0) of a
# parallel process can take a port between our free-port check and vpcd's bind.
DEFAULT_PORT = 24000
PORT_RANGE = range(24000, 25000, 2)
MINIMAL_T1_ATR = bytes.fromhex("3B80800101")


class PcscDaemonError(RuntimeError):
    """pcscd could not be started, reached or stopped; the message says what to do."""


def private_socket_path() -> Path:
    """The one socket path this process uses for private daemons (see module docstring)."""
    return (
        Path(tempfile.gettempdir()) / f"pos-pcscd-{os.getpid()}" / "run" / "pcscd" / ("pcscd.comm")
    )


@functools.cache
def private_mode_possible() -> bool:
    """Can this process start pcscd in its own mount namespace (root + ``unshare`` + mount)?

    Probed with a throw-away ``unshare`` before any PC/SC call: libpcsclite fixes its socket
    path at the first call, so falling back after a failed private start would be too late.
    """
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(  # noqa: S603 - fixed argv
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "mount",
            "--bind",
            tempfile.gettempdir(),
            "/run",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        timeout=30,
    )
    return probe.returncode == 0


def free_port_pair(ports: range = PORT_RANGE) -> int:
    """A port P in ``ports`` with P and P+1 both free on all interfaces (vpcd binds both).

    Racy between processes; :class:`PcscDaemon` with ``port=0`` reserves the pair under a
    lock file instead (see :func:`reserve_port_pair`).
    """
    for port in ports:
        if _port_free(port) and _port_free(port + 1):
            return port
    raise PcscDaemonError(f"No free TCP port pair for vpcd between {ports.start} and {ports.stop}.")


def reserve_port_pair(ports: range = PORT_RANGE) -> tuple[int, IO[bytes]]:
    """A free port pair plus an open, ``flock``-ed lock file that keeps it ours.

    Parallel test workers start their daemons at the same instant; the lock stops two of
    them from choosing the same pair before either pcscd has bound it.
    """
    lock_dir = Path(tempfile.gettempdir()) / "pos-vpcd-ports"
    lock_dir.mkdir(exist_ok=True)
    for port in ports:
        handle = open(lock_dir / f"{port}.lock", "wb")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        if _port_free(port) and _port_free(port + 1):
            return port, handle
        handle.close()
    raise PcscDaemonError(f"No free TCP port pair for vpcd between {ports.start} and {ports.stop}.")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - vpcd itself binds all interfaces
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def system_pcscd_pid() -> int | None:
    """PID of a pcscd serving the standard socket, or None."""
    try:
        pid = int((SYSTEM_RUN_DIR / "pcscd.pid").read_text().strip("\x00 \n"))
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def list_readers() -> list[str]:
    """Readers the current process's pcscd offers; [] when pcscd cannot be reached."""
    from smartcard import scard

    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return []
    try:
        hresult, names = scard.SCardListReaders(context, [])
        return [str(n) for n in names] if hresult == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)


_private_owner: PcscDaemon | None = None  # the one private daemon this process may run


class PcscDaemon:
    """A pcscd with one vpcd reader (two slots) named after ``reader_name``."""

    def __init__(
        self,
        reader_name: str = "POS Sim",
        port: int = DEFAULT_PORT,
        *,
        private: bool | None = None,
        log_apdus: bool = False,
        pcscd: str = "pcscd",
    ) -> None:
        if not reader_name or not reader_name.isprintable() or '"' in reader_name:
            raise ValueError(f"reader name {reader_name!r} must be printable, without quotes")
        if port != 0 and not 1024 <= port <= 0xFFFE:
            raise ValueError(f"vpcd port {port} is outside 1024-65534 (0 picks a free pair)")
        self._auto_port = port == 0
        self._port_lock: IO[bytes] | None = None
        self.reader_name = reader_name
        self.port = port
        self.private = private
        self.log_apdus = log_apdus
        self.pcscd = pcscd
        self.reader_names = [f"{reader_name} 00 00", f"{reader_name} 00 01"]  # vpcd's 2 slots
        self.reused = False
        self.socket_path: Path = SYSTEM_SOCKET
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._conf_dir: Path | None = None
        self._run_root: Path | None = None

    # --- public API --------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self.reused or (self._proc is not None and self._proc.poll() is None)

    def slot_port(self, slot: int = 0) -> int:
        """TCP port of reader slot ``slot`` (0 or 1), where a card end connects."""
        return self.port + slot

    def client_env(self) -> dict[str, str]:
        """Environment a child process (e.g. ``pos pay``) needs to reach this daemon."""
        return {SOCKET_ENV: str(self.socket_path)} if self.socket_path != SYSTEM_SOCKET else {}

    def start(self, timeout: float = 10) -> None:
        """Start pcscd and wait until pyscard lists our reader."""
        if self.running:
            return
        if not VPCD_DRIVER.exists():
            raise PcscDaemonError(
                f"The vpcd driver {VPCD_DRIVER} is missing; install it with "
                "'apt-get install pcscd vsmartcard-vpcd'."
            )
        if shutil.which(self.pcscd) is None:
            raise PcscDaemonError(
                "pcscd is not installed; install it with 'apt-get install pcscd'."
            )
        if self._auto_port and self._port_lock is None:
            self.port, self._port_lock = reserve_port_pair()
        private = self.private
        if private is None and os.environ.get(PRIVATE_ENV) in ("0", "1"):
            private = os.environ[PRIVATE_ENV] == "1"
        if private is None:
            private = private_mode_possible()
        if private:
            self._start_private(timeout)
        else:
            self._start_system(timeout)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, wait; SIGKILL if it hangs; return only when the PID is gone."""
        if self._port_lock is not None and (self.reused or self._proc is None):
            self._release_port()
        if self.reused:
            self.reused = False
            return
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
            deadline = time.monotonic() + timeout
            while pid_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        if self._conf_dir is not None:
            shutil.rmtree(self._conf_dir, ignore_errors=True)
            self._conf_dir = None
        if self._run_root is not None:
            shutil.rmtree(self._run_root, ignore_errors=True)
            self._run_root = None
        self._release_port()

    def _release_port(self) -> None:
        if self._port_lock is not None:
            self._port_lock.close()
            self._port_lock = None

    def wait_for_readers(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            seen = list_readers()
            if all(name in seen for name in self.reader_names):
                return
            if self._proc is not None and self._proc.poll() is not None:
                raise PcscDaemonError(f"pcscd exited at start-up: {self._log_tail()}")
            if time.monotonic() >= deadline:
                hint = ""
                if self.socket_path != SYSTEM_SOCKET:
                    hint = (
                        f" (this process must reach it through {SOCKET_ENV}={self.socket_path}"
                        " set before its first PC/SC call)"
                    )
                raise PcscDaemonError(
                    f"pcscd did not list reader '{self.reader_names[0]}' within {timeout:g} s"
                    f"{hint}; readers seen: {', '.join(seen) or 'none'}; pcscd says: "
                    f"{self._log_tail()}"
                )
            time.sleep(0.05)

    def __enter__(self) -> PcscDaemon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- internals ---------------------------------------------------------------------

    def _write_conf(self) -> Path:
        conf_dir = Path(tempfile.mkdtemp(prefix="pos-pcscd-conf-"))
        (conf_dir / "reader.conf").write_text(
            f'FRIENDLYNAME "{self.reader_name}"\n'
            f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    0x{self.port:04X}\n"
        )
        self._conf_dir = conf_dir
        self.log_path = conf_dir / "pcscd.log"
        return conf_dir

    def _pcscd_args(self, conf_dir: Path) -> list[str]:
        args = [self.pcscd, "-f", "-c", str(conf_dir)]
        if self.log_apdus:
            args.append("-a")
        return args

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        assert self.log_path is not None  # noqa: S101 - set by _write_conf
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell input
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, async-signal-safe
            )

    def _start_private(self, timeout: float) -> None:
        global _private_owner
        if _private_owner is not None and _private_owner is not self and _private_owner.running:
            raise PcscDaemonError(
                f"This process already runs a private pcscd (pid {_private_owner.pid}); "
                "reuse it or stop it first."
            )
        socket_path = private_socket_path()
        run_root = socket_path.parent.parent
        current = os.environ.get(SOCKET_ENV)
        if current not in (None, str(socket_path)):
            raise PcscDaemonError(
                f"{SOCKET_ENV} is already set to {current} in this process; a private pcscd "
                "needs its own socket path."
            )
        shutil.rmtree(run_root.parent, ignore_errors=True)
        run_root.mkdir(parents=True)
        self._run_root = run_root.parent
        conf_dir = self._write_conf()
        pcscd_cmd = " ".join(_sh_quote(a) for a in self._pcscd_args(conf_dir))
        script = f"mount --bind {_sh_quote(str(run_root))} /run && exec {pcscd_cmd}"
        self._spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
        os.environ[SOCKET_ENV] = str(socket_path)
        self.socket_path = socket_path
        _private_owner = self
        try:
            self.wait_for_readers(timeout)
        except BaseException:
            self.stop()
            del os.environ[SOCKET_ENV]
            self.socket_path = SYSTEM_SOCKET
            raise

    def _start_system(self, timeout: float) -> None:
        if os.environ.get(SOCKET_ENV) not in (None, str(SYSTEM_SOCKET)):
            raise PcscDaemonError(
                f"{SOCKET_ENV} points this process at {os.environ[SOCKET_ENV]}, not the system "
                "pcscd socket; unset it to use the system pcscd."
            )
        self.socket_path = SYSTEM_SOCKET
        other = system_pcscd_pid()
        if other is not None:
            if all(name in list_readers() for name in self.reader_names):
                self.reused = True
                return
            raise PcscDaemonError(
                f"Another pcscd (pid {other}) is already running without the "
                f"'{self.reader_names[0]}' reader; stop it (kill {other}) or run as root so a "
                "private pcscd can be started."
            )
        conf_dir = self._write_conf()
        self._spawn(self._pcscd_args(conf_dir))
        try:
            self.wait_for_readers(timeout)
        except BaseException:
            self.stop()
            raise

    def _log_tail(self) -> str:
        if self.log_path is None:
            return "no log"
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no output"


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM pcscd if the process that started it dies.

    A test worker killed by a CI timeout must not leave a daemon holding the vpcd ports.
    PR_SET_PDEATHSIG survives ``exec`` (unshare -> sh -> pcscd all exec in place).
    """
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _sh_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# --- card presence, as pcscd sees it ----------------------------------------------------


def wait_card_presence(reader: str, present: bool, timeout: float = 10) -> None:
    """Block until pcscd reports the card in ``reader`` as present/absent (no fixed sleeps).

    Uses SCardGetStatusChange, so it returns as soon as pcscd's poll notices the change.
    """
    from smartcard import scard

    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise PcscDaemonError(f"Cannot reach pcscd: {scard.SCardGetErrorMessage(hresult)}.")
    try:
        deadline = time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                word = "inserted" if present else "removed"
                raise PcscDaemonError(f"pcscd did not see the card {word} in '{reader}'.")
            hresult, states = scard.SCardGetStatusChange(
                context, int(min(remaining, 1.0) * 1000), [(reader, state)]
            )
            if hresult == scard.SCARD_E_TIMEOUT:
                continue
            if hresult != scard.SCARD_S_SUCCESS:
                raise PcscDaemonError(
                    f"Cannot watch reader '{reader}': {scard.SCardGetErrorMessage(hresult)}."
                )
            _name, event_state, _atr = states[0]
            is_present = bool(event_state & scard.SCARD_STATE_PRESENT)
            if is_present == present:
                return
            state = event_state & ~scard.SCARD_STATE_CHANGED
    finally:
        scard.SCardReleaseContext(context)


# --- benchmark ----------------------------------------------------------------------------


class EchoCard:
    """Minimal card for the benchmark: answers every command with its data + 9000."""

    atr = MINIMAL_T1_ATR

    def power_on(self) -> None:
        return None

    def process(self, apdu: bytes) -> bytes:
        data = apdu[5 : 5 + apdu[4]] if len(apdu) > 5 else b""
        return data + b"\x90\x00"


def bench_pcsc(
    n: int = 2000, *, quickack: bool = True, daemon: PcscDaemon | None = None, slot: int = 0
) -> float:
    """APDUs per second through pyscard -> pcscd -> vpcd -> simulated card (one process).

    Starts a private pcscd when ``daemon`` is not given.  Not a test: a command-line figure.
    """
    from smartcard import scard

    from hardware_sim.vpcd import VpcdCardConnector

    own = daemon is None
    if daemon is None:
        daemon = PcscDaemon("POS Bench", 0)
        daemon.start()
    card = VpcdCardConnector(EchoCard(), port=daemon.slot_port(slot), quickack=quickack)
    reader = daemon.reader_names[slot]
    context: Any = None
    handle: Any = None
    try:
        card.insert()
        wait_card_presence(reader, True)
        _hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        hresult, handle, protocol = scard.SCardConnect(
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            raise PcscDaemonError(f"Cannot connect: {scard.SCardGetErrorMessage(hresult)}.")
        apdu = list(bytes.fromhex("00CA9F3600"))
        started = time.perf_counter()
        for _ in range(n):
            hresult, _response = scard.SCardTransmit(handle, protocol, apdu)
            if hresult != scard.SCARD_S_SUCCESS:
                raise PcscDaemonError(f"Transmit failed: {scard.SCardGetErrorMessage(hresult)}.")
        elapsed = time.perf_counter() - started
        return n / elapsed
    finally:
        if handle is not None:
            with contextlib.suppress(Exception):
                scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
        if context is not None:
            with contextlib.suppress(Exception):
                scard.SCardReleaseContext(context)
        if card.inserted:
            card.remove()
            wait_card_presence(reader, False)
        if own:
            daemon.stop()


__all__ = [
    "PcscDaemon",
    "PcscDaemonError",
    "bench_pcsc",
    "free_port_pair",
    "reserve_port_pair",
    "wait_card_presence",
]
