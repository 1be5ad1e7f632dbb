// Ferry web UI: live updates over Server-Sent Events, copy buttons and
// local times. Pages work without it; it only makes them live.
"use strict";

(function () {
  const lang = document.documentElement.lang || "en";
  // dateFormat is date and time of day, the hour zero-padded on a 24-hour
  // clock like the log lines' times, so that both read alike on one page.
  const dateFormat = new Intl.DateTimeFormat(lang, Object.assign({
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", year: "numeric"
  }, lang === "ja" ? { month: "2-digit", day: "2-digit" } : { month: "short", day: "numeric" }));
  // clockFormat is the time of day to the millisecond, for log lines.
  const clockFormat = new Intl.DateTimeFormat(lang, {
    hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23"
  });

  // localTimes shows every <time datetime> under root in the browser's zone:
  // the time of day for one marked data-clock, else date and time. The
  // server's UTC text stays as the title, unless the element has one.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      const d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) {
        el.title = el.title || el.textContent;
        el.textContent = (el.hasAttribute("data-clock") ? clockFormat : dateFormat).format(d);
      }
    });
  }

  // follow opens the event stream a page names in data-stream and applies
  // each update: replace the target element, or append to it.
  function follow(root) {
    const url = root.dataset.stream;
    const status = document.getElementById("live-status");
    const source = new EventSource(url);
    // setLive shows the stream's state in the indicator's text as well
    // as its colour: data-text-on while connected, data-text-off while the
    // browser reconnects.
    const setLive = function (state) {
      if (!status) { return; }
      status.dataset.live = state;
      const text = state === "on" ? status.dataset.textOn : status.dataset.textOff;
      if (text && status.textContent !== text) { status.textContent = text; }
    };
    source.addEventListener("open", function () { setLive("on"); });
    source.addEventListener("error", function () { setLive("off"); });
    source.addEventListener("update", function (ev) {
      const u = JSON.parse(ev.data);
      const target = document.getElementById(u.target);
      if (!target) { return; }
      const tpl = document.createElement("template");
      tpl.innerHTML = u.html;
      localTimes(tpl.content);
      if (u.append) {
        const stick = target.scrollTop + target.clientHeight >= target.scrollHeight - 4;
        target.append(tpl.content);
        if (stick) { target.scrollTop = target.scrollHeight; }
      } else {
        announceChanges(target, tpl.content);
        target.replaceWith(tpl.content);
      }
    });
    // signedout: the session was signed out or has expired. Reconnecting
    // cannot help, so stop and offer the sign-in page, which comes back here.
    source.addEventListener("signedout", function () {
      source.close();
      if (!status) { return; }
      status.dataset.live = "signedout";
      status.textContent = (status.dataset.textSignedout || "") + " ";
      const link = document.createElement("a");
      link.id = "live-signin";
      link.href = "/signin?next=" + encodeURIComponent(location.pathname + location.search);
      link.textContent = status.dataset.textSignin || link.href;
      status.append(link);
    });
    source.addEventListener("done", function () {
      source.close();
      if (status) { status.dataset.live = "done"; }
      // An ended job's empty log shows that it wrote none, not "yet".
      root.querySelectorAll("[data-empty-ended]").forEach(function (el) {
        el.dataset.empty = el.dataset.emptyEnded;
      });
    });
  }

  // announceChanges reads out, through #live-announce, the new text of
  // each element marked data-announce that an update changes. A screen
  // reader does not announce a live region that is replaced as a whole.
  function announceChanges(oldRoot, newRoot) {
    const out = document.getElementById("live-announce");
    if (!out) { return; }
    newRoot.querySelectorAll("[data-announce][id]").forEach(function (el) {
      const old = document.getElementById(el.id);
      if (old && oldRoot.contains(old) && old.textContent !== el.textContent) {
        out.textContent = el.textContent;
      }
    });
  }

  // Copy buttons copy the text of the element their data-copy names.
  document.addEventListener("click", function (ev) {
    const button = ev.target.closest("button[data-copy]");
    if (!button) { return; }
    const source = document.getElementById(button.dataset.copy);
    if (!source) { return; }
    const text = source.value !== undefined ? source.value : source.textContent;
    const done = function () {
      const label = button.textContent;
      button.textContent = button.dataset.copied || label;
      // The button's aria-label hides its new text, so #copy-status announces it.
      const status = document.getElementById("copy-status");
      if (status) { status.textContent = button.dataset.copied || ""; }
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
    } else {
      selectText(source);
    }
  });

  function selectText(el) {
    if (el.select) { el.select(); return; }
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  // Forms with data-confirm show a confirm prompt before they post.
  document.addEventListener("submit", function (ev) {
    const msg = ev.target.dataset.confirm;
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });

  // setTimeZone fills the hidden tz fields with the browser's offset in
  // minutes east of UTC, so the server reads typed times in this zone, and
  // shows the hint that names this zone.
  function setTimeZone(root) {
    root.querySelectorAll("input[data-tz]").forEach(function (el) {
      el.value = String(-new Date().getTimezoneOffset());
    });
    root.querySelectorAll("[data-tz-hint]").forEach(function (el) {
      el.textContent = el.dataset.tzHint;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setTimeZone(document);
    localTimes(document);
    document.querySelectorAll("[data-stream]").forEach(follow);
    document.querySelectorAll(".log").forEach(function (el) { el.scrollTop = el.scrollHeight; });
  });
})();
