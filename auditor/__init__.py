"""Entra Auditor: a scheduled compliance auditor for Microsoft Entra ID and Exchange Online."""

__version__ = "0.1.0"
