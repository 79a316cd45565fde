// Signing in: an address, then the 6-digit code sent to it (or the platform's Microsoft sign-in).
import { api } from "./api.js";
import { clearErrors, field, h, page, showError } from "./dom.js";

export async function signInView(onSignedIn) {
  let options = { configured: true, platform: false };
  try {
    options = (await api("GET", "inbox/signin")).data;
  } catch {
    // The form still works; the server says what is wrong when it is used.
  }
  // A form already on the page stays as it is: drawing it again would drop what the user typed
  // and hide the code field they just asked for.
  if (document.getElementById("signin-address")) return undefined;
  if (new URLSearchParams(location.search).has("platform") && options.platform) {
    try {
      const { data } = await api("POST", "inbox/signin/platform", {});
      return onSignedIn(data);
    } catch {
      // Fall through to the code form.
    }
  }
  const address = h("input", { type: "text", name: "address", autocomplete: "username", required: true });
  const code = h("input", {
    type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code",
    pattern: "[0-9]{6}", maxlength: "6", required: true,
  });
  const sent = h("p", { class: "sent", role: "status" });
  const codeForm = h("form", { class: "card", hidden: true, "aria-labelledby": "code-title", novalidate: true },
    h("h2", { id: "code-title", text: "Enter your code" }),
    sent,
    field("signin-code", "6-digit code", code),
    h("div", { class: "actions" },
      h("button", { type: "submit", text: "Sign in" }),
      h("button", { type: "button", class: "quiet", text: "Use another address", onclick: () => {
        codeForm.hidden = true; addressForm.hidden = false; address.focus();
      } })));
  const addressForm = h("form", { class: "card", "aria-labelledby": "address-title", novalidate: true },
    h("h2", { id: "address-title", text: "Get a sign-in code" }),
    field("signin-address", "Mobile number or e-mail address", address,
      "Your number as +1 555 010 0000 (with the country code), or your e-mail address."),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Send me a code" })));
  const parts = [addressForm, codeForm];
  if (!options.configured) {
    parts.unshift(h("p", { class: "problem", text: "The inbox is not set up yet: the operator must set INBOX_SESSION_KEY." }));
  }
  if (options.platform) {
    parts.push(h("p", {}, h("a", {
      class: "button", href: "/.auth/login/aad?post_login_redirect_uri=%2Finbox%2F%3Fplatform%3D1",
      text: "Sign in with Microsoft",
    })));
  }
  page("Sign in", ...parts);

  addressForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(addressForm);
    const given = address.value.replace(/[\s().-]/g, (c) => (address.value.includes("@") ? c : ""));
    try {
      const { data } = await api("POST", "inbox/signin/code", { address: given.trim() });
      sent.textContent = data.message;
      addressForm.hidden = true;
      codeForm.hidden = false;
      code.value = "";
      code.focus();
    } catch (error) {
      showError("signin-address", error.message);
      address.focus();
    }
  });
  codeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(codeForm);
    const given = address.value.includes("@") ? address.value.trim() : address.value.replace(/[\s().-]/g, "");
    try {
      const { data } = await api("POST", "inbox/signin/verify", { address: given, code: code.value.trim() });
      onSignedIn(data);
    } catch (error) {
      showError("signin-code", error.message);
      code.focus();
    }
  });
}
