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


class InvalidVenue(VenueError):
    status = 422
    slug = "invalid-venue"
    title = "Invalid venue"


class VenueNotFound(VenueError):
    status = 404
    slug = "venue-not-found"
    title = "Venue not found"


class VenueImportError(VenueError):
    status = 422
    slug = "venue-import-failed"
    title = "Venue file rejected"

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


class SigningKeyRefused(VenueError):
    """A signing key lifecycle step that would break posters or verification."""

    status = 409
    slug = "signing-key-refused"
    title = "Signing key change refused"


class TokenMalformed(VenueError):
    status = 400
    slug = "token-malformed"
    title = "Malformed venue token"


class TokenUnknownKey(VenueError):
    status = 422
    slug = "token-unknown-key"
    title = "Venue token signed by an unknown key"


class TokenKeyRetired(VenueError):
    status = 422
    slug = "token-key-retired"
    title = "Venue token signed by a retired key"


class TokenBadSignature(VenueError):
    status = 422
    slug = "token-bad-signature"
    title = "Venue token signature is not valid"


class TokenVenueUnknown(VenueError):
    status = 404
    slug = "token-venue-unknown"
    title = "Venue token names an unknown venue"


class TokenVenueInactive(VenueError):
    status = 410
    slug = "token-venue-inactive"
    title = "Venue is deactivated"


class PosterQrTooLarge(VenueError):
    # The check-in URL is SINGGAH_BASE_URL plus a token of fixed size: only a deployment's
    # over-long base URL gets here, which no client can fix, hence a server error.
    status = 500
    slug = "poster-qr-too-large"
    title = "Check-in URL too long for a poster QR code"
