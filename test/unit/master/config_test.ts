import assert from "node:assert/strict";
import { parseMasterEnv } from "../../../src/master/config.ts";
import { MASTER_ENV } from "../../../src/master/config.ts";
import { envTable } from "../../../src/core/env.ts";

const SECRET = "x".repeat(40);

Deno.test("config has production defaults", () => {
  const r = parseMasterEnv({ WIREBUDDY_SECRET_KEY: SECRET });
  assert.ok(r.ok);
  assert.equal(r.value.dataDir, "/var/lib/wirebuddy");
  assert.deepEqual(r.value.listen, { hostname: "0.0.0.0", port: 8443 });
  assert.equal(r.value.tls.mode, "self-signed");
  assert.equal(r.value.publicUrl.href, "https://127.0.0.1:8443/");
  assert.equal(r.value.logLevel, "info");
  assert.equal(String(r.value.secretKey), "[redacted]");
});

Deno.test("config lists every problem at once, one per line", () => {
  const r = parseMasterEnv({
    WIREBUDDY_SECRET_KEY: "short",
    WIREBUDDY_LISTEN: "nonsense",
    WIREBUDDY_TLS: "maybe",
    WIREBUDDY_LOG_LEVEL: "loud",
    WIREBUDDY_TYPO: "1",
  });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.problems.length, 5, r.problems.join("\n"));
  for (const name of ["SECRET_KEY", "LISTEN", "WIREBUDDY_TLS", "LOG_LEVEL", "WIREBUDDY_TYPO"]) {
    assert.ok(r.problems.some((p) => p.includes(name)), `no problem names ${name}`);
  }
  assert.ok(!r.problems.join(" ").includes('"short"'), "a secret value is never echoed");
});

Deno.test("config requires a secret key in production but not in dev mode", () => {
  const prod = parseMasterEnv({});
  assert.equal(prod.ok, false);
  assert.match(prod.ok ? "" : prod.problems[0]!, /WIREBUDDY_SECRET_KEY is required/);
  const dev = parseMasterEnv({ WIREBUDDY_DEV: "1", WIREBUDDY_DATA_DIR: "./data" });
  assert.ok(dev.ok);
  assert.equal(dev.value.secretKey, null);
});

Deno.test("config allows TLS off only on loopback or behind a trusted proxy", () => {
  const exposed = parseMasterEnv({ WIREBUDDY_SECRET_KEY: SECRET, WIREBUDDY_TLS: "off" });
  assert.equal(exposed.ok, false);
  const loop = parseMasterEnv({
    WIREBUDDY_SECRET_KEY: SECRET,
    WIREBUDDY_TLS: "off",
    WIREBUDDY_LISTEN: "127.0.0.1:8080",
  });
  assert.ok(loop.ok);
  assert.equal(loop.value.publicUrl.protocol, "http:");
  const proxied = parseMasterEnv({
    WIREBUDDY_SECRET_KEY: SECRET,
    WIREBUDDY_TLS: "off",
    WIREBUDDY_TRUST_PROXY: "true",
  });
  assert.ok(proxied.ok);
});

Deno.test("config needs both files with WIREBUDDY_TLS=files", () => {
  const r = parseMasterEnv({
    WIREBUDDY_SECRET_KEY: SECRET,
    WIREBUDDY_TLS: "files",
    WIREBUDDY_TLS_CERT_FILE: "/c.pem",
  });
  assert.equal(r.ok, false);
  assert.deepEqual(r.ok ? [] : r.problems, ["WIREBUDDY_TLS_KEY_FILE is required when WIREBUDDY_TLS=files"]);
});

Deno.test("config parses IPv6 listen addresses, durations and a public URL", () => {
  const r = parseMasterEnv({
    WIREBUDDY_SECRET_KEY: SECRET,
    WIREBUDDY_LISTEN: "[::1]:9443",
    WIREBUDDY_SESSION_TTL: "30m",
    WIREBUDDY_PUBLIC_URL: "https://vpn.example.com",
  });
  assert.ok(r.ok);
  assert.deepEqual(r.value.listen, { hostname: "::1", port: 9443 });
  assert.equal(r.value.sessionTtlMs, 30 * 60_000);
  assert.equal(r.value.publicUrl.host, "vpn.example.com");
  const bad = parseMasterEnv({
    WIREBUDDY_SECRET_KEY: SECRET,
    WIREBUDDY_LISTEN: "0.0.0.0:70000",
    WIREBUDDY_PUBLIC_URL: "ftp://x",
  });
  assert.equal(bad.ok ? 0 : bad.problems.length, 2);
});

Deno.test("the README's configuration table lists every variable", () => {
  const table = envTable(MASTER_ENV);
  for (const v of MASTER_ENV) assert.ok(table.includes(`\`${v.name}\``));
});
