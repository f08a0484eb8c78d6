"""Reports for auditors and on-call: Allure labels and files, the DR scorecard, pictures,
the offline HTML report (``kosmos-dr report``) and the evidence bundle (``kosmos-dr bundle``).

Wiring: ``hooks.ReportingPlugin`` (pytest hooks), ``hooks.addoption`` (options),
``commands.add_commands`` (CLI). Everything Allure-specific is active only with ``--alluredir``.
"""
