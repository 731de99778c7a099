// The signed-in user's own account: password (changing it ends their other sessions), the authenticator
// app with its recovery codes, and passkeys.
import { Hono } from "hono";
import type { FormState } from "../../../../ui/views/auth.tsx";
import {
  type AccountModel,
  AccountPage,
  RecoveryCodesPage,
  TotpEnrolPage,
} from "../../../../ui/views/account.tsx";
import type { Flash } from "../../../../ui/views/layout.tsx";
import { AppError } from "../../../core/errors.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import { type C, currentUser, formBody, html, redirectWith, takeFlash, withForm } from "../ui_kit.tsx";

const empty = (): FormState => ({ values: {}, errors: {} });

export function accountRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const self = (c: C) => {
    const a = actorOf(c);
    if (a.kind !== "user") throw new AppError("forbidden", "Only a signed-in user has an account page");
    return a;
  };
  const page = (c: C, parts: Partial<AccountModel> = {}, flash: Flash | null = null) => {
    const a = self(c);
    const status = s.factors.status(a.userId);
    return (
      <AccountPage
        title="Account"
        user={currentUser(c)}
        flash={flash}
        form={empty()}
        security={{
          totp: status.totp,
          recoveryRemaining: status.recoveryRemaining,
          passkeys: s.passkeys?.list(a.userId) ?? [],
          mustEnrol: !!a.mustEnrol && !s.factors.hasSecondFactor(a.userId),
          passkeysAvailable: !!s.passkeys,
        }}
        {...parts}
      />
    );
  };

  ui.get("/ui/account", (c) => html(c, page(c, {}, takeFlash(c))));
  ui.post("/ui/account/password", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      await s.accounts.changeOwnPassword(actorOf(c), c.get("meta"), body);
      return redirectWith(c, "/ui/account", {
        kind: "ok",
        text: "Password changed. Your other sessions were logged out.",
      });
    }, (form) => page(c, { form }));
  });

  const enrolPage = async (c: C, form: FormState) => {
    const e = await s.factors.pendingTotp(self(c));
    if (!e) return redirectWith(c, "/ui/account");
    return html(
      c,
      <TotpEnrolPage
        title="Authenticator app"
        user={currentUser(c)}
        qrSvg={e.qrSvg}
        secret={e.secret}
        form={form}
      />,
      Object.keys(form.errors).length > 0 ? 422 : 200,
    );
  };
  ui.post("/ui/account/totp/start", async (c) => {
    await s.factors.beginTotp(self(c), c.get("meta"));
    return c.redirect("/ui/account/totp", 303);
  });
  ui.get("/ui/account/totp", (c) => enrolPage(c, empty()));
  ui.post("/ui/account/totp/confirm", async (c) => {
    const body = await formBody(c);
    try {
      const codes = await s.factors.confirmTotp(self(c), c.get("meta"), { code: body.code });
      return html(c, <RecoveryCodesPage title="Recovery codes" user={currentUser(c)} codes={codes} />);
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== "validation") throw err;
      return await enrolPage(c, { values: {}, errors: { code: err.fields[0]?.message ?? "is wrong" } });
    }
  });
  ui.post("/ui/account/totp/disable", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      await s.factors.disableTotp(self(c), c.get("meta"), { code: body.code });
      return redirectWith(c, "/ui/account", { kind: "ok", text: "The authenticator app was removed." });
    }, (form) => page(c, { totpForm: form }));
  });
  ui.post("/ui/account/recovery", async (c) => {
    const codes = await s.factors.regenerateRecovery(self(c), c.get("meta"));
    return html(c, <RecoveryCodesPage title="Recovery codes" user={currentUser(c)} codes={codes} />);
  });

  const passkeys = () => {
    if (!s.passkeys) {
      throw new AppError("not_found", "Passkeys are off: the public URL has no domain name or is not https");
    }
    return s.passkeys;
  };
  ui.post("/ui/account/passkeys/options", async (c) => c.json(await passkeys().registrationOptions(self(c))));
  ui.post("/ui/account/passkeys", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      const p = await passkeys().register(self(c), c.get("meta"), {
        name: body.name,
        response: body.response,
      });
      return redirectWith(c, "/ui/account", { kind: "ok", text: `Passkey "${p.name}" added.` });
    }, (form) => page(c, { passkeyForm: form }));
  });
  ui.post("/ui/account/passkeys/:id/delete", (c) => {
    passkeys().remove(self(c), c.get("meta"), idParam(c));
    return redirectWith(c, "/ui/account", { kind: "ok", text: "Passkey removed." });
  });
  return ui;
}
