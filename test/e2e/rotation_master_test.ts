// The master's credentials rotate while a client pings through node "frankfurt" (issue 14, item 3), with
// real processes in network namespaces. The answer-signing key: announced, both nodes (frankfurt and the
// master's local node) trust it, the master switches, each node keeps only the new key; frankfurt given
// back its old enrollment (the old key only) cannot open a sync session any more. The TLS certificate:
// announced, both nodes pin it beside the old one, the master presents it after its restart, the nodes
// forget the old pin; frankfurt given back the old pin cannot reach the master. Counted: pings lost.
import assert from "node:assert/strict";
import { sha256Hex } from "../../src/core/seal.ts";
import { Cluster, INTERNET_IP } from "../support/cluster.ts";
import { skipUnlessRoot, withWorld } from "../support/netns.ts";
import { waitFor } from "../support/wait.ts";

const log = (line: string) => {
  // deno-lint-ignore no-console
  console.log(`  [rotation_master_test] ${line}`);
};

/** Answered ping sequence numbers and their times, from `ping -D` output. */
function answers(out: string): { seq: number; at: number }[] {
  return [...out.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=(\d+)/gm)].map((m) => ({
    seq: Number(m[2]),
    at: Number(m[1]) * 1000,
  }));
}

type Enrollment = { verify_key: string; next_verify_key?: string };
const readEnrollment = async (dir: string): Promise<Enrollment> =>
  JSON.parse(await Deno.readTextFile(`${dir}/enrollment.json`));
const fingerprint = async (key: string) => (await sha256Hex(key)).slice(0, 16);

