// Passkeys in the browser: a form with data-passkey="register" or "login" asks the master for WebAuthn
// options (POST <form action>/options), lets the browser's authenticator answer, puts the answer (JSON,
// binary fields as base64url) into the form's hidden "response" field and submits it as a normal post.
(function () {
  if (globalThis.wbPasskeys) return;
  globalThis.wbPasskeys = true;

  const toBytes = (b64url) => {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  };
  const toB64url = (buf) => {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  async function register(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = (options.excludeCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) }));
    const cred = await navigator.credentials.create({ publicKey: options });
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults(),
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      response: {
        clientDataJSON: toB64url(cred.response.clientDataJSON),
        attestationObject: toB64url(cred.response.attestationObject),
        transports: cred.response.getTransports ? cred.response.getTransports() : [],
      },
    };
  }

  async function signIn(options) {
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = (options.allowCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) }));
    const cred = await navigator.credentials.get({ publicKey: options });
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults(),
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      response: {
        clientDataJSON: toB64url(cred.response.clientDataJSON),
        authenticatorData: toB64url(cred.response.authenticatorData),
        signature: toB64url(cred.response.signature),
        userHandle: cred.response.userHandle ? toB64url(cred.response.userHandle) : undefined,
      },
    };
  }

  function showError(form, text) {
    let box = form.querySelector(".passkey-error");
    if (!box) {
      box = document.createElement("div");
      box.className = "flash flash-error passkey-error";
      box.setAttribute("role", "alert");
      form.prepend(box);
    }
    box.textContent = text;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.passkey) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (!globalThis.PublicKeyCredential) return showError(form, "This browser does not support passkeys.");
    try {
      const res = await fetch(form.action + "/options", { method: "POST", credentials: "same-origin" });
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      const options = await res.json();
      const answer = form.dataset.passkey === "register" ? await register(options) : await signIn(options);
      form.querySelector('input[name="response"]').value = JSON.stringify(answer);
      HTMLFormElement.prototype.submit.call(form);
    } catch (err) {
      showError(form, `No passkey was used: ${err && err.message ? err.message : err}`);
    }
  }, true);
})();
