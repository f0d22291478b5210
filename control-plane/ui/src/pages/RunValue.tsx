// A run's inputs or result on its page. The page reads the run's shape (GET /v1/runs/{id}?outputs=false):
// a value over 16 KiB, or kept in the object store, comes as its size only (the run's `omitted`), and the
// whole run is read only when the person asks for it ("Show result"), so a 10,000-item map's joined
// result is not fetched, parsed and drawn on every live update of the page.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { Json, Problem, Section } from "../components";
import { bytes } from "../format";

interface Props {
  runId: string;
  title: string;
  field: "inputs" | "result";
  /** The value as the run's shape has it: null when it was left out. */
  value: unknown;
  /** Its size in bytes when the shape left it out. */
  omitted: number | undefined;
}

export function RunValue({ runId, title, field, value, omitted }: Props) {
  const [fetched, setFetched] = useState<{ value: unknown } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setFetched(null), [runId, omitted]);
  if (omitted === undefined) {
    return (
      <Section title={title}>
        <Json value={value} />
      </Section>
    );
  }
  const show = async () => {
    setBusy(true);
    try {
      const run = await api.run(runId);
      setFetched({ value: run[field] });
      setError(null);
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title={title}>
      {fetched ? (
        <Json value={fetched.value} />
      ) : (
        <p class="omitted" data-omitted={field}>
          <span class="dim">{bytes(omitted)}, not loaded </span>
          <button type="button" class="link" disabled={busy} onClick={() => void show()}>
            Show {field}
          </button>
        </p>
      )}
      <Problem error={error} />
    </Section>
  );
}
