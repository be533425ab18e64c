// Passkeys in the browser (WebAuthn): enrolling one on the security page, and confirming an
// act with one. A form marked data-step-up with a passkey offered (data-step-up-passkey) and
// nothing typed in its other step-up fields asks the server for a challenge bound to the act,
// object and plan (data-step-up-act/-target/-plan), has the authenticator sign it, and posts
// the signed answer in its hidden `challenge` and `passkey` fields. Without WebAuthn (or this
// script) the other ways to confirm still work.
(function () {
  "use strict";

  function b64urlToBuffer(value) {
    var s = value.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var raw = atob(s), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function bufferToB64url(buffer) {
    var bytes = new Uint8Array(buffer), s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The options JSON of py_webauthn -> what navigator.credentials expects (ArrayBuffers).
  function decodeOptions(options) {
    var o = Object.assign({}, options);
    o.challenge = b64urlToBuffer(o.challenge);
    if (o.user) { o.user = Object.assign({}, o.user, { id: b64urlToBuffer(o.user.id) }); }
    ["allowCredentials", "excludeCredentials"].forEach(function (name) {
      if (o[name]) {
        o[name] = o[name].map(function (c) { return Object.assign({}, c, { id: b64urlToBuffer(c.id) }); });
      }
    });
    return o;
  }

  // A PublicKeyCredential as JSON (what the server verifies), without relying on toJSON().
  function credentialJSON(credential) {
    var r = credential.response, response = { clientDataJSON: bufferToB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = bufferToB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = bufferToB64url(r.authenticatorData);
      response.signature = bufferToB64url(r.signature);
      if (r.userHandle) { response.userHandle = bufferToB64url(r.userHandle); }
    }
    return JSON.stringify({
      id: credential.id, rawId: bufferToB64url(credential.rawId), type: credential.type,
      response: response, clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined
    });
  }

  function csrf(form) {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function postForm(url, form, fields) {
    var body = new URLSearchParams(fields);
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(form), "Accept": "application/json" }, body: body
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.detail || "the server refused"); }
        return data;
      });
    });
  }

  function say(form, text) {
    var status = form.querySelector("[data-step-up-status]");
    if (status) { status.textContent = text; }
  }

  function field(form, name) { return form.querySelector("input[name=" + name + "]"); }

  function typedOtherWay(form) {
    return ["password", "totp", "recovery_code", "provider_proof"].some(function (name) {
      var input = field(form, name);
      return input && input.value;
    });
  }

  // Forms marked data-step-up that render their own step-up fields (not identity/_step_up.html,
  // e.g. the tokens page) get a "Confirm with your passkey" button; a person without a passkey
  // is told so by the challenge endpoint when they press it.
  function addPasskeyButton(form) {
    if (form.querySelector("[data-step-up-fields]") || !window.PublicKeyCredential) { return; }
    var url = document.body.getAttribute("data-step-up-challenge-url");
    if (!url) { return; }
    var box = document.createElement("div");
    box.className = "actions-row";
    box.setAttribute("data-step-up-passkey", "");
    box.setAttribute("data-url", url);
    box.setAttribute("data-step-up-passkey-button", "");
    ["challenge", "passkey"].forEach(function (name) {
      if (!field(form, name)) {
        var input = document.createElement("input");
        input.type = "hidden"; input.name = name; form.appendChild(input);
      }
    });
    var button = document.createElement("button");
    button.type = "submit"; button.className = "secondary"; button.value = "passkey";
    button.setAttribute("data-step-up-use-passkey", "");
    button.textContent = "Confirm with your passkey";
    var status = document.createElement("p");
    status.className = "muted"; status.setAttribute("data-step-up-status", "");
    status.setAttribute("aria-live", "polite");
    box.appendChild(button);
    form.appendChild(box);
    form.appendChild(status);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-step-up]").forEach(addPasskeyButton);
  });

  function wantsPasskey(form, submitter) {
    // An added button asks for the passkey only when it is the one pressed.
    if (form.querySelector("[data-step-up-passkey-button]")) {
      return !!(submitter && submitter.hasAttribute("data-step-up-use-passkey")) &&
        !field(form, "passkey").value;
    }
    // A form with other buttons (declare: "Declare" and "Refresh plan") asks only for its act's.
    var intent = form.getAttribute("data-step-up-intent");
    if (intent && !(submitter && submitter.value === intent)) { return false; }
    return form.matches("[data-step-up]") && form.querySelector("[data-step-up-passkey]") &&
      window.PublicKeyCredential && !typedOtherWay(form) && field(form, "passkey") &&
      !field(form, "passkey").value;
  }

  function assert(form) {
    var plan = form.getAttribute("data-step-up-plan");
    if (plan === null) { var input = field(form, "plan_hash"); plan = input ? input.value : ""; }
    say(form, "Asking your passkey…");
    return postForm(form.querySelector("[data-step-up-passkey]").getAttribute("data-url"), form, {
      act: form.getAttribute("data-step-up-act") || "",
      target: form.getAttribute("data-step-up-target") || "",
      plan_hash: plan
    }).then(function (data) {
      return navigator.credentials.get({ publicKey: decodeOptions(data.publicKey) }).then(function (credential) {
        field(form, "challenge").value = data.challenge;
        field(form, "passkey").value = credentialJSON(credential);
      });
    });
  }

  function create(form) {
    say(form, "Asking your authenticator for a new passkey…");
    return postForm(form.getAttribute("data-passkey-options"), form, {}).then(function (data) {
      return navigator.credentials.create({ publicKey: decodeOptions(data.publicKey) }).then(function (credential) {
        field(form, "attestation").value = credentialJSON(credential);
      });
    });
  }

  // A live poll can replace the open action while the authenticator is asked (app.js keeps
  // it open, with what was typed): a form no longer in the page cannot be sent, so the
  // passkey's answer goes into the form that replaced it. Its plan may be another: the
  // server then refuses the answer as given for another plan, and says so.
  function current(form, actionId) {
    if (form.isConnected) { return form; }
    var action = actionId && document.getElementById(actionId);
    return (action && action.querySelector("form")) || null;
  }

  function carriedOver(old, actionId) {
    var form = current(old, actionId);
    if (!form || form === old) { return form; }
    ["challenge", "passkey", "attestation"].forEach(function (name) {
      var from = field(old, name), to = field(form, name);
      if (from && to) { to.value = from.value; }
    });
    return form;
  }

  function sameButton(form, submitter) {
    if (!submitter) { return undefined; }
    if (submitter.form === form) { return submitter; }
    var buttons = form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
    var same = Array.prototype.filter.call(buttons, function (button) {
      return button.name === submitter.name && button.value === submitter.value;
    });
    return same[0] || buttons[0] || undefined;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("data-step-up-busy")) { event.preventDefault(); return; }
    var creating = form.matches("[data-passkey-create]") && !field(form, "attestation").value;
    var asserting = wantsPasskey(form, event.submitter);
    if (!creating && !asserting) { return; }
    event.preventDefault();
    var submitter = event.submitter;
    var action = form.closest("details.action");
    var actionId = action && action.id;
    form.setAttribute("data-step-up-busy", "1");
    var steps = Promise.resolve();
    if (asserting) { steps = steps.then(function () { return assert(form); }); }
    if (creating) { steps = steps.then(function () { return create(form); }); }
    steps.then(function () {
      form.removeAttribute("data-step-up-busy");
      var sending = carriedOver(form, actionId);
      if (!sending) { return; }  // that action is no longer offered: nothing to confirm
      say(sending, "Confirmed: sending…");
      sending.requestSubmit(sameButton(sending, submitter));
    }, function (error) {
      form.removeAttribute("data-step-up-busy");
      if (field(form, "passkey")) { field(form, "passkey").value = ""; }
      var shown = current(form, actionId);
      if (!shown) { return; }
      say(shown, "Not confirmed: " + (error && error.message ? error.message : error) +
        ". Try again" + (shown.querySelector("input[name=password], input[name=totp]") ? ", or use another way below." : "."));
    });
  });
})();
