"""The offline CV analysis (works with no API key)."""

from jobs.analysis.analyze import AnalysisInput, analyze
from jobs.analysis.report import CvAnalysis

__all__ = ["AnalysisInput", "CvAnalysis", "analyze"]
