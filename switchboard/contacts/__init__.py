"""Contacts: who a number is (names in notices, listings and relays) and who is blocked.

`rules` (pure: the contact, its checks, search words, versions, JSON), `vcard` and `csvfile`
(pure: import and export files), `importing` (pure: an import file matched to the contacts),
`store` (the `Contacts` table), `lookup` (what other capabilities ask: the contact of a number,
0 storage reads while warm), `service`, `routes` + `blueprint` (`/api/contacts...`), `commands`
(`python -m switchboard contacts ...`).
"""
