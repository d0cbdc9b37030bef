"""`analyze report`: one self-contained HTML page of charts and the recommendation's evidence."""

from analyzer.report.page import write_report

__all__ = ["write_report"]
