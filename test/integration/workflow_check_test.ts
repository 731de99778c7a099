// The release workflow is checked without GitHub (scripts/check-workflows: shape, pinned actions, known
// secrets, shellcheck of run blocks); the check catches what it claims to.
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
const WORKFLOW = `${ROOT}.github/workflows/release.yml`;

async function check(file: string) {
  const r = await new Deno.Command(`${ROOT}scripts/check-workflows`, { args: [file], stdin: "null" })
    .output();
  const d = new TextDecoder();
  return { code: r.code, output: d.decode(r.stdout) + d.decode(r.stderr) };
}

Deno.test("the release workflow passes the static check", async () => {
  const r = await check(WORKFLOW);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /1 workflow\(s\) checked, 0 problem\(s\)/);
  const text = await Deno.readTextFile(WORKFLOW);
  for (
    const must of [
      "deno compile",
      "minisign -S",
      "SHA256SUMS",
      "gh release create",
      "scripts/build --require-compile",
    ]
  ) {
    assert.ok(text.includes(must), must);
  }
});

Deno.test("the static check finds a missing job, an unpinned action, an unknown secret and a shell error", async () => {
  const text = await Deno.readTextFile(WORKFLOW);
  const broken = text
    .replace("needs: build", "needs: buld")
    .replace("actions/upload-artifact@v4", "actions/upload-artifact@main")
    .replace("secrets.MINISIGN_PASSWORD", "secrets.MINISIGN_PASSWROD")
    .replace("exit 1\n          fi\n", "exit 1\n");
  const file = await Deno.makeTempFile({ suffix: ".yml" });
  try {
    await Deno.writeTextFile(file, broken);
    const r = await check(file);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /job `publish`: needs `buld`, which is not a job/);
    assert.match(r.output, /`actions\/upload-artifact@main` is not pinned/);
    assert.match(r.output, /secret `MINISIGN_PASSWROD` is not one this repository documents/);
    assert.match(r.output, /step 2 \(The tag is the version in deno\.json\): shellcheck:[^]*SC10\d\d/);
    await Deno.writeTextFile(file, "on: [push\n");
    assert.match((await check(file)).output, /not valid YAML/);
  } finally {
    await Deno.remove(file);
  }
});
