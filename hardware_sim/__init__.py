"""Simulated hardware and hosts: EMV cards, readers, PIN pad, fingerprint sensor, printer,
and the acquirer/issuer host.  TEST-ONLY key material lives here and nowhere else.

May import :mod:`emv` (TLV helpers) and :mod:`crypto`; never :mod:`terminal`.
"""
