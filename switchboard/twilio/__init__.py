"""Twilio, for every capability: REST client, error classification, signatures, webhook shell."""
