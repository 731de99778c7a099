import assert from "node:assert/strict";
import { AgentState } from "../../../src/node/agent_state.ts";
import { readStatus, renderStatus, STATUS_FILE, statusLoop } from "../../../src/node/status.ts";
import type { NodeConfig } from "../../../src/core/sync.ts";
import { FakeClock, MemFs } from "../../support/fakes.ts";

const KEY = "x".repeat(43) + "=";
const config: NodeConfig = {
  node_id: 3,
  config_version: 14,
  issued_at: 0,
  interfaces: [{
    name: "wg0",
    addresses: ["10.13.13.250/24"],
    listen_port: 51820,
    mtu: null,
    private_key: null,
    peers: [{
      public_key: KEY,
      preshared_key: null,
      allowed_ips: ["10.13.13.2/32"],
      endpoint: null,
      persistent_keepalive: null,
    }],
    master_peer: null,
    masquerade: true,
  }],
};

Deno.test("wirebuddy-node status reads what the daemon wrote: versions, last apply, interfaces, queue, error", async () => {
  const clock = new FakeClock();
  const fs = new MemFs();
  const dir = "/var/lib/wirebuddy-node";
  await fs.writeTextAtomic(
    `${dir}/enrollment.json`,
    JSON.stringify({ node_id: 3, name: "fra", url: "https://vpn.example.com:8443", node_secret: "s" }),
  );
  const state = new AgentState();
  state.configApplied({ ...config, config_version: 12 }, { ok: true, durationMs: 80, commands: 3 });
  state.configApplied(config, {
    ok: false,
    error: { message: "[#] wireguard-go wg0: TUN failed" },
    durationMs: 20,
  });
  state.synced(35, clock.now());
  const stop = new AbortController();
  const loop = statusLoop({
    clock,
    stop: stop.signal,
    fs,
    dir,
    pid: 4242,
    intervalMs: 30_000,
    state,
    queue: { stats: () => ({ size: 3, dropped: 1 }) },
  });
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(fs.files.has(`${dir}/${STATUS_FILE}`));
  stop.abort();
  await loop;

  clock.advance(5_000);
  const { enrollment, status } = await readStatus(fs, dir);
  const r = renderStatus(dir, enrollment, status, clock.now());
  assert.equal(r.ok, false, "an apply failed");
  assert.match(r.text, /Enrollment:\s+node 3 "fra"/);
  assert.match(r.text, /Master:\s+https:\/\/vpn\.example\.com:8443/);
  assert.match(r.text, /Daemon:\s+running \(pid 4242; status written 5s ago\)/);
  assert.match(r.text, /Last contact:\s+5s ago \(round trip 35 ms\)/);
  assert.match(r.text, /Config:\s+v12 applied, v14 pending/);
  assert.match(r.text, /Last apply:\s+FAILED \(v14, 20 ms\): \[#\] wireguard-go wg0: TUN failed/);
  assert.match(r.text, /Interfaces:\s+wg0 10\.13\.13\.250\/24: 1 peer/);
  assert.match(r.text, /Metrics queue:\s+3 samples waiting, 1 dropped/);
  assert.match(r.text, /Last error:\s+\[#\] wireguard-go wg0: TUN failed/);

  // A daemon that stopped writing is named as such.
  clock.advance(10 * 60_000);
  assert.match(renderStatus(dir, enrollment, status, clock.now()).text, /NOT RUNNING\?/);
  // Not enrolled: says how.
  const none = renderStatus(dir, null, null, clock.now());
  assert.equal(none.ok, false);
  assert.match(none.text, /not enrolled: start the daemon with WIREBUDDY_ENROLLMENT_TOKEN/);
});
