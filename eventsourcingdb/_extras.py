"""Optional dependencies: imported on first use, with an error that names the extra to install.

The core install is the client alone; the emulator, the container, SQL checkpoint stores,
telemetry and data frames each come with an extra of the distribution `eventsourcingdb-toolkit`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

from eventsourcingdb.errors import MissingExtraError

DISTRIBUTION: Final = "eventsourcingdb-toolkit"
"""The name this package is installed under (its import package is `eventsourcingdb`)."""


def import_extra(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import `module`, which the extra `extra` installs; `feature` says what needs it.

    Raises `MissingExtraError` (an `ImportError`) naming the command that installs the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = error.name or module
        raise MissingExtraError(
            f"{feature} needs the optional dependency {missing!r}, which is not installed: "
            f"install it with: pip install '{DISTRIBUTION}[{extra}]'",
            extra=extra,
            module=missing,
        ) from error


__all__ = ["DISTRIBUTION", "import_extra"]
