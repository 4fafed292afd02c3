// doorman's console: passkeys. The only script the console has; the pages work without
// it (password sign-in), it adds "Sign in with a passkey" on /login and "Add a passkey"
// on /profile. Each runs a WebAuthn ceremony and posts its answer in an ordinary form.
"use strict";
(function () {
  var supported = window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function";

  function say(form, message) {
    var box = form.querySelector("[data-passkey-status]");
    if (box) {
      box.textContent = message;
      box.hidden = !message;
    }
  }

  function failed(form, err) {
    var cancelled = err && (err.name === "NotAllowedError" || err.name === "AbortError");
    say(form, cancelled
      ? "No passkey was used. Try again, or use your password."
      : "The passkey did not work: " + (err && err.message ? err.message : err));
  }

  // Sign in: options from the API, the browser asks for a passkey, the form posts it.
  var login = document.getElementById("passkey-login");
  if (login && supported) {
    login.hidden = false;
    login.addEventListener("submit", function (event) {
      event.preventDefault();
      say(login, "");
      fetch("/api/v1/auth/passkey/options", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}"
      })
        .then(function (r) {
          if (!r.ok) { throw new Error("the server refused to start (" + r.status + ")"); }
          return r.json();
        })
        .then(function (options) {
          login.elements.challenge_id.value = options.challenge_id;
          return navigator.credentials.get({
            publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.public_key)
          });
        })
        .then(function (credential) {
          login.elements.credential.value = JSON.stringify(credential.toJSON());
          login.submit();
        })
        .catch(function (err) { failed(login, err); });
    });
  }

  // Add a passkey: the password confirms it is you, then the browser makes the passkey.
  var add = document.getElementById("passkey-add");
  if (add && supported) {
    add.hidden = false;
    add.addEventListener("submit", function (event) {
      event.preventDefault();
      say(add, "");
      var body = new URLSearchParams();
      body.set("csrf", add.elements.csrf.value);
      body.set("password", add.elements.passkey_password.value);
      fetch("/profile/passkeys/options", { method: "POST", body: body })
        .then(function (r) {
          var json = (r.headers.get("Content-Type") || "").indexOf("application/json") === 0;
          if (!json) { throw new Error("the server answered " + r.status + "; reload the page and try again."); }
          return r.json().then(function (answer) {
            if (!r.ok) { throw new Error(answer.message || ("status " + r.status)); }
            return answer;
          });
        })
        .then(function (options) {
          add.elements.challenge_id.value = options.challenge_id;
          return navigator.credentials.create({
            publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.public_key)
          });
        })
        .then(function (credential) {
          add.elements.credential.value = JSON.stringify(credential.toJSON());
          add.elements.passkey_password.value = "";
          add.submit();
        })
        .catch(function (err) { failed(add, err); });
    });
  }
  var missing = document.getElementById("passkey-unsupported");
  if (missing && !supported) {
    missing.hidden = false;
  }
})();
