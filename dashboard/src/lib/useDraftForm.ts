import { useState, type FormEvent } from "react";
import { useAction } from "./useAction";

/**
 * A form over a draft of strings (and the odd boolean): `check` turns the draft into field
 * errors and, when there are none, the body that `save` sends (inside `useAction().run`).
 * `set("field")` is an onChange handler for a text input or select.
 */
export function useDraftForm<D extends object, B>(
  initial: D,
  check: (draft: D) => { errors: Partial<Record<keyof D, string>>; body?: B },
  save: (body: B) => Promise<void>,
) {
  const [draft, setDraft] = useState<D>(initial);
  const [errors, setErrors] = useState<Partial<Record<keyof D, string>>>({});
  const { busy, error, run } = useAction();
  const set = (k: keyof D) => (e: { target: { value: string } }) => setDraft((x) => ({ ...x, [k]: e.target.value }));

  async function submit(e: FormEvent) {
    e.preventDefault();
    const { errors: found, body } = check(draft);
    setErrors(found);
    if (!body) return;
    await run(() => save(body));
  }

  return { draft, setDraft, set, errors, busy, error, submit };
}
