"""Bench results -> tables, plots, HTML/Markdown/CSV reports: ``build_report(load_results(paths), out)``."""
from edgeaffect.report.build import ReportFiles, build_report, load_results

__all__ = ["ReportFiles", "build_report", "load_results"]
