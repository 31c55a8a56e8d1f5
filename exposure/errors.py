"""Errors of the exposure package. Each carries its HTTP status, a stable slug and a title."""


class ExposureError(Exception):
    status = 400
    slug = "exposure-error"
    title = "Exposure request refused"


class InvalidCase(ExposureError):
    status = 422
    slug = "invalid-case"
    title = "Invalid case"


class CaseNotFound(ExposureError):
    status = 404
    slug = "case-not-found"
    title = "Case not found"


class CaseNotConfirmed(ExposureError):
    status = 409
    slug = "case-not-confirmed"
    title = "Case not confirmed"


class RunNotFound(ExposureError):
    status = 404
    slug = "exposure-run-not-found"
    title = "Exposure run not found"


class InvalidIsolation(ExposureError):
    status = 422
    slug = "invalid-isolation"
    title = "Invalid isolation"


class IsolationNotFound(ExposureError):
    status = 404
    slug = "isolation-not-found"
    title = "Isolation not found"


class IsolationAlertNotFound(ExposureError):
    status = 404
    slug = "isolation-alert-not-found"
    title = "Isolation alert not found"


class PayloadTooLarge(ExposureError):
    status = 413
    slug = "push-payload-too-large"
    title = "Push payload larger than 4,096 bytes"


class NotificationNotFound(ExposureError):
    status = 404
    slug = "notification-not-found"
    title = "Notification not found"


class SubscriptionNotFound(ExposureError):
    status = 404
    slug = "push-subscription-not-found"
    title = "Push subscription not found"


class InvalidSubscription(ExposureError):
    status = 422
    slug = "invalid-push-subscription"
    title = "Invalid push subscription"
