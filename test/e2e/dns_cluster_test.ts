// DNS for the fleet, end to end with real programs inside network namespaces: the master and its
// `local` node, Debian's Unbound in the master's namespace (configured only through that node), NSD
// serving lab.example as the only upstream, a node "frankfurt" and a client on it. A client resolves an
// allowed name, a blocked one is refused, with blocking off for its peer it resolves, its own name
// resolves to its address, and the query log names the peer and the node. A blocklist reload during a
// steady stream of 1,000 queries fails none (applied without a reload); restarting Unbound and the
// master while queries are logged leaves every reply logged exactly once; bad input leaves the running resolver untouched; Chromium
// adds a list, sees its count and blocks a domain from the log.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { chromium } from "playwright-core";
import { Cluster, NODE_ENV, startDeno } from "../support/cluster.ts";
import {
  AUTH_IP,
  chromiumIn,
  LAB,
  startNsd,
  startUnbound,
  stopUnbound,
  type UnboundLab,
  unboundLab,
} from "../support/dns_lab.ts";
import { skipUnlessRoot, withWorld } from "../support/netns.ts";
import { type Running, startProgram } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const RESOLVER = "10.13.13.1";
const LIST_URL = `http://${AUTH_IP}:8080`;
/** The node's queue file (its metrics and its query log, src/node/main.ts). */
const QUEUE_FILE = "metrics_queue.db";

type Reply = { rcode: string; answers: { type: string; data: string }[] } | null;
type StreamResult = {
  sent: number;
  answered: number;
  failed: number;
  retried: number;
  rcodes: Record<string, number>;
};

