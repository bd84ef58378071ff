from __future__ import annotations


class ApplicationError(Exception):
    """A business rule said no. ``message`` is user-facing Chinese; ``field_errors`` maps field → message."""

    def __init__(self, message: str, *, field_errors: dict[str, str] | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
        self.code = code


class PermissionDenied(ApplicationError):
    def __init__(self, message: str = "没有权限执行此操作"):
        super().__init__(message, code="forbidden")
