"""Switchboard: an Azure Functions app that runs a business's Twilio phone numbers.

Pure core modules (voice, messaging, calls, schedules, status, phone) decide; `adapters/` talk to
Table Storage, queues and Twilio; `blueprints/` translate triggers into calls of the core.
"""
