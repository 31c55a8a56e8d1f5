"""Errors of the certificates package. Each carries its HTTP status, a stable slug and a title.

A certificate that fails verification is not an error: verification returns a result with each
step's outcome. These are for requests that cannot be carried out.
"""


class CertificateError(Exception):
    status = 400
    slug = "certificate-error"
    title = "Certificate request refused"


class InvalidSignerCertificate(CertificateError):
    status = 422
    slug = "invalid-signer-certificate"
    title = "Not a usable signer certificate"


class TrustListImportError(CertificateError):
    status = 422
    slug = "trust-list-rejected"
    title = "Trust list rejected"


class CertificateRequestInvalid(CertificateError):
    status = 422
    slug = "certificate-request-invalid"
    title = "The request breaks a certificate rule"


class DuplicateIssuer(CertificateError):
    status = 409
    slug = "issuer-exists"
    title = "An issuer with this name exists"


class UnknownIssuer(CertificateError):
    status = 404
    slug = "unknown-issuer"
    title = "No such issuer"


class UnknownCertificate(CertificateError):
    status = 404
    slug = "unknown-certificate"
    title = "No such issued certificate"


class InvalidCertificateContent(CertificateError):
    status = 422
    slug = "invalid-certificate-content"
    title = "The certificate content breaks the DCC schema"

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(detail)
        self.extensions = {"errors": errors}


class NoSigningCertificate(CertificateError):
    status = 409
    slug = "no-signing-certificate"
    title = "The issuer has no signing certificate for this type"


class AlreadyRevoked(CertificateError):
    status = 409
    slug = "already-revoked"
    title = "The certificate is revoked already"


class SealedKeyUnreadable(CertificateError):
    status = 500
    slug = "signing-key-unreadable"
    title = "A signing key cannot be decrypted"


class InvalidColourRules(CertificateError):
    status = 500
    slug = "invalid-colour-rules"
    title = "The status colour rules are not usable"
