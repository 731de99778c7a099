// Hono's typed environment for the master: what each request carries.
import type { Actor, RequestMeta } from "../service/context.ts";

export type AppEnv = {
  Bindings: { remoteAddr?: string };
  Variables: { actor: Actor | null; meta: RequestMeta; csp: string };
};
