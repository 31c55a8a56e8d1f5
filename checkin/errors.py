"""Errors of the checkin package. Each carries its HTTP status, a stable slug and a title."""

from typing import Any


class CheckinError(Exception):
    status = 400
    slug = "checkin-error"
    title = "Check-in refused"


class InvalidNik(CheckinError):
    status = 422
    slug = "invalid-nik"
    title = "Invalid NIK"


class InvalidVisitorToken(CheckinError):
    status = 401
    slug = "invalid-visitor-token"
    title = "Unknown visitor"


class VisitNotFound(CheckinError):
    status = 404
    slug = "visit-not-found"
    title = "Visit not found"


class OfflineScanRefused(CheckinError):
    status = 422
    slug = "offline-scan-refused"
    title = "Offline scan refused"


class OfflineScanOverlaps(CheckinError):
    status = 409
    slug = "offline-scan-overlaps"
    title = "Offline scan overlaps another visit"


class VenueClosed(CheckinError):
    status = 409
    slug = "venue-inactive"
    title = "Venue is not active"


class NotACheckpoint(CheckinError):
    status = 409
    slug = "not-a-checkpoint"
    title = "Not a border checkpoint"


class InvalidTraveller(CheckinError):
    status = 422
    slug = "invalid-traveller"
    title = "Invalid traveller registration"


class CertificateRejected(CheckinError):
    """A certificate failed verification; ``extensions`` carries every step's outcome."""

    status = 422
    slug = "certificate-rejected"
    title = "Certificate not accepted"

    def __init__(self, detail: str, verification: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.extensions = {"verification": verification} if verification else {}


class CertificateAlreadyInWallet(CheckinError):
    status = 409
    slug = "certificate-already-in-wallet"
    title = "Certificate already in the wallet"


class WalletFull(CheckinError):
    status = 422
    slug = "wallet-full"
    title = "Wallet full"


class WalletCertificateNotFound(CheckinError):
    status = 404
    slug = "wallet-certificate-not-found"
    title = "Certificate not found"
