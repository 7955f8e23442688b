"""SwiftletError: a failed libswiftlet call, with its swl_status and swl_last_error() message."""
from __future__ import annotations

from . import _capi


class SwiftletError(Exception):
    """A libswiftlet call failed.

    Attributes:
        status: the swl_status value (an int; see `swiftlet.STATUS_*`).
        status_name: its name, e.g. "SWL_STATUS_NOT_FOUND".
        message: the library's explanation (swl_last_error() right after the failing call).
    """

    def __init__(self, status: int, status_name: str, message: str, function: str = ""):
        self.status = int(status)
        self.status_name = status_name
        self.message = message
        self.function = function
        # The library's message already starts with the failing function's name.
        text = message or (f"{function} failed" if function else "libswiftlet call failed")
        super().__init__(f"{status_name}: {text}")


def check(status: int, function: str) -> None:
    """Raises SwiftletError unless status is SWL_STATUS_OK.

    Must run on the thread that made the call, right after it: swl_last_error() is per thread and
    valid until that thread's next failing call.
    """
    if status != _capi.STATUS_OK:
        message = _capi.last_error()
        raise SwiftletError(status, _capi.status_name(status), message, function)
