// The DNS screen: status, settings and the pause switch, blocklists (URL, file or pasted text), rules,
// records, each peer's choices, and the query log with "block/allow this domain" on every row.
import { Hono } from "hono";
import { AppError } from "../../../core/errors.ts";
import type { FormState } from "../../../../ui/views/auth.tsx";
import { DnsPage } from "../../../../ui/views/dns.tsx";
import type { Flash } from "../../../../ui/views/layout.tsx";
import { canWrite } from "../../service/context.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import {
  type C,
  checkbox,
  currentUser,
  emptyForm,
  formBody,
  html,
  num,
  redirectWith,
  requireWriter,
  takeFlash,
  text,
  withForm,
} from "../ui_kit.tsx";

type Forms = { settings: FormState; list: FormState; rule: FormState; record: FormState };
const lines = (v: string | undefined) => text(v).split(/[\s,]+/).filter(Boolean);

function settingsInput(b: Record<string, string>): Record<string, unknown> {
  return {
    enabled: checkbox(b.enabled),
    zone: text(b.zone),
    upstreams: lines(b.upstreams),
    dnssec: checkbox(b.dnssec),
    insecure_domains: lines(b.insecure_domains),
    block_mode: text(b.block_mode),
    log_queries: checkbox(b.log_queries),
    log_retention_days: num(b.log_retention_days),
    refresh_hours: num(b.refresh_hours),
  };
}

/** The add-list form: multipart with an optional file, or urlencoded; the file's text wins over the textarea. */
async function listForm(c: C): Promise<Record<string, string>> {
  const type = c.req.header("content-type") ?? "";
  if (!type.includes("multipart/form-data")) return await formBody(c);
  const body = await c.req.parseBody();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === "string") out[k] = v;
    else if (v instanceof File && k === "file" && v.size > 0) out.content = await v.text();
  }
  return out;
}

export function dnsRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const page = (c: C, forms: Partial<Forms> = {}, flash: Flash | null = null) => {
    const q = text(c.req.query("q")).slice(0, 200);
    const blocked = c.req.query("blocked") ?? "";
    return (
      <DnsPage
        title="DNS"
        user={currentUser(c)}
        flash={flash}
        canEdit={canWrite(actorOf(c))}
        status={s.dns.status()}
        settings={s.dns.settings()}
        lists={s.dnsLists.list()}
        rules={s.dns.rules()}
        records={s.dns.records()}
        peers={s.dns.peers()}
        stats={s.dnsLog.stats()}
        queries={s.dnsLog.search({ q, blocked: blocked === "" ? null : blocked === "true", limit: 100 })}
        search={{ q, blocked }}
        forms={{
          settings: forms.settings ?? emptyForm(),
          list: forms.list ?? emptyForm(),
          rule: forms.rule ?? emptyForm(),
          record: forms.record ?? emptyForm(),
        }}
      />
    );
  };
  const back = (c: C, flash: Flash) => redirectWith(c, "/ui/dns", flash);

  ui.get("/ui/dns", (c) => html(c, page(c, {}, takeFlash(c))));

  ui.post("/ui/dns/settings", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, () => {
      s.dns.updateSettings(actorOf(c), c.get("meta"), settingsInput(body));
      return Promise.resolve(back(c, { kind: "ok", text: "DNS settings saved." }));
    }, (form) => page(c, { settings: form }));
  });
  ui.post("/ui/dns/pause", (c) => {
    const st = s.dns.pause(actorOf(c), c.get("meta"), {});
    return back(c, { kind: "ok", text: `Blocking paused until ${new Date(st.pausedUntil!).toISOString()}.` });
  });
  ui.post("/ui/dns/resume", (c) => {
    s.dns.resume(actorOf(c), c.get("meta"));
    return back(c, { kind: "ok", text: "Blocking resumed." });
  });

  ui.post("/ui/dns/lists", async (c) => {
    requireWriter(c, "DNS");
    const body = await listForm(c);
    return await withForm(c, body, async () => {
      const url = text(body.url);
      const l = await s.dnsLists.add(actorOf(c), c.get("meta"), {
        name: text(body.name),
        ...(url ? { url } : { content: body.content ?? "" }),
      });
      const note = l.lastMessage ? ` (${l.lastMessage})` : "";
      return back(c, { kind: "ok", text: `List ${l.name} added: ${l.domainCount} domains${note}.` });
    }, (form) => page(c, { list: { ...form, values: { ...form.values, content: "" } } }));
  });
  ui.post("/ui/dns/lists/:id/refresh", async (c) => {
    try {
      const l = await s.dnsLists.refresh(actorOf(c), c.get("meta"), idParam(c));
      return back(c, { kind: "ok", text: `List ${l.name} refreshed: ${l.domainCount} domains.` });
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.code === "forbidden") throw err;
      return back(c, { kind: "error", text: err.publicMessage });
    }
  });
  ui.post("/ui/dns/lists/:id/toggle", (c) => {
    const id = idParam(c);
    const l = s.dnsLists.update(actorOf(c), c.get("meta"), id, { enabled: !s.dnsLists.get(id).enabled });
    return back(c, { kind: "ok", text: `List ${l.name} ${l.enabled ? "enabled" : "disabled"}.` });
  });
  ui.post("/ui/dns/lists/:id/delete", (c) => {
    const id = idParam(c);
    const name = s.dnsLists.get(id).name;
    s.dnsLists.delete(actorOf(c), c.get("meta"), id);
    return back(c, { kind: "ok", text: `List ${name} deleted.` });
  });

  ui.post("/ui/dns/rules", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, () => {
      const r = s.dns.addRule(actorOf(c), c.get("meta"), {
        kind: text(body.kind),
        domain: text(body.domain),
      });
      return Promise.resolve(
        back(c, { kind: "ok", text: `${r.kind === "block" ? "Blocked" : "Allowed"} ${r.domain}.` }),
      );
    }, (form) => page(c, { rule: form }));
  });
  ui.post("/ui/dns/rules/:id/delete", (c) => {
    s.dns.deleteRule(actorOf(c), c.get("meta"), idParam(c));
    return back(c, { kind: "ok", text: "Rule removed." });
  });

  ui.post("/ui/dns/records", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, () => {
      const r = s.dns.addRecord(actorOf(c), c.get("meta"), {
        name: text(body.name),
        type: text(body.type),
        value: text(body.value),
      });
      return Promise.resolve(back(c, { kind: "ok", text: `Record ${r.name} ${r.type} ${r.value} added.` }));
    }, (form) => page(c, { record: form }));
  });
  ui.post("/ui/dns/records/:id/delete", (c) => {
    s.dns.deleteRecord(actorOf(c), c.get("meta"), idParam(c));
    return back(c, { kind: "ok", text: "Record removed." });
  });

  ui.post("/ui/dns/peers/:id", async (c) => {
    const id = idParam(c);
    const body = await formBody(c);
    const listIds = s.dnsLists.list().map((l) => l.id);
    const chosen = listIds.filter((l) => body[`list_${l}`] === "on");
    const p = s.dns.setPeerPrefs(actorOf(c), c.get("meta"), id, {
      blocking: checkbox(body.blocking),
      lists: chosen.length === listIds.length ? null : chosen,
      log: checkbox(body.log),
    });
    return back(c, { kind: "ok", text: `DNS choices of ${p.name} saved.` });
  });

  return ui;
}
