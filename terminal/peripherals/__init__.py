"""Serial peripherals: the secure PIN pad, the fingerprint sensor, and the biometric data block.

* :mod:`terminal.peripherals.framing` - STX/ETX/LRC link layer of the PIN pad protocol;
* :mod:`terminal.peripherals.pinpad` - the PIN pad driver (pyserial), see docs/pinpad-protocol.md;
* :mod:`terminal.peripherals.fingerprint` - ZhianTec R30x/AS608 sensor driver (pyserial);
* :mod:`terminal.peripherals.biometric_block` - the encrypted biometric data block for the issuer;
* :mod:`terminal.peripherals.cardholder` - the kernel's cardholder port backed by these devices;
* :mod:`terminal.peripherals.wiring` - ``--pinpad`` / ``--fingerprint`` for ``pos pay``.
"""