/** Master, local node, node frankfurt serving a peer, and a client pinging through it into a file. */
async function fleet(c: Cluster, stop: AbortSignal) {
  const [fra] = c.nodes as [typeof c.nodes[0]];
  const localDir = `${c.dir}/local-node`;
  await c.bootstrapAdmin();
  await c.startMaster();
  const iface = await c.api("POST", "/interfaces", {
    name: "wg0",
    ipv4_pool: "10.13.13.0/24",
    listen_port: 51820,
  });
  assert.equal(iface.status, 201, JSON.stringify(iface.body));
  const local = (await c.api("GET", "/nodes")).body.nodes.find((n: { local: boolean }) => n.local);
  await c.startLocalNode((await c.api("POST", `/nodes/${local.id}/token`)).body.enrollment_token);
  const node = await c.api("POST", "/nodes", { name: fra.name, fqdn: fra.ip, wg_port: 51820 });
  assert.equal(node.status, 201, JSON.stringify(node.body));
  await c.startNode(fra, node.body.enrollment_token);
  const nodeRow = async () =>
    (await c.api("GET", "/nodes")).body.nodes.find((x: { name: string }) => x.name === fra.name);
  await waitFor("frankfurt online with its key", async () => {
    const n = await nodeRow();
    return n?.status === "online" && n.interfaces[0]?.public_key;
  }, { timeoutMs: 60_000, intervalMs: 250 });
  await waitFor("the local node enrolled", () => readEnrollment(localDir), { timeoutMs: 30_000 });
  const peer = (await c.api("POST", "/peers", {
    interface_id: iface.body.id,
    name: "laptop",
    node_id: node.body.id,
  })).body;
  const wg = async (what: string) => (await fra.host.exec.run(["wg", "show", "wg0", what])).stdout;
  await waitFor(
    "frankfurt serves the peer",
    async () => (await wg("peers")).includes(peer.public_key),
    {
      timeoutMs: 20_000,
    },
  );
  await c.clientUp((await c.api("GET", `/peers/${peer.id}/config`)).body);
  await waitFor("the client pings through frankfurt", () => c.client.ping(INTERNET_IP), {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  // The pings go to a file the test reads while they run (-D: each answer with its time).
  const record = `${c.dir}/pings`;
  const pinging = c.client.exec.run([
    "sh",
    "-c",
    `exec ping -4 -n -D -i 0.2 -W 1 ${INTERNET_IP} > ${record}`,
  ], { signal: stop });
  const recorded = async () => answers(await Deno.readTextFile(record).catch(() => ""));
  await waitFor("5 answered pings on the record", async () => (await recorded()).length >= 5, {
    timeoutMs: 20_000,
    intervalMs: 100,
  });
  return { fra, localDir, nodeRow, recorded, pinging };
}

/** Pings lost between the last answer before `from` and the first after `to`, and the longest gap. */
function lostPings(got: { seq: number; at: number }[], from: number, to: number) {
  const before = got.filter((a) => a.at < from).pop();
  const after = got.find((a) => a.at > to);
  assert.ok(before && after, `pings before and after the rotation (${got.length} answered)`);
  const inside = got.filter((a) => a.seq > before.seq && a.seq < after.seq).length;
  let gap = 0;
  for (let i = 1; i < got.length; i++) gap = Math.max(gap, got[i]!.at - got[i - 1]!.at);
  return { lost: after.seq - before.seq - 1 - inside, gap: Math.round(gap) };
}

/** Restarts frankfurt's daemon with `enrollment` as its enrollment and no sync session. */
async function restartWith(c: Cluster, fra: Cluster["nodes"][number], enrollment: string) {
  await fra.proc!.stop("SIGTERM");
  await Deno.writeTextFile(`${fra.dataDir}/enrollment.json`, enrollment);
  await Deno.remove(`${fra.dataDir}/session.json`).catch(() => {});
  return await c.startNode(fra, null);
}

Deno.test({
  name:
    "rotation: the master's signing key rotates while the client pings; nodes keep only the new key and the old one is refused",
  ignore: skipUnlessRoot("the signing key rotation end-to-end test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorld(async (world) => {
      const c = await Cluster.build(world, ["frankfurt"]);
      const stop = new AbortController();
      try {
        const { fra, localDir, nodeRow, recorded, pinging } = await fleet(c, stop.signal);
        const oldEnrollment = await Deno.readTextFile(`${fra.dataDir}/enrollment.json`);
        const oldKey = (JSON.parse(oldEnrollment) as Enrollment).verify_key;
        const from = Date.now();
        const started = await c.api("POST", "/master/signing-key/rotate");
        assert.equal(started.status, 202, JSON.stringify(started.body));
        const next = started.body.next.fingerprint as string;
        assert.equal(started.body.next.nodes_enrolled, 2, "frankfurt and the local node");

        // Both nodes hear of it, trust it, and the master switches.
        const switched = await waitFor("the master switches to the new key", async () => {
          const s = (await c.api("GET", "/master/signing-key")).body;
          return s.next === null && s.current === next && s;
        }, { timeoutMs: 60_000, intervalMs: 250 });
        log(`switched to ${switched.current} after ${Date.now() - from} ms`);
        for (const dir of [fra.dataDir, localDir]) {
          const e = await waitFor(`${dir} keeps only the new key`, async () => {
            const e = await readEnrollment(dir);
            const only = e.next_verify_key === undefined && (await fingerprint(e.verify_key)) === next;
            return only ? e : null;
          }, { timeoutMs: 30_000, intervalMs: 200 });
          assert.notEqual(e.verify_key, oldKey);
        }
        const audit = JSON.stringify((await c.api("GET", "/audit?action=master.signing_key.rotate")).body);
        assert.ok(audit.includes("every node trusts it"), audit.slice(0, 300));

        // The old credential is refused: frankfurt with its old enrollment (old key only) and no session
        // cannot open one (the master's answer is signed with the new key); with the new one it can.
        const newEnrollment = await Deno.readTextFile(`${fra.dataDir}/enrollment.json`);
        const restart = (enrollment: string) => restartWith(c, fra, enrollment);
        const withOld = await restart(oldEnrollment);
        await waitFor(
          "frankfurt refuses the master's answer under the old key",
          () => withOld.output().includes("not signed by the master this node enrolled with"),
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        const seenBefore = (await nodeRow()).last_seen;
        const withNew = await restart(newEnrollment);
        await waitFor("frankfurt syncs again with the new key", async () => {
          const n = await nodeRow();
          return n.status === "online" && n.last_seen !== seenBefore &&
            withNew.output().includes("heartbeat sent");
        }, { timeoutMs: 30_000, intervalMs: 250 });
        assert.ok(!withNew.output().includes("not signed by the master"), "the new key verifies");
        const to = Date.now();
        await waitFor("5 pings answered after the rotation", async () => {
          return (await recorded()).filter((a) => a.at > to).length >= 5;
        }, { timeoutMs: 20_000, intervalMs: 100 });
        stop.abort();
        await pinging.catch(() => {});
        const got = await recorded();
        const { lost, gap } = lostPings(got, from, to);
        log(`signing key rotation: ${lost} pings lost, longest gap ${gap} ms, took ${to - from} ms`);
        assert.equal(lost, 0, `${lost} pings lost`);
      } finally {
        stop.abort();
        await c.stopAll();
      }
    });
  },
});

Deno.test({
  name:
    "rotation: the master's TLS certificate rotates while the client pings; after the master's restart nodes keep only the new pin and the old one is refused",
  ignore: skipUnlessRoot("the TLS rotation end-to-end test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorld(async (world) => {
      const c = await Cluster.build(world, ["frankfurt"]);
      const stop = new AbortController();
      try {
        const { fra, localDir, nodeRow, recorded, pinging } = await fleet(c, stop.signal);
        const oldEnrollment = await Deno.readTextFile(`${fra.dataDir}/enrollment.json`);
        const oldPin = (JSON.parse(oldEnrollment) as Enrollment & { tls: { sha256: string } }).tls.sha256;
        const from = Date.now();
        const started = await c.api("POST", "/master/tls/rotate");
        assert.equal(started.status, 202, JSON.stringify(started.body));
        const next = started.body.next.sha256 as string;
        assert.notEqual(next, oldPin);
        await waitFor("every node trusts the next certificate", async () => {
          const s = (await c.api("GET", "/master/tls")).body;
          return s.next?.at_next_start === true;
        }, { timeoutMs: 60_000, intervalMs: 250 });
        for (const dir of [fra.dataDir, localDir]) {
          const e = await readEnrollment(dir) as Enrollment & { next_tls?: { sha256: string } };
          assert.equal(e.next_tls?.sha256, next, `${dir} pins the next certificate beside the old one`);
        }

        // The master's next start presents the new certificate; the nodes reconnect and forget the old pin.
        await c.stopMaster();
        await c.startMaster();
        const after = (await c.api("GET", "/master/tls")).body;
        assert.equal(after.current, next, JSON.stringify(after));
        assert.equal(after.next, null);
        for (const dir of [fra.dataDir, localDir]) {
          await waitFor(`${dir} keeps only the new pin`, async () => {
            const e = await readEnrollment(dir) as Enrollment & {
              tls: { sha256: string };
              next_tls?: unknown;
            };
            return e.tls.sha256 === next && e.next_tls === undefined;
          }, { timeoutMs: 30_000, intervalMs: 200 });
        }
        const audit = JSON.stringify((await c.api("GET", "/audit?action=master.tls.switched")).body);
        assert.ok(audit.includes("master.tls.switched"), audit.slice(0, 300));

        // The old pin is refused: frankfurt given back its old enrollment cannot reach the master.
        const newEnrollment = await Deno.readTextFile(`${fra.dataDir}/enrollment.json`);
        const withOld = await restartWith(c, fra, oldEnrollment);
        await waitFor(
          "frankfurt refuses the master's new certificate under the old pin",
          () => withOld.output().includes("does not match the token's pin"),
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        const seenBefore = (await nodeRow()).last_seen;
        const withNew = await restartWith(c, fra, newEnrollment);
        await waitFor("frankfurt syncs again with the new pin", async () => {
          const n = await nodeRow();
          return n.status === "online" && n.last_seen !== seenBefore &&
            withNew.output().includes("heartbeat sent");
        }, { timeoutMs: 30_000, intervalMs: 250 });
        const to = Date.now();
        await waitFor("5 pings answered after the rotation", async () => {
          return (await recorded()).filter((a) => a.at > to).length >= 5;
        }, { timeoutMs: 20_000, intervalMs: 100 });
        stop.abort();
        await pinging.catch(() => {});
        const { lost, gap } = lostPings(await recorded(), from, to);
        log(`TLS certificate rotation: ${lost} pings lost, longest gap ${gap} ms, took ${to - from} ms`);
        assert.equal(lost, 0, `${lost} pings lost`);
      } finally {
        stop.abort();
        await c.stopAll();
      }
    });
  },
});

