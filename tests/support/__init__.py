"""Helpers of the test suite that are not tests: `support.stack`, the distributed Airflow stack.

pytest puts tests/ on sys.path (the tests import `from conftest import ...`),
so this package is imported as `support`; scripts/distributed runs
`python -m support.stack` from tests/.
"""
