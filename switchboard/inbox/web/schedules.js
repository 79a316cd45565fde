// Scheduled texts (owner): schedule one (a reminder may take replies: "C to confirm"), the
// texts still to send, the last days' texts with the replies they got, cancel one before it goes.
import { api, enc } from "./api.js";
import { append, clear, clearErrors, field, h, notify, oneAtATime, page, showError, when } from "./dom.js";

const FIELDS = { to: "s-to", body: "s-body", sendAt: "s-when", id: "s-id", replyUntil: "s-until", replies: "s-replies" };
const REPLY_ROWS = 3;
const RECENT_DAYS = 7;

function repliesText(replies) {
  return Object.entries(replies || {}).map(([key, reply]) => `${key} → ${reply.means}`).join(", ");
}

function responseText(schedule) {
  if (!schedule.replies || !Object.keys(schedule.replies).length) return null;
  if (schedule.response) return `Answered: ${schedule.response}, ${when(schedule.respondedAt)}.`;
  if (schedule.status !== "sent") return `Takes replies: ${repliesText(schedule.replies)}.`;
  if (schedule.replyUntil && new Date(schedule.replyUntil) > new Date()) {
    return `Awaiting a reply (${repliesText(schedule.replies)}) until ${when(schedule.replyUntil)}.`;
  }
  return "No reply.";
}

function scheduleCard(schedule, onCancelled) {
  const cancel = h("button", {
    type: "button", class: "quiet", text: "Cancel",
    "aria-label": `Cancel the text to ${schedule.to}`,
    onclick: async () => {
      try {
        const { data } = await api("DELETE", `inbox/schedules/${enc(schedule.id)}`);
        notify(`Cancelled: ${data.status}.`);
        onCancelled(data);
      } catch (error) {
        notify(error.message);
      }
    },
  });
  const response = responseText(schedule);
  return h("li", { class: "card", "data-schedule": schedule.id },
    h("p", {}, h("strong", { text: schedule.to }), " ", h("span", { class: "badge", text: schedule.status })),
    h("p", { class: "body-text", text: schedule.body }),
    response ? h("p", { class: schedule.response ? "response" : "hint", text: response }) : null,
    h("p", { class: "hint", text: `${schedule.sentAt ? `Sent ${when(schedule.sentAt)}` : `Sends ${when(schedule.nextAttemptAt || schedule.sendAt)}`} · id ${schedule.id}` }),
    schedule.status === "pending" ? cancel : null);
}

function cardFor(schedule) {
  const card = scheduleCard(schedule, (after) => card.replaceWith(cardFor(after)));
  return card;
}

function replyRow(index) {
  const n = index + 1;
  return h("div", { class: "reply-row", "data-reply": String(index) },
    field(`s-reply-${index}-key`, `Reply ${n}: the word`, h("input", { type: "text", autocomplete: "off", maxlength: "10" })),
    field(`s-reply-${index}-means`, `Reply ${n}: what it means`, h("input", { type: "text", autocomplete: "off" })),
    field(`s-reply-${index}-answer`, `Reply ${n}: the answer texted back (optional)`, h("input", { type: "text", autocomplete: "off" })));
}

// The replies as the API takes them: {"C": {"means": "confirmed", "answer"?: "..."}}.
function readReplies() {
  const replies = {};
  const rows = {};
  for (let i = 0; i < REPLY_ROWS; i += 1) {
    const key = document.getElementById(`s-reply-${i}-key`).value.trim();
    const means = document.getElementById(`s-reply-${i}-means`).value.trim();
    const answer = document.getElementById(`s-reply-${i}-answer`).value.trim();
    if (!key && !means && !answer) continue;
    replies[key || `(reply ${i + 1})`] = answer ? { means, answer } : { means };
    rows[(key || `(reply ${i + 1})`).toUpperCase()] = i;
  }
  return { replies, rows };
}

