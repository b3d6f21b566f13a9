"""Shared fixtures (the service fixtures live in ``services.py`` so tests can import its helpers)."""

from services import amqp_url, chromium_path, postgres_url, require_service, soffice

__all__ = ["amqp_url", "chromium_path", "postgres_url", "require_service", "soffice"]
