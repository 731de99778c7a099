// Backups: the page, and the download (admins only; audited by the service; never cached).
import { Hono } from "hono";
import { BackupPage } from "../../../../ui/views/backup.tsx";
import { AppError } from "../../../core/errors.ts";
import type { Services } from "../../service/services.ts";
import { canWrite } from "../../service/context.ts";
import type { AppEnv } from "../env.ts";
import { actorOf } from "../middleware.ts";
import { type C, currentUser, emptyForm, formBody, html, takeFlash, withForm } from "../ui_kit.tsx";
import type { FormState } from "../../../../ui/views/auth.tsx";

const hours = (ms: number) =>
  ms % 86_400_000 === 0
    ? `${ms / 86_400_000}d`
    : ms % 3_600_000 === 0
    ? `${ms / 3_600_000}h`
    : `${Math.round(ms / 60_000)}m`;

export function backupRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const page = (c: C, form: FormState) => {
    const actor = actorOf(c);
    const schedule = s.backups?.schedule;
    return (
      <BackupPage
        title="Backup"
        user={currentUser(c)}
        flash={takeFlash(c)}
        canBackup={canWrite(actor) && actor.kind !== "system" && actor.role === "admin"}
        schedule={schedule
          ? `every ${hours(schedule.intervalMs)}, keeping ${schedule.keep}, in ${schedule.dir}`
          : null}
        form={form}
      />
    );
  };
  ui.get("/ui/backup", (c) => html(c, page(c, emptyForm())));
  ui.post("/ui/backup", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      if (!s.backups) throw new AppError("unavailable", "Backups are not available in this process");
      if ((body.passphrase ?? "") !== (body.passphrase_confirm ?? "")) {
        throw new AppError("validation", "The passphrases differ", {
          fields: [{ field: "passphrase_confirm", message: "does not match the passphrase" }],
        });
      }
      const file = await s.backups.create(actorOf(c), c.get("meta"), body.passphrase ?? "");
      return c.body(file.text, 200, {
        "content-type": "application/octet-stream",
        "content-disposition": `attachment; filename="${file.name}"`,
        "cache-control": "no-store",
      });
    }, (form) => page(c, form));
  });
  return ui;
}
