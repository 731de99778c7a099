// The browser UI: full pages rendered with hono/jsx; htmx boosts links and forms. Every mutation is
// a real form POST (works without JavaScript), followed by a redirect with a flash message, or a 422
// re-render of the form with the bad fields named. This file only mounts the screens (one route file
// each, under ui/); what they share is in ui_kit.tsx.
import { Hono } from "hono";
import type { SettingRow } from "../../../ui/views/settings.tsx";
import type { Services } from "../service/services.ts";
import type { AppEnv } from "./env.ts";
import { requireSession } from "./middleware.ts";
import { accountRoutes } from "./ui/account.tsx";
import { auditRoutes } from "./ui/audit.tsx";
import { backupRoutes } from "./ui/backup.tsx";
import { authRoutes } from "./ui/auth.tsx";
import { dashboardRoutes } from "./ui/dashboard.tsx";
import { interfacesRoutes } from "./ui/interfaces.tsx";
import { nodesRoutes } from "./ui/nodes.tsx";
import { dnsRoutes } from "./ui/dns.tsx";
import { peersRoutes } from "./ui/peers.tsx";
import { poolsRoutes } from "./ui/pools.tsx";
import { settingsRoutes } from "./ui/settings.tsx";
import { tokensRoutes } from "./ui/tokens.tsx";
import { usersRoutes } from "./ui/users.tsx";
import { webhooksRoutes } from "./ui/webhooks.tsx";
import { sessionGate, uiOptions } from "./ui_kit.tsx";

export function uiRoutes(s: Services, settings: SettingRow[] = []): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const o = uiOptions(settings);

  // setup, login and logout
  ui.route("/", authRoutes(s));

  // everything below needs a session
  ui.use("/ui/*", sessionGate()); // no session: to the login, keeping the address and a posted form
  ui.use("/ui/*", requireSession());
  ui.route("/", dashboardRoutes(s, o));
  ui.route("/", usersRoutes(s));
  ui.route("/", accountRoutes(s));
  ui.route("/", tokensRoutes(s));
  ui.route("/", auditRoutes(s));
  ui.route("/", interfacesRoutes(s));
  ui.route("/", poolsRoutes(s));
  ui.route("/", peersRoutes(s, o));
  ui.route("/", nodesRoutes(s, o));
  ui.route("/", dnsRoutes(s));
  ui.route("/", webhooksRoutes(s));
  ui.route("/", settingsRoutes(o));
  ui.route("/", backupRoutes(s));

  return ui;
}
