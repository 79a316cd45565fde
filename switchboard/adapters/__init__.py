"""Adapters: the only modules that talk to Azure Storage and Twilio."""
