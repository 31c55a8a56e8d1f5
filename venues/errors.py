"""Errors of the venues package. Each carries its HTTP status, a stable slug and a title."""


class VenueError(Exception):
    status = 400
    slug = "venue-error"
    title = "Venue request refused"


class InvalidRegionCode(VenueError):
    status = 422
    slug = "invalid-region-code"
    title = "Invalid region code"


class UnknownRegion(VenueError):
    status = 422
    slug = "unknown-region"
    title = "Unknown region"


class RegionImportError(VenueError):
    status = 422
    slug = "region-import-failed"
    title = "Region file rejected"

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
