"""Reading DynamoDB's errors: which botocore ``ClientError`` means what to the cache."""

from __future__ import annotations

from botocore.exceptions import ClientError

__all__ = ["error_code", "is_item_too_large"]


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (empty for other exceptions)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_item_too_large(exc: BaseException) -> bool:
    """Whether ``exc`` is the service refusing an item over its size limit.

    DynamoDB says ``ValidationException: Item size has exceeded the maximum allowed size``
    (moto and dynalite word it the same way).
    """
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    message = str(error.get("Message", "")).lower()
    return error.get("Code") == "ValidationException" and "size" in message
