"""The model: raw snapshot records normalised into a few tidy pandas tables (joins happen here, once)."""

from auditor.model.tenant import TenantModel, build_model

__all__ = ["TenantModel", "build_model"]
