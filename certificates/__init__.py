"""Health certificates: HC1 (EU DCC) encode and verify, issuers, the trust list, status colours.

Imports no other Singgah package.
"""
