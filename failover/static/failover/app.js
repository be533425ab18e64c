// Small behaviours on top of server-rendered pages; everything works without them.
(function () {
  "use strict";

  // Countdowns (approval expiry, request expiry) tick in the browser between polls.
  function pad(n) { return String(n).padStart(2, "0"); }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("datetime")) - now) / 1000);
      if (isNaN(left)) { return; }
      if (left <= 0) { el.textContent = "now (expired)"; return; }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = "in " + (h ? h + ":" + pad(m) : m) + ":" + pad(s);
    });
  }

  // Opening an action puts the cursor where the person types next (password or reason).
  function focusFirstField(details) {
    // The first thing that must be typed: a required reason, else the password.
    var field = details.querySelector("textarea[required]") ||
      details.querySelector("input[type=password]") || details.querySelector("textarea");
    if (field) { field.focus({ preventScroll: true }); }
    details.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("toggle", function (event) {
    var el = event.target;
    if (!el.matches || !el.matches("details.action") || !el.open || !el.isConnected) { return; }
    // Reopened by a swap (below): the cursor stays where the person was, not the first field.
    if (el.hasAttribute("data-reopened")) { el.removeAttribute("data-reopened"); return; }
    // The toggle event is a task of its own, after the click that opened the form: under
    // load (seen in CI) it came after the first keystroke in the field the person had already
    // clicked into, and moving the cursor to the first field then sent the rest of what they
    // typed into the password. A cursor already in the form stays where it is.
    var active = document.activeElement;
    if (active && el.contains(active) && !active.matches("summary")) { return; }
    focusFirstField(el);
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    // A notification link (?action=approve) lands with that action's form open.
    var wanted = document.querySelector("details.action[data-focus]");
    if (wanted) { wanted.open = true; focusFirstField(wanted); }
  });
  document.addEventListener("htmx:afterSwap", tick);

  // A poll replaces the actions when the person's choices changed (someone else decided): the
  // form they had open stays open, with what they had typed, when that action is still
  // offered, so its new wording ("... and execute now") is what they confirm. What they type
  // is kept as they type it, and which form is open as they open or close it, so a swap of
  // any part of the page, in any order, cannot lose either. What confirms it is the person
  // (a password, an authenticator or recovery code) is never kept: the open form's goes from
  // the old field to the new one during the swap that replaces it, or the click that follows
  // would confirm with an empty one (the drill's stall in CI).
  var typed = {};  // action id -> {field name: text}
  var secrets = {};  // action id -> {field name: text}, only while a swap is under way
  var SECRET = "input[type=password], [data-step-up-fields] input:not([type=hidden])";
  var openId = null;
  document.addEventListener("input", function (event) {
    var field = event.target;
    var details = field.closest && field.closest("details.action");
    if (!details || !details.id || !field.name || field.matches(SECRET)) { return; }
    (typed[details.id] = typed[details.id] || {})[field.name] = field.value;
  });
  document.addEventListener("toggle", function (event) {
    var el = event.target;
    if (!el.matches || !el.matches("details.action") || !el.id || !el.isConnected) { return; }
    if (el.open) { openId = el.id; } else if (openId === el.id) { openId = null; }
  }, true);
  // Where the cursor was in an action (a field, its summary, its button): htmx refocuses
  // only by id, and while the new form is still closed, which a browser ignores, so the next
  // keystrokes would land nowhere. Whatever brought the swap (a decision, or a part that
  // changed for any other reason), the cursor goes back to the same place in the new form.
  var typing = null;  // {action, index, id, start, end}
  function focusables(details) {
    var found = details.querySelectorAll("summary, input, textarea, select, button");
    return Array.prototype.slice.call(found);
  }
  function beforeSwap(event) {
    var target = event.detail.target;
    var open = target && target.querySelector && target.querySelector("details.action[open]");
    if (open && open.id) {
      openId = open.id;  // opened a moment ago: its toggle may be queued
      open.querySelectorAll(SECRET).forEach(function (field) {
        if (field.name && field.value) {
          (secrets[open.id] = secrets[open.id] || {})[field.name] = field.value;
        }
      });
    }
    var active = document.activeElement;
    var action = active && active.closest && active.closest("details.action");
    if (action && action.id && target && target.contains && target.contains(active)) {
      typing = { action: action.id, index: focusables(action).indexOf(active), id: active.id,
        start: active.selectionStart, end: active.selectionEnd };
    }
  }
  // A page's one poll swaps its changed parts out of band (failover/web/live.py).
  document.addEventListener("htmx:beforeSwap", function (event) {
    secrets = {};  // a response's swaps start here; its parts swap out of band after it
    beforeSwap(event);
  });
  document.addEventListener("htmx:oobBeforeSwap", beforeSwap);
  function fillIn(details, values) {
    Object.keys(values || {}).forEach(function (name) {
      var field = details.querySelector("[name='" + name + "']");
      if (field && !field.value) { field.value = values[name]; }
    });
  }
  function reopen() {
    var carried = secrets;
    secrets = {};
    if (!openId) { return; }
    var details = document.getElementById(openId);
    if (!details) { openId = null; return; }  // that action is no longer offered
    fillIn(details, typed[openId]);
    fillIn(details, carried[openId]);
    if (!details.open) { details.setAttribute("data-reopened", ""); details.open = true; }
  }
  document.addEventListener("htmx:afterSwap", function () {
    var wasTyping = typing;
    typing = null;
    reopen();
    var details = wasTyping && document.getElementById(wasTyping.action);
    if (!details) { return; }  // no cursor in an action, or that action is no longer offered
    var field = (wasTyping.id && document.getElementById(wasTyping.id)) ||
      focusables(details)[wasTyping.index];
    if (field && details.contains(field) && document.activeElement !== field) {
      field.focus({ preventScroll: true });
      if (typeof wasTyping.start === "number" && field.setSelectionRange) {
        try { field.setSelectionRange(wasTyping.start, wasTyping.end); } catch (e) { /* no text */ }
      }
    }
  });
  document.addEventListener("click", function (event) {
    if (event.target.matches("[data-print]")) { window.print(); }
    if (event.target.matches("[data-dismiss]")) { dismiss(event.target.closest(".message")); }
  });

  // The report's sections start closed (a phone sees one line each): a wide screen opens
  // them all, and so does printing, which would otherwise print only their titles.
  function openSections() {
    document.querySelectorAll("details.rp-section").forEach(function (d) { d.open = true; });
  }
  window.addEventListener("beforeprint", openSections);
  document.addEventListener("DOMContentLoaded", function () {
    if (window.matchMedia && window.matchMedia("(min-width: 48rem)").matches) { openSections(); }
  });

  // Flash messages ("Failover #4 declared.") describe the act just done: each can be
  // dismissed, and all go once a live update shows the request in another state, so an old
  // "declared" never stays the biggest thing on a page that now says "Applied".
  function dismiss(message) {
    if (!message) { return; }
    var box = message.parentNode;
    message.remove();
    if (box && box.classList.contains("messages") && !box.querySelector(".message")) { box.remove(); }
  }
  function stateNow() {
    var line = document.querySelector("#request-status .state-line");
    return line ? line.textContent.replace(/\s+/g, " ").trim() : null;
  }
  var shownState = null;
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-dismiss]").forEach(function (b) { b.hidden = false; });
    shownState = stateNow();
  });
  document.addEventListener("htmx:afterSettle", function () {
    var state = stateNow();
    if (state === null || state === shownState) { return; }
    shownState = state;
    document.querySelectorAll(".messages .message").forEach(dismiss);
  });

  // Live updates. A page's pollers (data-live-poll, failover/web/live.py) are asked every 2 s
  // by this script, not by htmx's "every 2s", and it says when the page last heard from the
  // server, loudly once it has not for STALE_MS (offline, server down, a poll hanging): what
  // is on screen may then be out of date. Polling goes on meanwhile, so the first answer
  // after the server is back clears it by itself.
  //
  // Every timer here is made from a message task (`later`), never from inside a timer. htmx's
  // "every 2s" and setInterval each make their next timer from the last, and Chromium runs a
  // timer made five timers deep on a queue of its own: in CI a page's such timers all stopped
  // for good (the poll's, and the one-second check that would have restarted it), the server
  // answering and nothing logged, while a new timer made then fired on time.
  var POLL_MS = 2000;
  var HIDDEN_POLL_MS = 30000;  // a tab in the background asks seldom, and at once when shown
  var STALE_MS = 4000;  // two polls missed in a row
  var CHECK_MS = 500;  // said within STALE_MS + CHECK_MS: within 5 s, a busy machine's late timer too
  var SILENT_MS = 5000;  // no poll sent for two and a half periods: the poll timer died
  var IN_FLIGHT_MS = 20000;  // past htmx's own 15 s timeout (templates/base.html)
  function later(ms, fn) {
    setTimeout(function () {
      var channel = new MessageChannel();
      channel.port1.onmessage = function () { channel.port1.close(); fn(); };
      channel.port2.postMessage(null);
    }, ms);
  }
  // Arming a chain again makes the timer it had already armed do nothing when it fires.
  function chain(step) {
    var run = 0;
    return function arm(ms) {
      var mine = ++run;
      later(ms, function () { if (mine === run) { step(); } });
    };
  }

  var lastOk = Date.now();
  var lastSent = Date.now();
  // The polls unanswered, by request: htmx says a poll was answered on its poller, or on the
  // poller's parent when the answer replaced it, so the request is what tells it is a poll.
  var flying = new Set();
  var graceUntil = 0;
  var stale = false;
  var lastCheck = Date.now();
  function pollers() { return document.querySelectorAll("[data-live-poll]"); }
  function isPoller(elt) { return !!(elt && elt.hasAttribute && elt.hasAttribute("data-live-poll")); }
  function hidden() { return document.visibilityState === "hidden"; }
  function utc(ms) { return new Date(ms).toISOString().slice(11, 19) + " UTC"; }
  function statusLine() { return document.querySelector("[data-live-status]"); }
  function showLive() {
    var line = statusLine();
    if (!line) { return; }
    if (stale) {
      line.className = "live-status stale";
      line.setAttribute("role", "alert");
      line.textContent = "Live updates stopped: " +
        (navigator.onLine === false ? "this device is offline" : "the server is not answering") +
        ". Last updated " + utc(lastOk) + "; what you see may be out of date. Retrying " +
        "every 2 s.";
    } else {
      line.className = "muted live-status";
      line.removeAttribute("role");
      line.textContent = "Live: updated " + utc(lastOk);
    }
  }

  var armPoll = chain(function poll() {
    var busy = flying.size > 0 && Date.now() - lastSent < IN_FLIGHT_MS;
    if (!busy && (!hidden() || Date.now() - lastSent >= HIDDEN_POLL_MS)) {
      // Not bubbling: a part that polls inside another must not make that one poll too.
      pollers().forEach(function (elt) {
        elt.dispatchEvent(new CustomEvent("live-poll", { bubbles: false }));
      });
    }
    if (Date.now() - lastCheck > 3 * 1000) { armCheck(0); }  // the other chain died
    armPoll(POLL_MS);
  });
  var armCheck = chain(function check() {
    lastCheck = Date.now();
    tick();
    if (pollers().length && !hidden()) {
      if (Date.now() - lastSent > (flying.size ? IN_FLIGHT_MS : SILENT_MS)) {
        lastSent = Date.now();
        flying.clear();
        armPoll(0);  // its timer never fired: poll now, and every 2 s from here
      }
      var late = Date.now() - lastOk > STALE_MS && Date.now() > graceUntil;
      if (late !== stale && statusLine()) { stale = late; showLive(); }
    }
    armCheck(CHECK_MS);
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (isPoller(event.detail.elt)) { lastSent = Date.now(); flying.add(event.detail.xhr); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!flying.delete(event.detail.xhr)) { return; }  // answered, failed or timed out
    if (!event.detail.successful) { return; }
    lastOk = Date.now();
    stale = false;
    showLive();
  });
  document.addEventListener("visibilitychange", function () {
    // Back in view: ask at once, and the answer's time is not a missed poll.
    if (!hidden()) {
      graceUntil = Date.now() + 3000;
      lastSent = Date.now();
      if (pollers().length) { armPoll(0); }
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    armCheck(CHECK_MS);
    if (!pollers().length) { return; }
    showLive();
    armPoll(POLL_MS);
  });
})();
