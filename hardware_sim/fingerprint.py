"""Simulated ZhianTec R30x / AS608 fingerprint sensor on a pty.

The sensor side of the ZhianTec packet protocol (R30x/AS608 user manual, "communication
protocol"): ``EF01 | address(4) | PID(1) | length(2) | payload | checksum(2)`` where the
checksum is the 16-bit sum of PID, length and payload bytes; PID 01 command, 02 data, 07
acknowledge, 08 last data packet.  Instructions served:

``13`` VfyPwd, ``0F`` ReadSysPara, ``1D`` TempleteNum, ``1F`` ReadIndexTable, ``01`` GenImg,
``02`` Img2Tz, ``05`` RegModel, ``06`` Store, ``07`` LoadChar, ``08`` UpChar (upload a
character file to the host), ``09`` DownChar (download one from the host), ``03`` Match,
``04`` Search, ``0C`` DeletChar, ``0D`` Empty.

Which finger lies on the glass comes from ``finger`` ("1" matching, "2"/"3" non-matching,
``None`` or "0" no finger; see data/fingerprints.json) or from a per-capture ``script``
(``"finger:N"``, ``"none"``, ``"garble"`` - the next answer has a bad checksum,
``"disconnect"`` - the cable is pulled).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable

from hardware_sim import fingerprint_library as lib
from hardware_sim.ptylink import PtyDevice, PtyDeviceSimulator

START = b"\xef\x01"
PID_COMMAND, PID_DATA, PID_ACK, PID_END = 0x01, 0x02, 0x07, 0x08
OK, ERR_PACKET, NO_FINGER, IMAGE_FAIL = 0x00, 0x01, 0x02, 0x03
NO_MATCH, NOT_FOUND, COMBINE_FAIL, BAD_PAGE = 0x08, 0x09, 0x0A, 0x0B
READ_TEMPLATE_FAIL, UPLOAD_FAIL, DOWNLOAD_FAIL = 0x0C, 0x0D, 0x0E
NO_IMAGE, WRONG_PASSWORD = 0x15, 0x13
PACKET_SIZE_CODE = 2  # 128-byte data packets
LIBRARY_SIZE = 1000


def checksum(pid: int, length: bytes, payload: bytes) -> bytes:
    return ((pid + sum(length) + sum(payload)) & 0xFFFF).to_bytes(2, "big")


def packet(address: bytes, pid: int, payload: bytes) -> bytes:
    length = (len(payload) + 2).to_bytes(2, "big")
    return START + address + bytes([pid]) + length + payload + checksum(pid, length, payload)


class SimulatedFingerprintSensor(PtyDeviceSimulator):
    def __init__(
        self,
        *,
        finger: str | None = "1",
        script: Iterable[str] = (),
        link_path: str | None = None,
        address: int = 0xFFFFFFFF,
        password: int = 0,
        seed: int | None = None,
    ) -> None:
        self.dev = PtyDevice(link_path)
        self.finger = finger
        self.script: deque[str] = deque(script)
        self.address = address.to_bytes(4, "big")
        self.password = password
        self.rng = random.Random(seed)
        self.library: dict[int, bytes] = {}
        self.char_buffers: dict[int, bytes] = {}
        self.image: bytes | None = None
        self.captures = 0
        self.bad_packets = 0
        self._garble_next = False
        self._init_thread("sim-fingerprint")

    def enrol(self, page: int, finger: str) -> None:
        """Store the reference template of ``finger`` at ``page`` (as after a real enrolment)."""
        self.library[page] = lib.reference_template(finger)

    # --- packets ----------------------------------------------------------------------
    def _read_packet(self, timeout: float) -> tuple[int, bytes] | None:
        while not self._stop.is_set() and not self.dev.unplugged:
            first = self.dev.read_byte(timeout)
            if first is None:
                return None
            if first != START[0]:
                continue
            raw = bytearray([first])
            while len(raw) < 9:
                b = self.dev.read_byte(1.0)
                if b is None:
                    return None
                raw.append(b)
            if raw[:2] != START:
                continue
            length = int.from_bytes(raw[7:9], "big")
            while len(raw) < 9 + length:
                b = self.dev.read_byte(1.0)
                if b is None:
                    return None
                raw.append(b)
            pid, payload, check = raw[6], bytes(raw[9 : 7 + length]), bytes(raw[7 + length :])
            if bytes(raw[2:6]) != self.address:
                continue  # addressed to another module on the bus: stay silent
            if check != checksum(pid, bytes(raw[7:9]), payload):
                self.bad_packets += 1
                if pid == PID_COMMAND:
                    self._ack(ERR_PACKET)
                continue
            return pid, payload
        return None

    def _write(self, pid: int, payload: bytes) -> None:
        raw = packet(self.address, pid, payload)
        if self._garble_next:
            self._garble_next = False
            raw = raw[:-1] + bytes([raw[-1] ^ 0xFF])
        self.dev.write(raw)

    def _ack(self, code: int, extra: bytes = b"") -> None:
        self._write(PID_ACK, bytes([code]) + extra)

    # --- instructions -----------------------------------------------------------------
    def _serve(self) -> None:
        handlers = {
            0x13: self._verify_password,
            0x0F: self._system_parameters,
            0x1D: lambda p: self._ack(OK, len(self.library).to_bytes(2, "big")),
            0x1F: self._index_table,
            0x01: self._gen_image,
            0x02: self._image_to_char,
            0x05: self._reg_model,
            0x06: self._store,
            0x07: self._load_char,
            0x08: self._up_char,
            0x09: self._down_char,
            0x03: self._match,
            0x04: self._search,
            0x0C: self._delete,
            0x0D: self._empty,
        }
        while not self._stop.is_set() and not self.dev.unplugged:
            got = self._read_packet(0.1)
            if got is None:
                continue
            pid, payload = got
            if pid != PID_COMMAND or not payload:
                continue
            handler = handlers.get(payload[0])
            if handler is None:
                self._ack(ERR_PACKET)
            else:
                handler(payload[1:])

    def _verify_password(self, p: bytes) -> None:
        ok = len(p) == 4 and int.from_bytes(p, "big") == self.password
        self._ack(OK if ok else WRONG_PASSWORD)

    def _system_parameters(self, p: bytes) -> None:
        params = (
            (0).to_bytes(2, "big")  # status register
            + (0x0009).to_bytes(2, "big")  # system identifier code
            + LIBRARY_SIZE.to_bytes(2, "big")
            + (3).to_bytes(2, "big")  # security level
            + self.address
            + PACKET_SIZE_CODE.to_bytes(2, "big")
            + (6).to_bytes(2, "big")  # baud rate N: 57600 = 9600 * 6
        )
        self._ack(OK, params)

    def _index_table(self, p: bytes) -> None:
        page = p[0] if p else 0
        bits = bytearray(32)
        for index in self.library:
            if page * 256 <= index < (page + 1) * 256:
                local = index - page * 256
                bits[local // 8] |= 1 << (local % 8)
        self._ack(OK, bytes(bits))

    def _gen_image(self, p: bytes) -> None:
        finger = self.finger
        while self.script:
            action = self.script.popleft()
            if action == "garble":
                self._garble_next = True
                continue
            if action == "disconnect":
                self.dev.unplug()
                return
            finger = None if action == "none" else action.partition(":")[2] or finger
            break
        if finger in (None, "", "0"):
            self.image = None
            self._ack(NO_FINGER)
            return
        self.captures += 1
        self.image = lib.capture_sample(str(finger), self.rng)
        self._ack(OK)

    def _image_to_char(self, p: bytes) -> None:
        if self.image is None:
            self._ack(NO_IMAGE)
            return
        self.char_buffers[p[0] if p else 1] = self.image
        self._ack(OK)

    def _reg_model(self, p: bytes) -> None:
        a, b = self.char_buffers.get(1), self.char_buffers.get(2)
        if a is None or b is None or not lib.matches(a, b):
            self._ack(COMBINE_FAIL)
            return
        self.char_buffers[1] = self.char_buffers[2] = a
        self._ack(OK)

    def _store(self, p: bytes) -> None:
        buffer, page = (p[0], int.from_bytes(p[1:3], "big")) if len(p) >= 3 else (0, -1)
        if buffer not in self.char_buffers or not 0 <= page < LIBRARY_SIZE:
            self._ack(BAD_PAGE)
            return
        self.library[page] = self.char_buffers[buffer]
        self._ack(OK)

    def _load_char(self, p: bytes) -> None:
        page = int.from_bytes(p[1:3], "big") if len(p) >= 3 else -1
        if page not in self.library:
            self._ack(READ_TEMPLATE_FAIL)
            return
        self.char_buffers[p[0]] = self.library[page]
        self._ack(OK)

    def _up_char(self, p: bytes) -> None:
        data = self.char_buffers.get(p[0] if p else 1)
        if data is None:
            self._ack(UPLOAD_FAIL)
            return
        self._ack(OK)
        size = 32 << PACKET_SIZE_CODE
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        for n, chunk in enumerate(chunks):
            self._write(PID_END if n == len(chunks) - 1 else PID_DATA, chunk)

    def _down_char(self, p: bytes) -> None:
        buffer = p[0] if p else 1
        self._ack(OK)
        data = bytearray()
        while True:
            got = self._read_packet(2.0)
            if got is None:
                return
            pid, payload = got
            data += payload
            if pid == PID_END:
                break
        self.char_buffers[buffer] = bytes(data)

    def _match(self, p: bytes) -> None:
        a, b = self.char_buffers.get(1, b""), self.char_buffers.get(2, b"")
        score = lib.match_score(a, b)
        if lib.matches(a, b):
            self._ack(OK, score.to_bytes(2, "big"))
        else:
            self._ack(NO_MATCH, b"\x00\x00")

    def _search(self, p: bytes) -> None:
        if len(p) < 5:
            self._ack(ERR_PACKET)
            return
        sample = self.char_buffers.get(p[0], b"")
        start, count = int.from_bytes(p[1:3], "big"), int.from_bytes(p[3:5], "big")
        best = max(
            ((lib.match_score(sample, t), page) for page, t in self.library.items()
             if start <= page < start + count),
            default=(0, -1),
        )  # fmt: skip
        if best[1] >= 0 and best[0] >= int(lib.library()["match_threshold"]):
            self._ack(OK, best[1].to_bytes(2, "big") + best[0].to_bytes(2, "big"))
        else:
            self._ack(NOT_FOUND, b"\x00\x00\x00\x00")

    def _delete(self, p: bytes) -> None:
        start, count = int.from_bytes(p[0:2], "big"), int.from_bytes(p[2:4], "big")
        for page in range(start, start + count):
            self.library.pop(page, None)
        self._ack(OK)

    def _empty(self, p: bytes) -> None:
        self.library.clear()
        self._ack(OK)
