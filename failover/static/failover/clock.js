// A clock for a page's live updates (app.js), on a thread of its own: it says "tick" every
// half second. Chromium was seen in CI to stop every timer a visible page had running (its
// polls', their checks', a setInterval's) while a timer made afterwards fired on time; a
// worker's timers are not the page's, and its messages reach the page as messages.
setInterval(function () { postMessage("tick"); }, 500);
