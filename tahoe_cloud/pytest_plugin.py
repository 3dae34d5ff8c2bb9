"""pytest plugin (entry point ``pytest11``): readable assertion failures in the conformance kit.

pytest rewrites ``assert`` statements only in test modules and in modules
registered before they are imported. The kit's tests live in
``tahoe_cloud.testing``, so this registers it as pytest starts, before any
test module imports it. It sits outside that package because importing it
from there would import the kit first.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tahoe_cloud.testing")
