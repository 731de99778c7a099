import assert from "node:assert/strict";
import { createLogger, REDACTED } from "../../../src/core/logger.ts";
import { Secret } from "../../../src/core/secret.ts";

function capture(format: "journald" | "terminal", level: "debug" | "info" = "info") {
  const lines: string[] = [];
  const log = createLogger({
    sink: (l) => lines.push(l),
    format,
    level,
    now: () => new Date("2026-11-22T10:00:00Z"),
  });
  return { log, lines };
}

Deno.test("logger writes journald priority prefixes and no timestamp under systemd", () => {
  const { log, lines } = capture("journald");
  log.info("heartbeat sent (status=online)");
  log.warn("master unreachable", { retry_in: "5s" });
  log.error("apply failed", { step: "ip link add" });
  assert.deepEqual(lines, [
    "<6>heartbeat sent (status=online)",
    "<4>master unreachable retry_in=5s",
    '<3>apply failed step="ip link add"',
  ]);
});

Deno.test("logger adds time and level in a terminal", () => {
  const { log, lines } = capture("terminal");
  log.info("listening", { url: "https://127.0.0.1:8443" });
  assert.equal(lines[0], "2026-11-22T10:00:00.000Z INFO  listening url=https://127.0.0.1:8443");
});

Deno.test("logger never prints a secret, by key or by type", () => {
  const { log, lines } = capture("journald");
  log.info("user created", {
    password: "hunter2",
    node_secret: "abc",
    private_key: "kX0=",
    api_token: "wbt_123",
    note: new Secret("s3cr3t"),
    public_key: "pub=",
  });
  assert.ok(!/hunter2|abc|kX0=|wbt_123|s3cr3t/.test(lines[0]!), lines[0]);
  assert.ok(lines[0]!.includes(`password=${REDACTED}`));
  assert.ok(lines[0]!.includes("public_key=pub="));
});

Deno.test("logger drops lines below its level and keeps one line per event", () => {
  const { log, lines } = capture("journald", "info");
  log.debug("noise");
  log.info("two\nlines");
  assert.deepEqual(lines, ["<6>two lines"]);
});

Deno.test("child logger prefixes its lines like the manual (NODE_DAEMON ...)", () => {
  const { log, lines } = capture("journald");
  log.child("NODE_DAEMON").info("enrollment successful, node_id=abc123");
  assert.deepEqual(lines, ["<6>NODE_DAEMON enrollment successful, node_id=abc123"]);
});
