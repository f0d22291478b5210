// The live feed (GET /v1/stream, Server-Sent Events) read with fetch, so that it carries the API key
// (EventSource cannot send headers). The server ends each stream after a few seconds; we reconnect at
// once and tell the page to read again ("hello"), which also covers what other replicas changed.
import { headers } from "./api";
import type { Change } from "./types";

export type FeedEvent = { event: "hello" } | { event: "resync" } | { event: "change"; change: Change };

/** Follows the feed (for one run, or all) until the returned function is called. */
export function follow(runId: string | null, onEvent: (event: FeedEvent) => void): () => void {
  const stop = new AbortController();
  let failures = 0;
  const loop = async () => {
    while (!stop.signal.aborted) {
      try {
        const path = runId ? `/v1/stream?run_id=${encodeURIComponent(runId)}` : "/v1/stream";
        const response = await fetch(path, { headers: headers(), signal: stop.signal });
        if (!response.ok || !response.body) throw new Error(`feed answered ${response.status}`);
        failures = 0;
        await read(response.body, onEvent);
      } catch {
        if (stop.signal.aborted) return;
        failures += 1;
        await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** failures)));
      }
    }
  };
  void loop();
  return () => stop.abort();
}

async function read(body: ReadableStream<Uint8Array>, onEvent: (event: FeedEvent) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      dispatch(buffer.slice(0, end), onEvent);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf("\n\n");
    }
  }
}

function dispatch(frame: string, onEvent: (event: FeedEvent) => void): void {
  let event = "message";
  let data = "";
  for (const line of frame.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (event === "hello" || event === "resync") onEvent({ event });
  else if (event === "change" && data) onEvent({ event, change: JSON.parse(data) as Change });
}
