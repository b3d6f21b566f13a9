"""The model: raw snapshot records normalised into a few tidy pandas tables (joins happen here, once)."""

from auditor.model.settings import ClassificationSettings, LegacyMfaFallback
from auditor.model.tenant import TenantModel, build_model

__all__ = ["ClassificationSettings", "LegacyMfaFallback", "TenantModel", "build_model"]
