"""Errors of the checkin package. Each carries its HTTP status, a stable slug and a title."""


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
