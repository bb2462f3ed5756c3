"""Built-in card profiles for the contact card simulator, one JSON file per profile.

TEST-ONLY data: the PANs are published scheme test numbers and the PINs are known to the
simulated cardholder.  The file name (without ``.json``) is the profile name.
"""
