"""Twilio, shared by every capability: the REST client, error classification, signatures, the webhook shell."""
