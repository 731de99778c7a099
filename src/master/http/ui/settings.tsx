// Settings: read-only, the effective configuration from the environment (never a secret).
import { Hono } from "hono";
import { SettingsPage } from "../../../../ui/views/settings.tsx";
import type { AppEnv } from "../env.ts";
import { currentUser, html, isLoopbackHost, type UiOptions } from "../ui_kit.tsx";

export function settingsRoutes(o: UiOptions): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const loopback = o.publicUrl && isLoopbackHost(o.publicUrl.hostname) ? o.publicUrl.href : null;
  ui.get(
    "/ui/settings",
    (c) =>
      html(
        c,
        <SettingsPage
          title="Settings"
          user={currentUser(c)}
          rows={o.settings}
          loopbackPublicUrl={loopback}
        />,
      ),
  );
  return ui;
}
