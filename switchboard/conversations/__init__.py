"""Conversations: every text and call between one of the business's lines and one customer, as
one thread with a state (open/done, unread, last activity, who it is assigned to), listed
newest activity first; and the relay that lets the staff text customers from their own phones
through the line's number (`sms.relay`).

- `rules` (pure): a conversation's state and how an event or a change moves it, the activity
  index's keys, the listing cursor, tags;
- `relay` (pure): a relay person's commands and the texts the relay sends;
- `calls` (pure): a call's event in its conversation, from its CallLog record;
- `store`: the `Conversations` table (states, tags, the activity index, the relay's pointers);
- `service`: what the API, the command line and the inbox do (list, show, reply, change), the
  customers' names (from the contacts: `contact_names`), and the entry points the webhooks
  and the call queue call (`on_text`, `on_call_ended`, `on_callback_decided`,
  `on_call_recording`);
- `relaying`: the SMS webhook's two relay steps (a customer's text relayed, a relay person's
  text answered);
- `api` (pure: requests and JSON), `routes` + `blueprint` (`/api/conversations...`),
  `commands` (`python -m switchboard conversations ...`).
"""
