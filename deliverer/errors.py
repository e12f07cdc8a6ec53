"""Errors of the deliverer, under the root every FastHook package derives from."""

from schemas.errors import FastHookError


class SendFailed(FastHookError):
    """One attempt's HTTP exchange failed; `code` is the attempt's error code (TIMEOUT,
    CONNECTION_REFUSED, TLS_ERROR, …), the message what the attempt records as its error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class BadResponse(SendFailed):
    """The receiver's answer is not HTTP/1.1 as RFC 9112 frames it."""

    def __init__(self, message: str) -> None:
        super().__init__("NETWORK_ERROR", f"a malformed response: {message}")
