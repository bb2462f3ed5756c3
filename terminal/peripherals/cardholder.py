"""The kernel's cardholder port backed by real (or simulated) serial peripherals.

:class:`DeviceCardholder` answers PIN prompts on the serial PIN pad and biometric prompts
on the fingerprint sensor; everything else (application choice, messages) behaves like
:class:`terminal.cardholder.ScriptedCardholder`.  A device failure never escapes as a
traceback: it becomes the PIN pad / sensor "not working" outcome the kernel understands
(Book 3 10.5: TVR "PIN pad not present or not working" and the next CVM), and the reason
is kept in :attr:`device_errors` for the cashier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emv.ports import (
    BiometricCapture,
    BiometricCaptureStatus,
    BiometricRequest,
    PinEntry,
    PinEntryStatus,
    PinRequest,
)
from terminal.cardholder import ScriptedCardholder
from terminal.peripherals.link import PeripheralError

CAPTURE_TIMEOUT_S = 15.0  # how long the cardholder has to put a finger on the glass


class DeviceCardholder(ScriptedCardholder):
    def __init__(
        self,
        *,
        pinpad: Any | None = None,
        fingerprint: Any | None = None,
        biometric_sealer: Callable[[bytes], bytes] | None = None,
        fallback_pin: str | None = None,
        pin_timeout_s: int = 30,
        capture_timeout_s: float | None = None,
        application_index: int = 0,
        online_pin_encryptor: Any | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(
            fallback_pin,
            application_index=application_index,
            online_pin_encryptor=online_pin_encryptor,
            on_message=on_message,
        )
        self.pinpad = pinpad
        self.fingerprint = fingerprint
        self.biometric_sealer = biometric_sealer
        self.pin_timeout_s = pin_timeout_s
        self.capture_timeout_s = capture_timeout_s
        self.device_errors: list[str] = []

    def _device_failed(self, exc: PeripheralError) -> None:
        self.device_errors.append(str(exc))
        if self.on_message:
            self.on_message(f"DEVICE_ERROR: {exc}")

    # --- PIN --------------------------------------------------------------------------
    def request_pin(self, request: PinRequest) -> PinEntry:
        if self.pinpad is None:
            return super().request_pin(request)
        self.pin_prompts += 1
        try:
            return self.pinpad.request_pin(request, timeout_s=self.pin_timeout_s)  # type: ignore[no-any-return]
        except PeripheralError as exc:
            self._device_failed(exc)
            return PinEntry(PinEntryStatus.PAD_NOT_WORKING)

    # --- biometrics (emv.ports.BiometricInterface) ---------------------------------------
    def biometric_types(self) -> frozenset[int]:
        """CVM codes this terminal can perform: finger offline (08) and online (09)."""
        if self.fingerprint is None:
            return frozenset()
        online = {0x09} if self.biometric_sealer is not None else set()
        return frozenset({0x08} | online)

    def capture_biometric(self, request: BiometricRequest) -> BiometricCapture:
        if self.fingerprint is None or request.cvm_code not in self.biometric_types():
            return BiometricCapture(BiometricCaptureStatus.TYPE_NOT_SUPPORTED)
        try:
            timeout = min(request.timeout_s, self.capture_timeout_s or CAPTURE_TIMEOUT_S)
            template = self.fingerprint.capture_template(timeout_s=timeout)
        except PeripheralError as exc:
            self._device_failed(exc)
            return BiometricCapture(BiometricCaptureStatus.CAPTURE_FAILED)
        if template is None:
            return BiometricCapture(BiometricCaptureStatus.CAPTURE_FAILED)
        if request.online and self.biometric_sealer is not None:
            sealed = self.biometric_sealer(template)
            template = b""  # the clear template is not kept once sealed for the issuer
            return BiometricCapture(
                BiometricCaptureStatus.CAPTURED, sealed_for_issuer=sealed, format_owner=0x0000
            )
        return BiometricCapture(BiometricCaptureStatus.CAPTURED, template=template)
