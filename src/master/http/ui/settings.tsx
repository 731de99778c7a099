// Settings: read-only, the effective configuration from the environment (never a secret).
import { Hono } from "hono";
import { type SettingRow, SettingsPage } from "../../../../ui/views/settings.tsx";
import type { AppEnv } from "../env.ts";
import { currentUser, html } from "../ui_kit.tsx";

export function settingsRoutes(settings: SettingRow[]): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  ui.get(
    "/ui/settings",
    (c) => html(c, <SettingsPage title="Settings" user={currentUser(c)} rows={settings} />),
  );
  return ui;
}
