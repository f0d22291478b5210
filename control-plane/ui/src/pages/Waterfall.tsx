// The trace waterfall: every attempt of every step on the run's time axis; a map step, whose items are
// counted and not listed here (10,000 of them), as one lane from its start to its end.
import { duration } from "../format";
import { count } from "../maps";
import { look } from "../status";
import type { Run } from "../types";

interface Lane {
  key: string;
  step: string;
  label: string;
  status: string;
  from: number;
  to: number;
}

function lanes(run: Run, start: number): Lane[] {
  const time = (iso: string | null, otherwise: number) => (iso ? Date.parse(iso) : otherwise);
  return (run.steps ?? []).flatMap((step): Lane[] => {
    if (step.map && step.started_at)
      return [
        {
          key: `${step.name}/map`,
          step: step.name,
          label: `${count(step.map.total)} items`,
          status: step.status,
          from: time(step.started_at, start),
          to: time(step.finished_at, Date.now()),
        },
      ];
    return step.attempts.map((attempt) => ({
      key: attempt.id,
      step: step.name,
      label: `#${attempt.number}`,
      status: attempt.status,
      from: time(attempt.started_at, start),
      to: time(attempt.finished_at, Date.now()),
    }));
  });
}

export function Waterfall({ run, onSelect }: { run: Run; onSelect: (step: string) => void }) {
  const start = Date.parse(run.created_at);
  const shown = lanes(run, start);
  const end = Math.max(
    start + 1,
    run.finished_at ? Date.parse(run.finished_at) : Date.now(),
    ...shown.map((lane) => lane.to),
  );
  const span = end - start;
  return (
    <section class="waterfall">
      <h3>
        Trace <span class="dim">{duration(span)}</span>
      </h3>
      {shown.map((lane) => {
        const left = ((lane.from - start) / span) * 100;
        const width = Math.max(0.5, ((lane.to - lane.from) / span) * 100);
        return (
          <div class="lane" key={lane.key} data-lane={lane.step} onClick={() => onSelect(lane.step)}>
            <span class="lane-name">
              {lane.step} <span class="dim">{lane.label}</span>
            </span>
            <span class="lane-track">
              <span
                class={`bar tone-${look(lane.status).tone}`}
                style={{ left: `${left}%`, width: `${width}%` }}
                title={`${lane.status} ${duration(lane.to - lane.from)}`}
              />
            </span>
            <span class="lane-time">{duration(lane.to - lane.from)}</span>
          </div>
        );
      })}
    </section>
  );
}
