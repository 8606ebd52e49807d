from source_chartmogul import speed

speed.before_cdk_import()  # before anything imports the CDK: see speed/__init__.py

from source_chartmogul.source import SourceChartmogul  # noqa: E402

__all__ = ["SourceChartmogul"]
