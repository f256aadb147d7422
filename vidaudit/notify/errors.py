"""Why a message could not be sent, in the project's error kinds, and whether trying
again later can help.  Messages never carry a URL (webhook URLs hold access keys) or a
password."""

from __future__ import annotations

from vidaudit.errors import ErrorKind, VidauditError


class SendError(VidauditError):
    def __init__(self, kind: ErrorKind, message: str, *, retry: bool) -> None:
        super().__init__(kind, message[:400])
        self.retry = retry


def unreachable(message: str) -> SendError:
    return SendError(ErrorKind.UNREACHABLE, message, retry=True)


def timed_out(message: str) -> SendError:
    return SendError(ErrorKind.TIMEOUT, message, retry=True)


def refused(message: str, *, retry: bool = False) -> SendError:
    """The receiver answered and would not take the message."""
    return SendError(
        ErrorKind.DEVICE_FAULT if retry else ErrorKind.UNSUPPORTED, message, retry=retry
    )


def not_allowed(message: str) -> SendError:
    """Our credentials or signature were refused: a person must fix the settings."""
    return SendError(ErrorKind.AUTH, message, retry=False)


def garbled(message: str) -> SendError:
    return SendError(ErrorKind.MALFORMED, message, retry=True)
