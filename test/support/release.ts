// A stand-in release for installer tests, laid out like the one CI publishes (.github/workflows/release.yml):
// one executable per program and arch, the units, SHA256SUMS over all of them. `deno compile` cannot fetch
// its runtime here, so each executable is a small sh script running the program's `deno bundle` with a Deno
// from npm and exactly the permission flags of scripts/lib/permissions.txt (Deno and the bundles go into
// the image, /opt/wirebuddy-standin).
const ROOT = new URL("../../", import.meta.url).pathname;

function permissionsOf(program: string): string[] {
  const line = Deno.readTextFileSync(`${ROOT}scripts/lib/permissions.txt`).split("\n")
    .find((l) => l.startsWith(`${program} `))!;
  return line.split(/\s+/).slice(1).filter(Boolean);
}

export async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function must(argv: string[]): Promise<void> {
  const r = await new Deno.Command(argv[0]!, { args: argv.slice(1), cwd: ROOT, stdin: "null" }).output();
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

/**
 * The release's files (binaries and units) in `${www}/release`, SHA256SUMS signed with a fresh minisign key
 * (its public key returned: install.sh takes it from WIREBUDDY_RELEASE_PUBKEY), and install.sh in `www`.
 */
export async function prepareRelease(
  lower: string,
  www: string,
): Promise<{ names: string[]; publicKey: string }> {
  const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  const opt = `${lower}/opt/wirebuddy-standin`;
  await Deno.mkdir(opt, { recursive: true });
  await Deno.copyFile(Deno.execPath(), `${opt}/deno`);
  await Deno.chmod(`${opt}/deno`, 0o755);
  await Deno.mkdir(`${www}/release`, { recursive: true });
  const names: string[] = [];
  for (const program of ["master", "node"]) {
    const js = `${opt}/wirebuddy-${program}.js`;
    await must([
      Deno.execPath(),
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--output",
      js,
      `src/${program}/main.ts`,
    ]);
    const bin = `wirebuddy-${program}-linux-${arch}`;
    await Deno.writeTextFile(
      `${www}/release/${bin}`,
      `#!/bin/sh
# Stand-in for the deno compile binary of wirebuddy-${program}: its deno bundle, with its permissions.
DENO_NO_UPDATE_CHECK=1 DENO_DIR=\${DENO_DIR:-/tmp/wirebuddy-deno} exec /opt/wirebuddy-standin/deno run --quiet --no-prompt ${
        permissionsOf(program).join(" ")
      } /opt/wirebuddy-standin/wirebuddy-${program}.js "$@"
`,
    );
    names.push(bin);
  }
  for await (const unit of Deno.readDir(`${ROOT}systemd`)) {
    if (!unit.name.endsWith(".service")) continue;
    await Deno.copyFile(`${ROOT}systemd/${unit.name}`, `${www}/release/${unit.name}`);
    names.push(unit.name);
  }
  await writeSums(`${www}/release`, names);
  const keys = await Deno.makeTempDir({ prefix: "wb-release-key-" });
  try {
    const key = await releaseKey(keys);
    await signRelease(`${www}/release`, key.secretFile);
    await Deno.copyFile(`${ROOT}install.sh`, `${www}/install.sh`);
    return { names, publicKey: key.publicKey };
  } finally {
    await Deno.remove(keys, { recursive: true });
  }
}

async function minisign(args: string[], stdin = ""): Promise<string> {
  const p = new Deno.Command("minisign", { args, stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const r = await p.output();
  if (r.code !== 0) throw new Error(`minisign ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  return new TextDecoder().decode(r.stdout);
}

/** A minisign key pair without a password in `dir`: its public key (the base64 line) and secret key file. */
export async function releaseKey(dir: string): Promise<{ publicKey: string; secretFile: string }> {
  const name = crypto.randomUUID().slice(0, 8);
  const [pub, sec] = [`${dir}/${name}.pub`, `${dir}/${name}.key`];
  await minisign(["-G", "-W", "-p", pub, "-s", sec]);
  return { publicKey: (await Deno.readTextFile(pub)).split("\n")[1]!.trim(), secretFile: sec };
}

/** Signs `${releaseDir}/SHA256SUMS` as CI does (SHA256SUMS.minisig beside it). */
export async function signRelease(releaseDir: string, secretFile: string): Promise<void> {
  await minisign(["-S", "-s", secretFile, "-m", `${releaseDir}/SHA256SUMS`, "-t", "wirebuddy test release"]);
}

/** Writes SHA256SUMS over `names` in `releaseDir`. */
export async function writeSums(releaseDir: string, names: string[]): Promise<void> {
  const sums = await Promise.all(names.map(async (n) => `${await sha256File(`${releaseDir}/${n}`)}  ${n}`));
  await Deno.writeTextFile(`${releaseDir}/SHA256SUMS`, sums.join("\n") + "\n");
}
