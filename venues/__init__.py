"""Venues, regions, signing keys, the signed QR token and posters.

Imports no other Singgah package. Functions take the database (a `databases.Database`) and the
current time as arguments.
"""
