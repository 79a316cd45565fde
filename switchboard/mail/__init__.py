"""Shared: sending e-mail over SMTP with the standard library (`smtp`); knows no capability."""
