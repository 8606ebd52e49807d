from source_chartmogul import speed, stop_signals

if stop_signals.started_as_the_command():
    stop_signals.block()  # before the CDK is imported: see stop_signals.py
speed.before_cdk_import()  # before anything imports the CDK: see speed/__init__.py

from source_chartmogul.source import SourceChartmogul  # noqa: E402

__all__ = ["SourceChartmogul"]
