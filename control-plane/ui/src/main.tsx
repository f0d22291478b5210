// The knflow web UI: workflows, runs and one run, over the public /v1 API (docs/ui.md).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { apiKey, onUnauthorized, setApiKey } from "./api";
import { Items } from "./pages/Items";
import { KeyPrompt } from "./pages/KeyPrompt";
import { Run } from "./pages/Run";
import { Runs } from "./pages/Runs";
import { Workflow, Workflows } from "./pages/Workflows";
import { linkProps, useLocation } from "./router";
import "./style.css";

function Page({ path, search }: { path: string; search: URLSearchParams }) {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "workflows" && parts[1])
    return <Workflow name={parts[1]} version={search.get("version")} />;
  if (parts[0] === "workflows") return <Workflows />;
  if (parts[0] === "runs" && parts[1] && parts[2] === "steps" && parts[3] && parts[4] === "items")
    return <Items id={parts[1]} step={parts[3]} search={search} />;
  if (parts[0] === "runs" && parts[1]) return <Run id={parts[1]} selected={search.get("step")} />;
  return <Runs search={search} />;
}

function App() {
  const { path, search } = useLocation();
  const [asking, setAsking] = useState(false);
  const [generation, setGeneration] = useState(0); // bumped after a new key: every page reads again
  useEffect(() => onUnauthorized(() => setAsking(true)), []);
  const section = path.startsWith("/workflows") ? "workflows" : "runs";
  return (
    <>
      <nav class="top">
        <a {...linkProps("/runs")} class="brand">
          knflow
        </a>
        <a {...linkProps("/runs")} class={section === "runs" ? "current" : ""}>
          Runs
        </a>
        <a {...linkProps("/workflows")} class={section === "workflows" ? "current" : ""}>
          Workflows
        </a>
        <span class="spacer" />
        <a href="/docs" class="dim">
          API
        </a>
        {apiKey() && (
          <button
            type="button"
            class="link"
            onClick={() => {
              setApiKey(null);
              setGeneration(generation + 1);
            }}
          >
            Forget key
          </button>
        )}
      </nav>
      <main key={`${generation}`}>
        <Page path={path} search={search} />
      </main>
      {asking && (
        <KeyPrompt
          onDone={() => {
            setAsking(false);
            setGeneration(generation + 1);
          }}
        />
      )}
    </>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
