// A conversation: texts both ways with their statuses, calls, voicemails (played through the
// app) with their transcripts, reminders and their replies; the reply box (opt-out and the
// policy shown before typing, a refusal in words), done / open, assignment. Reading it marks it
// read; new activity appears without a reload.
import { api, enc } from "./api.js";
import { append, clear, clearErrors, field, h, notify, page, showError, when } from "./dom.js";
import { namesOfLines } from "./conversations.js";
import { poll } from "./live.js";

const PURPOSES = {
  "auto-reply": "Automatic reply",
  help: "Answer to HELP",
  forward: "Forwarded",
  "text-back": "Missed-call text-back",
  schedule: "Scheduled text or reminder",
  "reminder-answer": "Answer to a reminder's reply",
  "relay-answer": "Relay answer",
  "staff-reply": "Reply",
  operator: "Sent by the operator",
  voicemail: "Voicemail notice",
};
const PENDING = new Set(["accepted", "queued", "sending", "sent", "scheduled"]);

function minutes(seconds) {
  if (typeof seconds !== "number") return "";
  return ` (${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")})`;
}

function callEvent(event) {
  const parts = [];
  if (event.direction === "outbound") {
    // A call the app placed (an automated call saying a message), answered or not.
    parts.push(h("p", { class: "what", text: event.event === "answered"
      ? `Answered${minutes(event.duration)}` : `Not answered (${event.status || "failed"})` }));
    if (event.body) parts.push(h("p", { class: "body-text", text: event.body }));
    return parts;
  }
  if (event.event === "voicemail") {
    parts.push(h("p", { class: "what", text: `Voicemail${minutes(event.recordingDuration)}` }));
    if (event.audio) {
      parts.push(h("audio", { controls: true, preload: "none", src: event.audio, "aria-label": `Voicemail from ${when(event.at)}` }));
    }
    parts.push(event.transcript
      ? h("p", { class: "body-text transcript", text: event.transcript })
      : h("p", { class: "hint", text: "No transcript." }));
  } else if (event.event === "answered") {
    parts.push(h("p", { class: "what", text: `Call answered${event.takenBy ? ` by ${event.takenBy}` : ""}${minutes(event.duration)}` }));
  } else if (event.event === "missed") {
    parts.push(h("p", { class: "what", text: "Missed call" }));
  } else {
    parts.push(h("p", { class: "what", text: `Call (${event.status || "in progress"})` }));
  }
  if (typeof event.queueTime === "number") parts.push(h("p", { class: "hint", text: `Waited${minutes(event.queueTime)} in the queue.` }));
  if (event.callback) parts.push(h("p", { class: "hint", text: `Call back: ${event.callback}.` }));
  return parts;
}

