"""EMV kernel: plain, deterministic Python (sans-I/O).

The kernel reaches the outside world only through the small ports in :mod:`emv.ports`.
It imports nothing of ours except :mod:`crypto`, and no I/O library at all.
"""
