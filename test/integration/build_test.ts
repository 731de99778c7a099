// The release artefacts as CI can check them: `deno task build` (real binaries with SHA256SUMS where
// `deno compile` can fetch its runtime, else a plain message and working `deno bundle` outputs), the
// systemd units (`systemd-analyze verify` and exposure goals through scripts/unit-security), and
// install.sh (shellcheck).
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout) + d.decode(r.stderr) };
}

function permissionsOf(program: "master" | "node"): string[] {
  const line = Deno.readTextFileSync(`${ROOT}scripts/lib/permissions.txt`).split("\n")
    .find((l) => l.startsWith(`${program} `));
  assert.ok(line, `permissions.txt has a line for ${program}`);
  return line.split(/\s+/).slice(1).filter(Boolean);
}

Deno.test("deno task build makes checksummed binaries, or says plainly why not and makes working bundles", async () => {
  const build = await run(["bash", "scripts/build"]);
  assert.equal(build.code, 0, build.out);
  const native = Deno.build.arch === "x86_64" ? "x86_64" : "aarch64";
  if (build.out.includes("Falling back to deno bundle")) {
    assert.match(build.out, /deno compile cannot download its runtime here: no release binaries were built/);
    assert.match(build.out, /could not download the Deno runtime \(denort\)/);
    for (const program of ["master", "node"] as const) {
      const bundle = `dist/bundle/wirebuddy-${program}.js`;
      for (const args of [["version"], ["--help"]]) {
        const r = await run([Deno.execPath(), "run", "--quiet", ...permissionsOf(program), bundle, ...args]);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, new RegExp(`wirebuddy-${program} \\d+\\.\\d+\\.\\d+`));
      }
    }
    assert.match(await Deno.readTextFile(`${ROOT}dist/bundle/wirebuddy-master.js`), /htmx\.org/);
    const sums = await run(["sh", "-c", "cd dist/bundle && sha256sum -c SHA256SUMS"]);
    assert.equal(sums.code, 0, sums.out);
  } else {
    const sums = await run(["sh", "-c", "cd dist && sha256sum -c SHA256SUMS"]);
    assert.equal(sums.code, 0, sums.out);
    for (const program of ["master", "node"]) {
      for (const arch of ["x86_64", "aarch64"]) {
        assert.match(sums.out, new RegExp(`wirebuddy-${program}-linux-${arch}: OK`));
      }
      assert.match(sums.out, new RegExp(`wirebuddy-${program}.service: OK`));
      const r = await run([`${ROOT}dist/wirebuddy-${program}-linux-${native}`, "version"]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`wirebuddy-${program} \\d+\\.\\d+\\.\\d+`));
    }
  }
});

Deno.test("both systemd units verify clean and meet their exposure goals (master <= 1.5, node <= 2.5)", async () => {
  const r = await run(["bash", "scripts/unit-security"]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /verify: clean/);
  assert.match(r.out, /wirebuddy-master\.service: exposure [\d.]+ \(goal <= 1\.5\) ok/);
  assert.match(r.out, /wirebuddy-node\.service: exposure [\d.]+ \(goal <= 2\.5\) ok/);
});

Deno.test("install.sh is POSIX sh and shellcheck clean", async () => {
  const r = await run(["shellcheck", "--shell=sh", "install.sh"]);
  assert.equal(r.code, 0, r.out);
  const help = await run(["sh", "install.sh", "--help"]);
  assert.equal(help.code, 0, help.out);
  assert.match(help.out, /install\.sh node --token TOKEN/);
});
