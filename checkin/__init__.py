"""Visitors, visits, check-in and check-out, auto-checkout, occupancy and the door decision.

Depends on `venues` and `certificates`; never on `web`.
"""
