"""The lifecycle Model and Session share: a library handle freed by close(), by leaving a `with`
block, or (as a fallback) when the object is garbage collected."""
from __future__ import annotations

from typing import Any, Optional


class OwnedHandle:
    """Base for objects owning one libswiftlet handle in `self._handle` (None once closed).

    Subclasses implement close(), which must be idempotent and set `_handle` to None.
    """

    _handle: Optional[int] = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def __enter__(self):
        if self._handle is None:
            raise ValueError(f"this swiftlet.{type(self).__name__} is closed")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Interpreter shutdown may have torn down the modules close() needs: nothing to report.
        try:
            if self._handle is not None:
                self.close()
        except Exception:
            pass