Deno.test({
  name:
    "rotation: frankfurt's identity key rotates while the client pings; the master refuses the old key afterwards",
  ignore: skipUnlessRoot("the identity rotation end-to-end test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorld(async (world) => {
      const c = await Cluster.build(world, ["frankfurt"]);
      const stop = new AbortController();
      try {
        const { fra, nodeRow, recorded, pinging } = await fleet(c, stop.signal);
        const read = (f: string) => Deno.readTextFile(`${fra.dataDir}/${f}`);
        const [oldKey, oldCert] = [await read("identity.key"), await read("identity.crt")];
        const id = (await nodeRow()).id;
        const from = Date.now();
        const asked = await c.api("POST", `/nodes/${id}/identity/rotate`);
        assert.equal(asked.status, 202, JSON.stringify(asked.body));
        await waitFor(
          "frankfurt keeps its new identity",
          async () => (await read("identity.crt")) !== oldCert,
          {
            timeoutMs: 30_000,
            intervalMs: 200,
          },
        );
        const audit = JSON.stringify((await c.api("GET", "/audit?action=node.identity.rotate")).body);
        assert.ok(audit.includes("node.identity.rotate"), audit.slice(0, 300));
        const seen = (await nodeRow()).last_seen;
        await waitFor("frankfurt syncs on with the new key", async () => {
          const n = await nodeRow();
          return n.status === "online" && n.last_seen !== seen;
        }, { timeoutMs: 30_000, intervalMs: 250 });

        // The old key is refused: frankfurt given back its old identity (and no session) cannot sync.
        const [newKey, newCert] = [await read("identity.key"), await read("identity.crt")];
        const withIdentity = async (key: string, cert: string) => {
          await fra.proc!.stop("SIGTERM");
          await Deno.writeTextFile(`${fra.dataDir}/identity.key`, key);
          await Deno.writeTextFile(`${fra.dataDir}/identity.crt`, cert);
          await Deno.remove(`${fra.dataDir}/session.json`).catch(() => {});
          return await c.startNode(fra, null);
        };
        const withOld = await withIdentity(oldKey, oldCert);
        await waitFor(
          "the master refuses frankfurt's old key",
          () => withOld.output().includes("Bad request signature"),
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        assert.ok(!withOld.output().includes("sync session opened"), "no session with the old key");
        const seenBefore = (await nodeRow()).last_seen;
        const withNew = await withIdentity(newKey, newCert);
        await waitFor("frankfurt syncs again with the new key", async () => {
          const n = await nodeRow();
          return n.status === "online" && n.last_seen !== seenBefore &&
            withNew.output().includes("heartbeat sent");
        }, { timeoutMs: 30_000, intervalMs: 250 });
        const to = Date.now();
        await waitFor("5 pings answered after the rotation", async () => {
          return (await recorded()).filter((a) => a.at > to).length >= 5;
        }, { timeoutMs: 20_000, intervalMs: 100 });
        stop.abort();
        await pinging.catch(() => {});
        const { lost, gap } = lostPings(await recorded(), from, to);
        log(`identity key rotation: ${lost} pings lost, longest gap ${gap} ms, took ${to - from} ms`);
        assert.equal(lost, 0, `${lost} pings lost`);
      } finally {
        stop.abort();
        await c.stopAll();
      }
    });
  },
});
