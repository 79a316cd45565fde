"""Contacts: who a number is (names in notices, listings and relays) and who is blocked.

`rules` (pure: the contact, its checks, search words, JSON), `store` (the `Contacts` table),
`lookup` (what other capabilities ask: the contact of a number, 0 reads while warm).
"""
