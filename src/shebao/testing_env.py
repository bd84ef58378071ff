"""pytest plugin loaded with ``-p`` (before pytest-django reads the settings).

Tests never touch the developer's ./instance (database, keys, queue): each run gets a fresh
instance folder unless SHEBAO_INSTANCE_DIR is set explicitly.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("SHEBAO_INSTANCE_DIR", tempfile.mkdtemp(prefix="shebao-test-"))
os.environ.setdefault("SHEBAO_HUEY_IMMEDIATE", "true")
os.environ.setdefault("SHEBAO_ALLOW_PRIVATE_URLS", "true")  # local fake providers and SMTP servers
