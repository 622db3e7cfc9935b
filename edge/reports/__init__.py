"""After the session: HTML reports, the history table, and FIT/CSV export and import.

`metrics` holds the pure figures (time in zones, TRIMP, gaps) that the report and the history
share; `report`, `history` and `exchange` read the session store and write files; `commands`
holds the `edgecoach report|history|export-session|import` command-line pairs.
"""

from edge.reports.metrics import ReportError

__all__ = ["ReportError"]
