from source_chartmogul.startup import import_cdk_without_protocol_docstrings

import_cdk_without_protocol_docstrings()  # before anything imports the CDK: see startup.py

from source_chartmogul.source import SourceChartmogul  # noqa: E402

__all__ = ["SourceChartmogul"]
