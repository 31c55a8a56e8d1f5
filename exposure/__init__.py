"""Cases, the matching engine, exposure runs, the notification outbox and Web Push.

Depends on `checkin`, `venues` and `certificates`; never on `web`.
"""
