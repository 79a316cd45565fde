// The inbox: who is signed in, the navigation, and which view a hash (#/lines/+1555...) shows.
import { api, navigated, setCsrf, whenSignedOut } from "./api.js";
import { contactView, contactsView } from "./contacts.js";
import { conversationView } from "./conversation.js";
import { conversationsView } from "./conversations.js";
import { h, notify, page } from "./dom.js";
import { lineView, linesView } from "./lines.js";
import { peopleView } from "./people.js";
import { schedulesView } from "./schedules.js";
import { signInView } from "./signin.js";
import { statusView } from "./status.js";

const state = { user: null };

function showChrome() {
  const signedIn = Boolean(state.user);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  document.getElementById("who-name").textContent = signedIn ? state.user.name : "";
  const owner = signedIn && state.user.role === "owner";
  for (const item of document.querySelectorAll("[data-owner]")) item.hidden = !owner;
}

function markCurrent(route) {
  for (const link of document.querySelectorAll("#nav a")) {
    const current = route.startsWith(link.getAttribute("href").slice(1));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function signedIn(data) {
  state.user = data.user;
  setCsrf(data.csrf);
  showChrome();
  if (location.search) history.replaceState(null, "", `${location.pathname}${location.hash}`);
  if (!location.hash.startsWith("#/")) location.hash = "#/conversations";
  else route();
}

function signedOut() {
  state.user = null;
  setCsrf(null);
  showChrome();
  signInView(signedIn);
}

async function route() {
  if (!state.user) return signInView(signedIn);
  navigated(); // (not before the session is known: its own read must still answer)
  const hash = location.hash.startsWith("#/") ? location.hash.slice(1) : "/conversations";
  const [, view, rest] = hash.match(/^\/([a-z]+)(?:\/(.*))?$/) || [null, "conversations", ""];
  markCurrent(`/${view}`);
  const owner = state.user.role === "owner";
  try {
    if (view === "conversations" && rest) {
      const [line, customer] = rest.split("/").map(decodeURIComponent);
      return await conversationView(line, customer);
    }
    if (view === "lines" && rest) return await lineView(decodeURIComponent(rest), state.user);
    if (view === "contacts" && rest) return await contactView(decodeURIComponent(rest), state.user);
    if (view === "contacts") return await contactsView(state.user);
    if (view === "lines") return await linesView(state.user);
    if (view === "schedules" && owner) return await schedulesView();
    if (view === "status" && owner) return await statusView();
    if (view === "people" && owner) return await peopleView(state.user);
    return await conversationsView();
  } catch (error) {
    if (error.status === 401) return undefined;
    page("Something went wrong", h("p", { class: "problem", text: error.message }));
    return undefined;
  }
}

async function start() {
  whenSignedOut(signedOut);
  document.getElementById("signout").addEventListener("click", async () => {
    try {
      await api("POST", "inbox/signout", {});
    } finally {
      notify("Signed out.");
      signedOut();
    }
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.startsWith("#/")) route();
  });
  try {
    const { data } = await api("GET", "inbox/session");
    state.user = data.user;
    setCsrf(data.csrf);
    showChrome();
    route();
  } catch (error) {
    // A 401 already showed the sign-in form (through whenSignedOut): showing it again here
    // would replace the form the user may be typing in, and hide the code field they asked for.
    if (error.status !== 401) signedOut();
  }
}

start();
