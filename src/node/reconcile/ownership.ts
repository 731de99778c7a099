// The state file that proves what we own. Written atomically (Fs.writeTextAtomic) before anything is
// created and after anything is removed, so a crash at any point leaves a file that over-claims at most
// things that do not exist, which the next tick simply forgets.
import { AppError } from "../../core/errors.ts";
import type { Fs } from "../../core/ports/types.ts";
import { emptyOwnership, type OwnedReplies, type Ownership } from "./steps.ts";

export interface OwnershipStore {
  load(): Promise<Ownership>;
  save(ownership: Ownership): Promise<void>;
}

export function fileOwnershipStore(fs: Fs, path: string): OwnershipStore {
  const dir = path.slice(0, Math.max(path.lastIndexOf("/"), 0));
  return {
    async load() {
      const text = await fs.readText(path);
      if (text === null) return emptyOwnership();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new AppError("internal", `The state file ${path} is not JSON: ${(err as Error).message}`);
      }
      const o = parsed as Partial<Ownership>;
      if (o.version !== 1 || typeof o.interfaces !== "object" || o.interfaces === null) {
        throw new AppError("internal", `The state file ${path} has an unknown format`);
      }
      const interfaces: Ownership["interfaces"] = {};
      for (const [name, entry] of Object.entries(o.interfaces)) {
        interfaces[name] = { routes: [...(entry?.routes ?? [])], endpoints: { ...(entry?.endpoints ?? {}) } };
      }
      const r = o.replies as Partial<OwnedReplies> | undefined;
      const replies: OwnedReplies = {
        rules: (r?.rules ?? []).filter((f) => f === 4 || f === 6),
        routes: (r?.routes ?? []).filter((x) => typeof x?.cidr === "string" && typeof x?.dev === "string")
          .map((x) => ({ cidr: x.cidr, dev: x.dev })),
      };
      const empty = replies.rules.length === 0 && replies.routes.length === 0;
      return { version: 1, interfaces, ...(empty ? {} : { replies }) };
    },
    async save(ownership) {
      if (dir !== "" && !(await fs.exists(dir))) await fs.mkdir(dir, 0o700);
      await fs.writeTextAtomic(path, JSON.stringify(ownership, null, 1) + "\n", 0o600);
    },
  };
}
