"""Bench results -> tables, plots, HTML/Markdown/CSV reports."""
