// The one confirmation for every destructive action: a page of its own without JavaScript (the action's
// link leads to it), the same content in the page's dialog with htmx. It says what will happen, and the
// action is a real form POST.
import type { FC } from "hono/jsx";
import { DialogHead, Layout, type PageModel } from "./layout.tsx";

export type ConfirmModel = {
  /** The question, e.g. "Delete peer alice-phone?". */
  title: string;
  /** What happens, in a sentence or two (shown as a warning). */
  warning: string;
  /** More explanation under the warning (optional). */
  detail?: string;
  /** Where the form posts, and its hidden fields. */
  action: string;
  hidden?: Record<string, string>;
  /** The button's label, e.g. "Delete peer alice-phone". */
  button: string;
  danger: boolean;
  /** Where Cancel leads without JavaScript. */
  cancel: string;
  /** The navigation entry the page belongs to. */
  active: string;
  /** Element ids the tests and the no-JS page keep stable. */
  id?: string;
  warningId?: string;
};

const ConfirmBody: FC<{ m: ConfirmModel; inDialog: boolean }> = ({ m, inDialog }) => (
  <div class="confirm" id={m.id}>
    <p class="warning" id={m.warningId}>{m.warning}</p>
    {m.detail && <p>{m.detail}</p>}
    <div class="form-actions">
      <form method="post" action={m.action} class="inline">
        {Object.entries(m.hidden ?? {}).map(([k, v]) => <input type="hidden" name={k} value={v} />)}
        <button type="submit" class={m.danger ? "danger solid" : "primary"}>{m.button}</button>
      </form>
      {inDialog
        ? (
          <form method="dialog" class="inline">
            <button type="submit">Cancel</button>
          </form>
        )
        : <a class="button" href={m.cancel}>Cancel</a>}
    </div>
  </div>
);

export const ConfirmDialog: FC<{ m: ConfirmModel }> = ({ m }) => (
  <div class="dialog-body">
    <DialogHead title={m.title} />
    <ConfirmBody m={m} inDialog />
  </div>
);

export const ConfirmPage: FC<PageModel & { m: ConfirmModel }> = (p) => (
  <Layout title={p.m.title} user={p.user} active={p.m.active}>
    <h1>{p.m.title}</h1>
    <section class="card highlight">
      <ConfirmBody m={p.m} inDialog={false} />
    </section>
  </Layout>
);

/** hx attributes that open a confirmation (or any fragment) in the page's dialog instead of navigating. */
export const intoDialog = (url: string) => ({ "hx-get": url, "hx-target": "#modal", "hx-swap": "innerHTML" });
