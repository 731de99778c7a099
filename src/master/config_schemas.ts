// Small zod schemas the master's configuration shares: sizes, timeouts and bounded counts.
import { z } from "zod";
import { durationText } from "../core/env.ts";

/** A size like `64KiB`, `1MiB` or plain bytes, in bytes. */
export const sizeText = z.string().regex(/^\d+(KiB|MiB)?$/, "must be a size like 65536, 64KiB or 1MiB")
  .transform((v) => {
    const m = v.match(/^(\d+)(KiB|MiB)?$/)!;
    return Number(m[1]) * (m[2] === "MiB" ? 1 << 20 : m[2] === "KiB" ? 1024 : 1);
  })
  .refine((n) => n >= 1024 && n <= 64 << 20, "must be between 1KiB and 64MiB");
export const timeout = (dflt: number) =>
  durationText.refine((ms) => ms >= 100, "must be at least 100ms").default(dflt);
export const count = (min: number, max: number, dflt: number) =>
  z.coerce.number().int().min(min).max(max).default(dflt);
