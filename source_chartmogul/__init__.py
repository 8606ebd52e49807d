from source_chartmogul.source import SourceChartmogul

__all__ = ["SourceChartmogul"]
