// Environment parsing: each program declares its WIREBUDDY_* variables once (schema, default, doc);
// parseEnv reports every problem at once, and the README's configuration table is generated from the
// same declarations (scripts/gen_env_docs.ts), so docs cannot drift.
import { z } from "zod";

export type EnvVar = {
  name: string;
  schema: z.ZodType;
  description: string;
  /** Shown in the docs; the schema holds the real default. */
  default?: string;
  required?: string;
};

export type EnvResult<T> = { ok: true; value: T } | { ok: false; problems: string[] };

export const EX_CONFIG = 78;

/** Parses the variables of `spec` from `env`; unknown WIREBUDDY_* variables are reported too. */
export function parseEnv<T>(
  spec: readonly EnvVar[],
  env: Record<string, string | undefined>,
  finish: (raw: Record<string, unknown>) => EnvResult<T>,
): EnvResult<T> {
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};
  for (const v of spec) {
    const given = env[v.name];
    const result = v.schema.safeParse(given === "" ? undefined : given);
    if (result.success) raw[v.name] = result.data;
    else {
      for (const issue of result.error.issues) {
        const text = given === undefined ? "is required" : issue.message;
        problems.push(
          `${v.name} ${text}${given !== undefined && !/secret|key/i.test(v.name) ? ` (got "${given}")` : ""}`,
        );
      }
    }
  }
  const known = new Set(spec.map((v) => v.name));
  for (const name of Object.keys(env)) {
    if (name.startsWith("WIREBUDDY_") && !known.has(name)) problems.push(`${name} is not a known setting`);
  }
  if (problems.length > 0) return { ok: false, problems };
  return finish(raw);
}

export const booleanText = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) =>
  ["true", "1", "yes"].includes(v)
);

/** A duration like `30s`, `5m`, `2h`, `500ms` or plain seconds, in milliseconds. */
export const durationText = z.string().regex(/^\d+(ms|s|m|h|d)?$/, "must be a duration like 30s, 5m or 2h")
  .transform((v) => {
    const m = v.match(/^(\d+)(ms|s|m|h|d)?$/)!;
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "s"]!;
    return Number(m[1]) * unit;
  });

/** `host:port` with an IPv4 address, `[v6]:port` or a hostname. */
export const listenText = z.string().transform((v, ctx) => {
  const m = v.match(/^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+)):(\d{1,5})$/);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    ctx.addIssue({ code: "custom", message: "must be host:port, e.g. 0.0.0.0:8443 or [::]:8443" });
    return z.NEVER;
  }
  return { hostname: (m[1] ?? m[2])!, port };
});

export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Markdown table of the variables, for the README. */
export function envTable(spec: readonly EnvVar[]): string {
  const rows = spec.map((v) =>
    `| \`${v.name}\` | ${
      v.required ?? (v.default !== undefined ? `\`${v.default}\`` : "optional")
    } | ${v.description} |`
  );
  return ["| Variable | Default | Description |", "|---|---|---|", ...rows].join("\n");
}
