"""Renderers: present an ``AuditResult`` as findings.json, report.html, report.xlsx and the email."""