Deno.test({
  name:
    "dns cluster: Unbound through the local node; blocking per peer, peer names, the query log, reloads fail no query",
  ignore: skipUnlessRoot("the DNS cluster test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorld(async (world) => {
      const c = await Cluster.build(world, ["frankfurt"]);
      const [fra] = c.nodes as [typeof c.nodes[0]];
      const extra: Running[] = [];
      let lab: UnboundLab | null = null;
      const logs = () =>
        [["master", c.masterProc], ["local", c.localNode], ["frankfurt", fra.proc], ["unbound", lab?.proc]]
          .map(([n, p]) => `---- ${n}\n${(p as Running | null | undefined)?.output().slice(-4000) ?? ""}`)
          .join("\n") +
        `\n---- local node, DNS lines\n${
          (c.localNode?.output() ?? "").split("\n").filter((l) => /dns|DNS|query log|unbound|Unbound/.test(l))
            .slice(-40).join("\n")
        }\n---- unbound.log\n${unboundLog()}`;
      const unboundLog = () => {
        try {
          // Unbound logs to the node's reply log (wb-log.conf) once the query log is on.
          return ["unbound.log", "replies.log"].map((f) =>
            Deno.readTextFileSync(`${c.dir}/unbound/${f}`).split("\n").filter((l) => !l.includes(" reply: "))
              .slice(-30).join("\n")
          ).join("\n");
        } catch {
          return "";
        }
      };
      const dig = async (name: string): Promise<Reply> => {
        const q = startDeno(c.client, [`${ROOT}test/support/dns_client.ts`, "query", RESOLVER, name]);
        await q.status;
        return JSON.parse(q.output().trim().split("\n").at(-1) || "null");
      };
      const answerOf = (
        r: Reply,
      ) => (r ? `${r.rcode} ${r.answers.map((a) => a.data).join(",")}`.trim() : "no answer");
      const resolvesTo = (name: string, want: string) =>
        waitFor(`${name} → ${want}`, async () => {
          const got = answerOf(await dig(name));
          if (got !== want) throw new Error(`answered ${got}`);
          return true;
        }, {
          timeoutMs: 30_000,
          intervalMs: 300,
        });
      const reloads = () =>
        (c.localNode?.output().match(/\[#\] unbound-control .* reload_keep_cache/g) ?? []).length;
      /** Blocklist changes applied to the running Unbound (local_zones from stdin), or reloads. */
      const changes = () =>
        reloads() +
        (c.localNode?.output().match(/\[#\] unbound-control .* local_zones(_remove)? </g) ?? []).length;
      const stream = (name: string, count: number, rate: number, timeoutMs: number, retries: number) =>
        startDeno(c.client, [
          `${ROOT}test/support/dns_client.ts`,
          "stream",
          RESOLVER,
          name,
          String(count),
          String(rate),
          String(timeoutMs),
          String(retries),
        ]);
      const result = async (s: Running): Promise<StreamResult> => {
        await s.status;
        return JSON.parse(s.output().trim().split("\n").at(-1)!);
      };
      try {
        // The lab's authoritative zone and its list server.
        const auth = await world.host("auth");
        await world.plug(auth, "eth0", c.lan, "br0", [`${AUTH_IP}/24`]);
        extra.push(await startNsd(auth, `${c.dir}/nsd`));
        const lists = startDeno(auth, [`${ROOT}test/support/list_server.ts`, "--port", "8080"]);
        extra.push(lists);
        await waitFor("the list server", () => lists.output().includes('"listening"'), { timeoutMs: 15_000 });

        await c.bootstrapAdmin();
        await c.startMaster();
        const iface = await c.api("POST", "/interfaces", {
          name: "wg0",
          ipv4_pool: "10.13.13.0/24",
          listen_port: 51820,
          dns: RESOLVER,
        });
        assert.equal(iface.status, 201, JSON.stringify(iface.body));
        let r = await c.api("PATCH", "/dns/settings", {
          enabled: true,
          upstreams: [AUTH_IP],
          dnssec: true,
          insecure_domains: ["lab.example"],
          block_mode: "refuse",
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        r = await c.api("POST", "/dns/lists", { name: "lab-ads", url: `${LIST_URL}/ads.txt` });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal(r.body.domain_count, 2);

        // Unbound runs with the installer's base config only; the local node writes the rest.
        lab = await unboundLab(`${c.dir}/unbound`);
        await startUnbound(c.master, lab);
        const local = (await c.api("GET", "/nodes")).body.nodes.find((n: { local: boolean }) => n.local);
        // The local node, pointed at this Unbound's private paths (as install.sh --dns points it at Debian's).
        c.localNode = await startProgram("node", [], {
          ...NODE_ENV,
          WIREBUDDY_NODE_DATA_DIR: `${c.dir}/local-node`,
          WIREBUDDY_ENROLLMENT_TOKEN: (await c.api("POST", `/nodes/${local.id}/token`)).body.enrollment_token,
          WIREBUDDY_MASTER_URL: "https://127.0.0.1:8443",
          ...lab.nodeEnv,
        }, { wrap: c.master.enterArgv });
        c.procs.push(c.localNode);
        await waitFor("the DNS page to report Unbound running", async () => {
          const st = (await c.api("GET", "/dns/status")).body;
          return st.running === true && /Unbound 1\.\d+\.\d+ is running/.test(st.detail);
        }, { timeoutMs: 60_000, intervalMs: 250 });

        const made = (await c.api("POST", "/nodes", { name: fra.name, fqdn: fra.ip, wg_port: 51820 })).body;
        await c.startNode(fra, made.enrollment_token);
        await waitFor("frankfurt online with its key reported", async () => {
          const n = ((await c.api("GET", "/nodes")).body.nodes as {
            name: string;
            status: string;
            interfaces: { public_key: string | null }[];
          }[]).find((x) => x.name === fra.name);
          return n?.status === "online" && !!n.interfaces[0]?.public_key;
        }, { timeoutMs: 60_000, intervalMs: 250 });
        const phone =
          (await c.api("POST", "/peers", { interface_id: iface.body.id, name: "phone", node_id: made.id }))
            .body;
        const phoneIp = phone.ipv4.split("/")[0];
        await waitFor(
          "frankfurt to serve the phone",
          async () =>
            (await fra.host.exec.run(["wg", "show", "wg0", "peers"])).stdout.includes(phone.public_key),
          {
            timeoutMs: 60_000,
            intervalMs: 250,
          },
        );
        const conf = await c.api("GET", `/peers/${phone.id}/config`);
        assert.equal(conf.status, 200, JSON.stringify(conf.body));
        await c.clientUp(conf.body);

        // 1. allowed resolves, blocked is refused, the peer's own name resolves to its address.
        await resolvesTo(LAB.allowed[0], `NOERROR ${LAB.allowed[1]}`);
        assert.equal(answerOf(await dig(LAB.ads[0])), "REFUSED");
        assert.equal(answerOf(await dig("phone.wg.internal")), `NOERROR ${phoneIp}`);
        // 2. the same client with blocking off for its peer resolves the blocked name.
        r = await c.api("PATCH", `/dns/peers/${phone.id}`, { blocking: false });
        assert.equal(r.status, 200);
        await resolvesTo(LAB.ads[0], `NOERROR ${LAB.ads[1]}`);
        assert.equal((await c.api("PATCH", `/dns/peers/${phone.id}`, { blocking: true })).status, 200);
        await resolvesTo(LAB.ads[0], "REFUSED");
        // 3. the query log names the peer and the node it came through, and what was blocked.
        await waitFor("the query log to show the phone's queries", async () => {
          await dig(LAB.allowed[0]);
          await dig(LAB.ads[0]);
          const q = (await c.api("GET", "/dns/queries?q=lab.example&limit=100")).body.queries as {
            name: string;
            peer: string;
            node: string;
            blocked: boolean;
            answer: string;
          }[];
          const allowed = q.find((x) => x.name === LAB.allowed[0]);
          const blocked = q.find((x) => x.name === LAB.ads[0] && x.blocked);
          return allowed?.peer === "phone" && allowed.node === "frankfurt" &&
            allowed.answer === LAB.allowed[1] &&
            blocked?.peer === "phone" && blocked.node === "frankfurt";
        }, { timeoutMs: 30_000, intervalMs: 250 });

        // Blocklist changes during a steady stream of 1,000 queries: applied to the running Unbound without
        // a reload (a reload drops every query in flight), so none fails.
        const before = changes();
        const reloadsBefore = reloads();
        const s1 = stream("r{i}.lab.example", 1000, 200, 2000, 0);
        await waitFor("the stream to start", () => s1.output().includes('"started"'), { timeoutMs: 15_000 });
        assert.equal(
          (await c.api("POST", "/dns/lists", { name: "lab-adguard", url: `${LIST_URL}/adguard.txt` })).status,
          201,
        );
        await waitFor("a first blocklist change", () => changes() >= before + 1, { timeoutMs: 10_000 });
        assert.equal(
          (await c.api("POST", "/dns/rules", { kind: "block", domain: "stream.lab.example" })).status,
          201,
        );
        await waitFor("a second blocklist change", () => changes() >= before + 2, { timeoutMs: 10_000 });
        const during = changes() - before;
        const s1r = await result(s1);
        assert.equal(s1r.sent, 1000);
        assert.equal(s1r.failed, 0, JSON.stringify(s1r));
        assert.deepEqual(
          Object.keys(s1r.rcodes),
          ["NXDOMAIN"],
          `every query answered by the zone, none SERVFAIL: ${JSON.stringify(s1r.rcodes)}`,
        );
        assert.ok(during >= 2, `blocklist changes during the stream: ${during}`);
        assert.equal(reloads(), reloadsBefore, "a blocklist change never reloads Unbound");
        await resolvesTo("stream.lab.example", "REFUSED");
        // deno-lint-ignore no-console
        console.log(
          `reload stream: sent=${s1r.sent} answered=${s1r.answered} failed=${s1r.failed} changes=${during} reloads=${
            reloads() - reloadsBefore
          }`,
        );

        // Restart Unbound and then the master while a client's queries are logged: the query log holds
        // exactly the replies Unbound wrote (its reply lines, counted per name), none lost, none twice.
        const replyLines = async () =>
          ((await Deno.readTextFile(`${lab!.dir}/replies.log`).catch(() => "")).match(
            / reply: \S+ q\d+\.restart\.lab\.example\. A IN /g,
          ) ?? []).map((l) => l.split(" ")[3]!.replace(/\.$/, ""));
        const logged =
          async () => ((await c.api("GET", "/dns/queries?q=restart.lab.example&limit=500")).body.queries as {
            name: string;
            peer: string;
            node: string;
          }[]);
        const tally = (names: string[]) => {
          const m: Record<string, number> = {};
          for (const n of names) m[n] = (m[n] ?? 0) + 1;
          return m;
        };
        const s2 = stream("q{i}.restart.lab.example", 250, 40, 1000, 5);
        await waitFor("the stream to start", () => s2.output().includes('"started"'), { timeoutMs: 15_000 });
        await waitFor("the first restart queries logged", async () => (await logged()).length >= 20, {
          timeoutMs: 15_000,
          intervalMs: 200,
        });
        const starts = lab.starts;
        await lab.proc!.stop("SIGTERM"); // Unbound exits; its supervisor starts it again (Restart=always)
        await waitFor("Unbound started again", async () =>
          lab!.starts > starts &&
          (await c.master.exec.run(["unbound-control", "-c", lab!.conf, "status"])).code === 0, {
          timeoutMs: 15_000,
          intervalMs: 100,
        });
        await waitFor("more restart queries logged", async () => (await logged()).length >= 120, {
          timeoutMs: 15_000,
          intervalMs: 200,
        });
        await c.stopMaster();
        await c.startMaster();
        const s2r = await result(s2);
        assert.equal(s2r.answered, 250, `every query answered in the end: ${JSON.stringify(s2r)}`);
        const want = tally(await replyLines());
        assert.equal(Object.keys(want).length, 250, "Unbound wrote a reply line for every name");
        await waitFor("the query log to hold every reply", async () => {
          const got = await logged();
          return got.length >= Object.values(want).reduce((a, b) => a + b, 0);
        }, { timeoutMs: 30_000, intervalMs: 250 });
        // Nothing left to come: the local node's queue is empty and its tail is at the end of the file.
        await waitFor("the local node's query log drained", async () => {
          const db = new DatabaseSync(`${c.dir}/local-node/${QUEUE_FILE}`, { readOnly: true });
          try {
            const left = Number((db.prepare("SELECT count(*) AS n FROM dns_log").get() as { n: number }).n);
            const offset =
              (db.prepare("SELECT value FROM dns_log_counters WHERE name = 'tail_offset'").get() as {
                value: number;
              } | undefined)?.value;
            const size = (await Deno.stat(`${lab!.dir}/replies.log`)).size;
            return left === 0 && offset === size;
          } finally {
            db.close();
          }
        }, { timeoutMs: 30_000, intervalMs: 250 });
        const got = await logged();
        assert.deepEqual(tally(got.map((q) => q.name)), want, "every reply logged exactly once");
        assert.ok(got.every((q) => q.peer === "phone" && q.node === "frankfurt"), "with the peer and node");
        // deno-lint-ignore no-console
        console.log(
          `restart log: sent=${s2r.sent} answered=${s2r.answered} retried=${s2r.retried} replies=${
            Object.values(want).reduce((a, b) => a + b, 0)
          } logged=${got.length} unbound_starts=${lab.starts - starts} master_restarted=1`,
        );

        // Bad input: a clear error, and the running resolver untouched.
        const quiet = changes();
        const bad: [string, string, unknown, RegExp][] = [
          [
            "POST",
            "/dns/lists",
            { name: "junk", url: `${LIST_URL}/junk.txt` },
            /no domain .* \(line 1: "<html>"/,
          ],
          ["POST", "/dns/lists", { name: "big", url: `${LIST_URL}/big.txt` }, /larger than the 20 MiB limit/],
          ["POST", "/dns/lists", { name: "bad", content: "no such thing here\n!!!\n" }, /no domain/],
          [
            "POST",
            "/dns/records",
            { name: "x.lab.example", type: "AAAA", value: "192.0.2.1" },
            /needs an IPv6 address/,
          ],
        ];
        for (const [method, path, body, want] of bad) {
          const res = await c.api(method, path, body);
          assert.equal(res.status, 422, `${path}: ${JSON.stringify(res.body)}`);
          assert.match(res.body.error.message, want);
        }
        assert.equal(answerOf(await dig(LAB.allowed[0])), `NOERROR ${LAB.allowed[1]}`);
        assert.equal(changes(), quiet, "no reload or blocklist change for refused input");

        // Chromium on the DNS page: add a list, see its count, block a domain from the log.
        const browser = await chromium.launch({
          executablePath: await chromiumIn(c.master, c.dir),
          headless: true,
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
          ],
        });
        try {
          const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
          const base = "https://198.51.100.1:8443";
          await page.goto(`${base}/login`);
          await page.fill('input[name="username"]', "root");
          await page.fill('input[name="password"]', "a good long password");
          await page.click('button[type="submit"]');
          await page.waitForURL(/\/ui\/dashboard$/);
          await page.goto(`${base}/ui/dns`);
          await page.fill('#dns-add-list input[name="name"]', "from-the-ui");
          await page.fill(
            '#dns-add-list textarea[name="content"]',
            "0.0.0.0 ui1.lab.example\nui2.lab.example\n||ui3.lab.example^\n",
          );
          await page.click('#dns-add-list button[type="submit"]');
          await page.waitForSelector('#flash:has-text("List from-the-ui added: 3 domains")');
          const row = page.locator("#dns-lists tr", { hasText: "from-the-ui" });
          assert.equal((await row.locator(".count").textContent())?.trim(), "3");
          await page.fill('input[name="q"]', LAB.allowed[0]);
          await page.click('form[action="/ui/dns"] button[type="submit"]');
          const logRow = page.locator("#dns-queries tr", { hasText: LAB.allowed[0] }).first();
          await logRow.locator('button:has-text("Block")').click();
          await page.waitForSelector(`#flash:has-text("Blocked ${LAB.allowed[0]}.")`);
          assert.ok(await page.locator("#dns-rules", { hasText: LAB.allowed[0] }).count() > 0);
        } finally {
          await browser.close();
        }
        await resolvesTo(LAB.allowed[0], "REFUSED");
      } catch (err) {
        // deno-lint-ignore no-console
        console.error(logs());
        throw err;
      } finally {
        await c.stopAll();
        if (lab) await stopUnbound(lab);
        for (const p of extra) await p.stop("SIGTERM");
        await Deno.remove(c.dir, { recursive: true }).catch(() => {});
      }
    });
  },
});
