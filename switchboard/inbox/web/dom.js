// Building the page: every string becomes a text node or a property, never markup.
// No string is ever parsed as HTML (the page's Trusted Types policy would refuse it).

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`${key} must be a function`);
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked" || key === "disabled" || key === "hidden") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A labelled control with a place for its error (aria-describedby, aria-invalid).
export function field(id, label, control, hint) {
  control.id = id;
  const errorId = `${id}-error`;
  const described = [errorId];
  const parts = [h("label", { for: id, text: label })];
  if (hint) {
    parts.push(h("p", { class: "hint", id: `${id}-hint`, text: hint }));
    described.push(`${id}-hint`);
  }
  control.setAttribute("aria-describedby", described.join(" "));
  parts.push(control, h("p", { class: "error", id: errorId, hidden: true }));
  return h("div", { class: "field" }, parts);
}

export function showError(id, message) {
  const control = document.getElementById(id);
  const error = document.getElementById(`${id}-error`);
  if (!control || !error) return false;
  error.textContent = message;
  error.hidden = false;
  control.setAttribute("aria-invalid", "true");
  return true;
}

export function clearErrors(root) {
  for (const error of root.querySelectorAll(".error")) {
    error.textContent = "";
    error.hidden = true;
  }
  for (const control of root.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
}

// A "more" button asks for its next page once: a second press while that page is on its way would
// ask for the same page again and show its items twice. Presses meanwhile share the one request.
export function oneAtATime(action) {
  let running = null;
  return () => {
    if (!running) running = Promise.resolve().then(action).finally(() => { running = null; });
    return running;
  };
}

let noticeTimer = null;
export function notify(message) {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice.textContent = ""; }, 6000);
}

// A view's heading takes the focus, so keyboard and screen-reader users start there.
export function page(title, ...children) {
  const main = clear(document.getElementById("main"));
  const heading = h("h1", { tabindex: "-1", text: title });
  append(main, heading, ...children);
  document.title = `${title} · Switchboard inbox`;
  heading.focus();
  return main;
}

export function when(iso, timeZone) {
  if (!iso) return "";
  const options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  if (timeZone) options.timeZone = timeZone;
  try {
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  } catch {
    return iso;
  }
}
