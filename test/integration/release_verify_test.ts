// install.sh refuses a release it cannot verify: SHA256SUMS must be signed (minisign) by the release key,
// and every file must match SHA256SUMS. A locally signed stand-in release is served over HTTP on loopback;
// `install.sh verify` runs the same checks as an install, without installing anything.
import assert from "node:assert/strict";
import { releaseKey, signRelease, writeSums } from "../support/release.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const ARCH = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
const BINS = [`wirebuddy-master-linux-${ARCH}`, `wirebuddy-node-linux-${ARCH}`];

async function installSh(args: string[], env: Record<string, string>) {
  const r = await new Deno.Command("sh", {
    args: [`${ROOT}install.sh`, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return { code: r.code, output: d.decode(r.stdout) + d.decode(r.stderr) };
}

/** A release directory served on loopback while `fn` runs. */
async function withRelease(
  fn: (dir: string, url: string, key: { publicKey: string; secretFile: string }) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "wb-release-" });
  const keys = await Deno.makeTempDir({ prefix: "wb-keys-" });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    try {
      return new Response(await Deno.readFile(`${dir}${new URL(req.url).pathname}`));
    } catch {
      return new Response("not found\n", { status: 404 });
    }
  });
  try {
    const names = [...BINS];
    for (const b of BINS) await Deno.writeTextFile(`${dir}/${b}`, `#!/bin/sh\necho ${b}\n`);
    for await (const u of Deno.readDir(`${ROOT}systemd`)) {
      if (!u.name.endsWith(".service")) continue;
      await Deno.copyFile(`${ROOT}systemd/${u.name}`, `${dir}/${u.name}`);
      names.push(u.name);
    }
    await writeSums(dir, names);
    const key = await releaseKey(keys);
    await signRelease(dir, key.secretFile);
    await fn(dir, `http://127.0.0.1:${server.addr.port}`, key);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(keys, { recursive: true });
  }
}

Deno.test("install.sh verify accepts a release signed by the release key, from a URL and from a directory", async () => {
  await withRelease(async (dir, url, key) => {
    const env = { WIREBUDDY_RELEASE_PUBKEY: key.publicKey };
    for (const source of [["--release-url", url], ["--from-dir", dir]]) {
      const r = await installSh(["verify", ...source], env);
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /verified the minisign signature of SHA256SUMS/);
      assert.match(
        r.output,
        new RegExp(`verified ${BINS[0]} ${BINS[1]} .*wirebuddy-master\\.service.* against SHA256SUMS`),
      );
      assert.match(r.output, /release verified/);
    }
  });
});

Deno.test("install.sh refuses a release whose signature or checksums do not verify", async () => {
  await withRelease(async (dir, url, key) => {
    const env = { WIREBUDDY_RELEASE_PUBKEY: key.publicKey };
    const refused = async (what: string, message: RegExp, e: Record<string, string> = env) => {
      const r = await installSh(["verify", "--release-url", url], e);
      assert.notEqual(r.code, 0, `${what}: ${r.output}`);
      assert.match(r.output, message, what);
      assert.doesNotMatch(r.output, /release verified/, what);
    };
    // The embedded release key did not sign this stand-in release.
    await refused(
      "another key",
      /SHA256SUMS is not signed by the WireBuddy release key RW[\w+/]+: refusing this release/,
      {},
    );

    // A binary swapped after signing: its checksum no longer matches.
    const bin = `${dir}/${BINS[0]}`;
    const original = await Deno.readTextFile(bin);
    await Deno.writeTextFile(bin, "#!/bin/sh\necho evil\n");
    await refused(
      "tampered binary",
      new RegExp(`checksum mismatch for ${BINS[0]}: expected [0-9a-f]{64}, got [0-9a-f]{64}`),
    );

    // SHA256SUMS rewritten to match the swapped binary: the signature no longer matches.
    const sums = await Deno.readTextFile(`${dir}/SHA256SUMS`);
    await writeSums(dir, sums.trim().split("\n").map((l) => l.split(/\s+/)[1]!));
    await refused("tampered SHA256SUMS", /SHA256SUMS is not signed by the WireBuddy release key/);

    // No signature at all.
    await Deno.writeTextFile(bin, original);
    await Deno.writeTextFile(`${dir}/SHA256SUMS`, sums);
    await Deno.remove(`${dir}/SHA256SUMS.minisig`);
    await refused("unsigned", /cannot download http:\/\/127\.0\.0\.1:\d+\/SHA256SUMS\.minisig/);
  });
});
