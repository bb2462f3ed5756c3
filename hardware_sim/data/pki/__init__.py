"""TEST-ONLY RSA keys for offline data authentication (see README.md)."""
