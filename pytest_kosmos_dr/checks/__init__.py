"""DR checks: plain functions taking clients and limits, returning a ``CheckResult``.

One module per plan section; none of them needs pytest.
"""
