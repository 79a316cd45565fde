"""Switchboard: an Azure Functions app that runs a business's Twilio phone numbers.

One package per capability (`voice`, `sms`, `status`, `calls`, `schedules`, `operator`), each with
its pure rules, its store, its handlers and its Blueprint; below them the shared records
(`logbook`, `optouts`), the adapters (`twilio`, `storage`) and the foundation (`settings`,
`phone`, `logs`, `records`, `menu`, `http`). Imports only go down (README "Layout").
"""
