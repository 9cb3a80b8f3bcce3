"""RTL verification of rtl_models/ against numsim's golden vectors (see README.md).

A package, so that its conftest is imported as ``verification.conftest`` and never shadows
``tests/conftest.py``, whose helpers the unit tests import as ``conftest``.
"""
