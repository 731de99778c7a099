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

export type TlsModel = {
  /** null: the certificate is the operator's (or TLS is off): not rotated here. */
  current: string | null;
  next: null | {
    fingerprint: string;
    trusted: number;
    enrolled: number;
    switchBy: number;
    atNextStart: boolean;
  };
  canRotate: boolean;
};

const TlsCard: FC<{ tls: TlsModel }> = ({ tls }) => (
  <section class="card" id="tls-cert">
    <h2>TLS certificate</h2>
    {tls.current === null
      ? (
        <p class="muted">
          The certificate comes from WIREBUDDY_TLS files (or TLS is off): replace the files to change it.
        </p>
      )
      : (
        <>
          <p class="muted">
            Nodes pin this self-signed certificate. A new one is announced to every node first; once every
            enrolled node pins it too, the master presents it from its next start, and nodes forget the old
            pin.
          </p>
          <p>
            Current pin <code id="tls-current">{tls.current.slice(0, 16)}</code>
          </p>
          {tls.next
            ? (
              <p class="notice" id="tls-next" role="status">
                Next certificate <code>{tls.next.fingerprint.slice(0, 16)}</code>: pinned by{" "}
                {tls.next.trusted} of {tls.next.enrolled} enrolled nodes. {tls.next.atNextStart
                  ? "Restart the master to present it (systemctl restart wirebuddy-master)."
                  : `Presented from the first start after every node pins it, or after ${
                    formatTime(tls.next.switchBy)
                  }.`}
              </p>
            )
            : (tls.canRotate && (
              <p class="actions">
                <a
                  class="button danger"
                  id="rotate-tls"
                  href="/ui/keys/tls/rotate"
                  {...intoDialog("/ui/keys/tls/rotate")}
                >
                  Rotate TLS certificate…
                </a>
              </p>
            ))}
        </>
      )}
  </section>
);

export const KeysPage: FC<PageModel & { signing: SigningKeyModel; tls: TlsModel }> = (p) => (
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
    <TlsCard tls={p.tls} />
  </Layout>
);