// Where an error is shown: a field of the form, or a reply's row by its key (/replies/C/answer).
function controlFor(pointer, rows) {
  const name = (pointer || "").replace(/^\//, "");
  if (FIELDS[name]) return FIELDS[name];
  const parts = name.split("/");
  if (parts[0] === "replies" && parts[1] !== undefined) {
    const row = rows[parts[1].toUpperCase()];
    if (row === undefined) return "s-replies";
    const column = parts[2] === "answer" ? "answer" : parts[2] === "means" ? "means" : "key";
    return parts[2] === undefined ? `s-reply-${row}-key` : `s-reply-${row}-${column}`;
  }
  if (parts[0] === "replies") return "s-replies";
  return null;
}

function isoOf(localValue) {
  if (!localValue) return "";
  const moment = new Date(localValue);
  return Number.isNaN(moment.getTime()) ? "" : moment.toISOString();
}

function utcDay(date) {
  return date.toISOString().slice(0, 10);
}

export async function schedulesView() {
  const shown = h("ul", { class: "cards", "aria-label": "Scheduled texts shown" });
  const pending = h("ul", { class: "cards", "aria-label": "Still to send" });
  const recent = h("ul", { class: "cards", "aria-label": `The last ${RECENT_DAYS} days` });
  const morePending = h("button", { type: "button", class: "quiet", text: "More to send", hidden: true });
  const to = h("input", { type: "tel", autocomplete: "off", placeholder: "+15558675310" });
  const body = h("textarea", { rows: "3" });
  const sendAt = h("input", { type: "datetime-local" });
  const until = h("input", { type: "datetime-local" });
  const rows = Array.from({ length: REPLY_ROWS }, (_, i) => replyRow(i));
  const repliesError = h("p", { class: "error", id: "s-replies-error", hidden: true });
  const replies = h("fieldset", { id: "s-replies", "aria-describedby": "s-replies-hint s-replies-error" },
    h("legend", { text: "Replies it takes (optional)" }),
    h("p", { class: "hint", id: "s-replies-hint", text: "Such as C → confirmed and X → cancelled: a customer who texts the word back answers this text. Say the words in the message." }),
    repliesError, rows,
    field("s-until", "Take replies until (optional; default: the end of the next day)", until));
  const form = h("form", { class: "card", "aria-labelledby": "new-title", novalidate: true },
    h("h2", { id: "new-title", text: "Schedule a text" }),
    field("s-to", "To (with the country code)", to),
    field("s-body", "Message", body),
    field("s-when", "Send at (your time)", sendAt),
    replies,
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Schedule" })));
  const lookup = h("input", { type: "text", autocomplete: "off" });
  const find = h("form", { class: "card", "aria-labelledby": "find-title", novalidate: true },
    h("h2", { id: "find-title", text: "Find a scheduled text" }),
    field("s-id", "Its id", lookup),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Find" })));

  const show = (schedule) => shown.prepend(cardFor(schedule));
  page("Scheduled texts", form, find,
    h("h2", { text: "Shown here" }), shown,
    h("h2", { text: "Still to send" }), pending, morePending,
    h("h2", { text: `Sent in the last ${RECENT_DAYS} days, with their replies` }), recent);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const { replies: given, rows: rowOf } = readReplies();
    const request = { to: to.value.trim(), body: body.value, sendAt: isoOf(sendAt.value) };
    if (Object.keys(given).length) request.replies = given;
    if (until.value) request.replyUntil = isoOf(until.value);
    try {
      const { data } = await api("POST", "inbox/schedules", request);
      notify(`Scheduled for ${when(data.sendAt)}.`);
      show(data);
      form.reset();
    } catch (error) {
      if (error.status === 401) return;
      const id = controlFor(error.field, rowOf) || "s-to";
      showError(id, error.message);
      document.getElementById(id).focus();
    }
  });
  find.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(find);
    try {
      const { data } = await api("GET", `inbox/schedules/${enc(lookup.value.trim())}`);
      show(data);
    } catch (error) {
      showError("s-id", error.message);
      lookup.focus();
    }
  });

  let cursor = null;
  async function loadPending() {
    const params = new URLSearchParams({ limit: "20" });
    if (cursor) params.set("cursor", cursor);
    const { data } = await api("GET", `inbox/schedules?${params}`);
    append(pending, data.items.map(cardFor));
    if (!pending.children.length) append(pending, h("li", { class: "hint", text: "Nothing waiting to be sent." }));
    cursor = data.nextCursor;
    morePending.hidden = !cursor;
  }
  morePending.addEventListener("click", oneAtATime(() => loadPending().catch((error) => notify(error.message))));
  const today = new Date();
  const first = new Date(today.getTime() - (RECENT_DAYS - 1) * 86400000);
  const [, days] = await Promise.all([
    loadPending(),
    api("GET", `inbox/schedules?from=${utcDay(first)}&to=${utcDay(today)}`),
  ]);
  const sent = days.data.items.filter((item) => item.status !== "pending").reverse();
  clear(recent);
  append(recent, sent.length ? sent.map(cardFor) : h("li", { class: "hint", text: "Nothing sent in these days." }));
}
