// Master credentials: the answer-signing key the nodes trust, the announced next one and how many nodes
// trust it yet, and the action that announces a new one (after a confirmation).
import type { FC } from "hono/jsx";
import { intoDialog } from "./confirm.tsx";
import { formatTime, Layout, type PageModel } from "./layout.tsx";

export type SigningKeyModel = {
  current: string;
  next: null | {
    fingerprint: string;
    announcedAt: number;
    switchBy: number;
    trusted: number;
    enrolled: number;
  };
  canRotate: boolean;
};

export const KeysPage: FC<PageModel & { signing: SigningKeyModel }> = (p) => (
  <Layout title="Master keys" user={p.user} active="settings" flash={p.flash ?? null}>
    <h1>Master keys</h1>
    <section class="card" id="signing-key">
      <h2>Answer-signing key</h2>
      <p class="muted">
        Nodes check every answer of this master against this key (their sync sessions are opened with it). A
        new key is announced to every node first; the master switches once every enrolled node trusts it, or
        when the grace period ends, and the old key is refused from then on.
      </p>
      <p>
        Current key <code id="signing-current">{p.signing.current}</code>
      </p>
      {p.signing.next
        ? (
          <p class="notice" id="signing-next" role="status">
            Next key <code>{p.signing.next.fingerprint}</code>, announced{" "}
            {formatTime(p.signing.next.announcedAt)}: trusted by {p.signing.next.trusted} of{" "}
            {p.signing.next.enrolled} enrolled nodes. The switch happens when all trust it, at the latest{" "}
            {formatTime(p.signing.next.switchBy)}.
          </p>
        )
        : (p.signing.canRotate && (
          <p class="actions">
            <a
              class="button danger"
              id="rotate-signing"
              href="/ui/keys/signing/rotate"
              {...intoDialog("/ui/keys/signing/rotate")}
            >
              Rotate signing key…
            </a>
          </p>
        ))}
    </section>
  </Layout>
);