function eventItem(event, who) {
  const inbound = event.direction !== "outbound";
  const sent = event.kind === "call" ? "Automated call" : PURPOSES[event.purpose] || "Sent";
  const author = inbound ? who
    : [sent, event.author ? `by ${event.author}` : null].filter(Boolean).join(" ");
  const status = event.kind === "call" ? null : event.status;
  return h("li", { class: `event ${inbound ? "in" : "out"} ${event.kind}` },
    h("p", { class: "meta" },
      h("strong", { text: author }), " · ",
      h("time", { datetime: event.at || "", text: when(event.at) }),
      status ? h("span", { class: `badge status-${status}`, text: status }) : null),
    event.kind === "call" ? callEvent(event) : h("p", { class: "body-text", text: event.body || "" }),
    event.response ? h("p", { class: "reminder", text: `Reply to a reminder: ${event.response}` }) : null,
    event.blockedContact ? h("p", { class: "hint", text: "From a blocked contact: it went no further." }) : null,
    event.media ? h("p", { class: "hint", text: `${event.media} attachment${event.media > 1 ? "s" : ""}` }) : null);
}

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function conversationView(line, customer) {
  const path = `inbox/conversations/${enc(line)}/${enc(customer)}`;
  const [names, first] = await Promise.all([namesOfLines(), api("GET", path)]);
  let shown = first.data;
  let older = [];
  let olderCursor = shown.nextBefore;
  const who = shown.conversation.name || customer;
  const lineName = names[line] || line;

  const summary = h("p", { class: "hint", id: "conv-summary" });
  const events = h("ol", { class: "events", "aria-label": "Texts and calls, oldest first" });
  const earlier = h("button", { type: "button", class: "quiet", text: "Earlier texts and calls" });
  const doneButton = h("button", { type: "button", class: "quiet" });
  const assignSelect = h("select", { id: "c-assign" });
  const assignButton = h("button", { type: "button", class: "quiet", text: "Assign" });

  const render = () => {
    const c = shown.conversation;
    summary.textContent = [
      c.name ? customer : null,
      `on ${lineName}`,
      c.state === "done" ? "done" : "open",
      c.assignedTo ? `assigned to ${c.assignedTo}` : "not assigned",
    ].filter(Boolean).join(" · ");
    doneButton.textContent = c.state === "done" ? "Open again" : "Mark done";
    clear(assignSelect);
    append(assignSelect, h("option", { value: "", text: "Nobody" }),
      shown.assignees.map((name) => h("option", { value: name, text: name })));
    assignSelect.value = c.assignedTo && shown.assignees.includes(c.assignedTo) ? c.assignedTo : "";
    clear(events);
    const all = [...shown.events, ...older].reverse();
    append(events, all.map((event) => eventItem(event, c.name || customer)));
    earlier.hidden = !olderCursor;
  };

  const change = async (body, words) => {
    try {
      const { data } = await api("PATCH", path, body);
      shown.conversation = { ...shown.conversation, ...data };
      render();
      if (words) notify(words);
    } catch (error) {
      notify(error.message);
    }
  };
  doneButton.addEventListener("click", () => {
    const done = shown.conversation.state !== "done";
    change({ state: done ? "done" : "open" }, done ? `${who}: done.` : `${who}: open again.`);
  });
  assignButton.addEventListener("click", () => {
    const name = assignSelect.value || null;
    change({ assignedTo: name }, name ? `Assigned to ${name}.` : "Not assigned.");
  });
  earlier.addEventListener("click", async () => {
    const { data } = await api("GET", `${path}?before=${enc(olderCursor)}`);
    older = [...older, ...data.events];
    olderCursor = data.nextBefore;
    render();
  });

  // --- the reply box
  const reply = shown.reply;
  const body = h("textarea", { rows: "3", maxlength: String(reply.maxChars), disabled: !reply.allowed });
  const counter = h("span", { id: "r-count", text: `0 / ${reply.maxChars}` });
  body.addEventListener("input", () => { counter.textContent = `${body.value.length} / ${reply.maxChars}`; });
  const send = h("button", { type: "submit", text: "Send", disabled: !reply.allowed });
  let key = newKey();
  const form = h("form", { class: "card reply", "aria-labelledby": "reply-title", novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (!body.value.trim()) {
        showError("r-body", "Write something to send.");
        body.focus();
        return;
      }
      send.disabled = true;
      try {
        await api("POST", `${path}/messages`, { body: body.value, key });
        body.value = "";
        counter.textContent = `0 / ${reply.maxChars}`;
        key = newKey();
        notify(`Sent to ${who} from ${lineName}.`);
        await refresh();
      } catch (error) {
        showError("r-body", error.message);
        body.focus();
      } finally {
        send.disabled = !reply.allowed;
      }
    } },
  h("h2", { id: "reply-title", text: `Reply from ${lineName}` }),
  reply.allowed ? null : h("p", { class: "problem", id: "r-refused", text: reply.reason }),
  field("r-body", "Message", body, `Sent from ${line}: the customer sees the business number only.`),
  h("div", { class: "actions" }, send, h("p", { class: "hint" }, counter)));

  const root = page(who,
    summary,
    h("div", { class: "actions", role: "group", "aria-label": "This conversation" },
      doneButton,
      h("label", { for: "c-assign", class: "inline", text: "Assigned to" }), assignSelect, assignButton,
      h("a", { href: "#/conversations", class: "button quiet", text: "All conversations" })),
    h("section", { "aria-labelledby": "events-title", class: "card" },
      h("h2", { id: "events-title", text: "Texts and calls" }), earlier, events),
    form);
  render();

  const markRead = () => {
    if (shown.conversation.unread > 0) change({ read: true });
  };
  markRead();

  let live = null;
  // A text on its way changes its status, not the conversation: while one is, the page asks
  // without the validator.
  const update = (data) => {
    shown = data;
    render();
    markRead();
    if (live && shown.events.some((e) => e.direction === "outbound" && PENDING.has(e.status))) live.forget();
  };
  const refresh = async () => update((await api("GET", path)).data);
  live = poll(events, path, first.etag, update);
  return root;
}
