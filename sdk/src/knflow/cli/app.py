"""The ``knflow`` commands: run a local control plane, deploy workflows, start and follow runs."""

from __future__ import annotations

import time
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from knflow import rest
from knflow._loader import load_file
from knflow.client import JSON, Client, WaitTimeoutError

from . import (
    _access,
    _approvals,
    _catalog,
    _context,
    _events,
    _files,
    _help,
    _live,
    _maps,
    _progress,
    _projects,
    _render,
    _waterfall,
)
from ._context import (
    EXIT_ADDRESS_IN_USE,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    JsonOption,
    Output,
    RunArgument,
    UrlOption,
    fail,
    handles_errors,
    parse_files,
    parse_inputs,
    report,
    show,
)

app = _help.PlainTyper(
    name="knflow",
    help="knflow: serverless workflows of Python actions.",
    no_args_is_help=True,
    cls=_help.PlainGroup,
    add_completion=True,  # --install-completion, --show-completion SHELL
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no boxes, no markup (it reads the same in any terminal, piped or not)
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"knflow {package_version('knflow')}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
    project: _context.ProjectOption = None,
) -> None:
    """knflow: serverless workflows of Python actions."""
    _context.select_project(project)


POLL_SECONDS = 0.15
TimeoutOption = Annotated[
    float | None, typer.Option("--timeout", min=0, help="Seconds to wait for the run (default: no limit).")
]
NoWaitOption = Annotated[bool, typer.Option("--no-wait", help="Print the run and return without waiting.")]


@app.command()
def dev(
    port: Annotated[int, typer.Option(envvar="KNFLOW_PORT", help="Port to listen on.")] = 8080,
    host: Annotated[str, typer.Option(envvar="KNFLOW_HOST", help="Interface to listen on.")] = "127.0.0.1",
    state_dir: Annotated[
        Path, typer.Option(envvar="KNFLOW_STATE_DIR", help="Where the database, builds and files live.")
    ] = Path(".knflow"),
) -> None:
    """Run an embedded control plane (SQLite, in-memory bus, local functions) in this process.

    Prints where it listens and one line per deploy and run. Ctrl-C drains (running steps may finish,
    exit 0); a second Ctrl-C stops at once (exit 130). A taken port: one line, exit 4.
    """
    try:
        from knflow_control_plane.entrypoints.server import AddressInUse, StartFailed, serve
        from knflow_control_plane.settings import SettingsError
    except ImportError as exc:
        if exc.name and exc.name.startswith("knflow_control_plane"):
            fail("`knflow dev` needs the control plane: pip install knflow-control-plane", EXIT_USAGE)
        raise
    try:
        status = serve(host=host, port=port, state_dir=state_dir, console=True)
    except AddressInUse as exc:
        fail(str(exc), EXIT_ADDRESS_IN_USE)
    except (SettingsError, StartFailed) as exc:
        fail(str(exc), EXIT_USAGE)
    raise typer.Exit(status)


@app.command()
@handles_errors
def deploy(
    file: Annotated[Path, typer.Argument(help="A .py file with @workflow functions, or a .yaml/.json spec.")],
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", help="Deploy only this workflow.")] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a workflow of the same name deployed from another file.")
    ] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register and deploy every workflow FILE defines, with the .py files of its directory as code."""
    out = Output(as_json)
    project = load_file(file)
    if project.absent and not out.as_json:
        missing = ", ".join(project.absent)
        out.err.print(f"note: traced without {missing} (not installed here); deploy imports it", markup=False)
    if workflow is not None and workflow not in project.workflows:
        fail(f"{file} defines no workflow {workflow!r} (found: {', '.join(sorted(project.workflows))})")
    names = [workflow] if workflow is not None else _catalog.children_first(project.workflows)
    rows: list[JSON] = []
    source = str(file.resolve())
    with _context.make_client(url) as client:
        if not replace:  # before anything is registered; the control plane checks again when deploying
            _catalog.check_source(client, names, source)
        for name in names:
            spec = project.workflows[name]
            registered = client.register_workflow(spec, project.files)
            deployed = client.deploy(name, source=source, replace=replace)
            rows.append(
                {
                    "workflow": name,
                    "version": deployed.version or registered.version,
                    "created": registered.created,
                    "status": deployed.status,
                    "error": deployed.error,
                    "triggers": _render.hook_paths(spec.model_dump(mode="json")),
                }
            )
    failed = [row for row in rows if row["status"] != "ready"]
    if out.as_json:
        out.json({"deployments": rows})
    else:
        out.console.print(_render.deployments_table(rows))
        for row in failed:
            out.err.print(f"deploying {row['workflow']} failed: {_render.format_error(row['error'])}", markup=False)
    raise typer.Exit(EXIT_RUN_FAILED if failed else EXIT_OK)


@app.command()
@handles_errors
def run(
    workflow: Annotated[str, typer.Argument(help="The workflow to run.")],
    *,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="An input as key=value (value parsed as JSON if it can).")
    ] = None,
    input_json: Annotated[str | None, typer.Option("--input-json", help="All inputs as one JSON object.")] = None,
    files: Annotated[
        list[str] | None, typer.Option("--file", "-f", help="A File input as key=PATH (uploaded, streamed).")
    ] = None,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a run of WORKFLOW and follow it step by step until it finishes.

    Exit code: 0 succeeded, 1 failed or cancelled, 2 usage or API error, 3 timeout.
    """
    values = parse_inputs(inputs or [], input_json)
    out = Output(as_json)
    with _context.make_client(url) as client:
        for key, path in parse_files(files or []).items():
            values[key] = client.upload(path)
        started = client.start_run(workflow, values)
        _follow(client, started, out, no_wait=no_wait, timeout=timeout)


@app.command()
@handles_errors
def retry(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The failed run to retry from its failed steps.")],
    step: Annotated[
        str | None, typer.Option("--step", help="Run this step and everything downstream of it again, too.")
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="Start a new run of the deployed version with the run's inputs.")
    ] = False,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Retry a failed run from its failed steps and follow it (exit codes as for ``run``).

    A run stays on the version it started with; --latest starts a new run on the version deployed now.
    """
    if latest and step is not None:
        fail("--latest runs every step again: leave out --step")
    out = Output(as_json)
    with _context.make_client(url) as client:
        _follow(client, client.retry(run_id, step=step, latest=latest), out, no_wait=no_wait, timeout=timeout)


def _follow(client: Client, run: rest.Run, out: Output, *, no_wait: bool, timeout: float | None) -> None:
    """Wait for ``run`` with live progress, show how it ended and exit with its code."""
    if no_wait:
        if out.as_json:
            out.json(_context.as_json(run))
        else:
            # two lines: one of 97 columns would wrap mid-command at 80
            out.console.print(f"run {run.id} {run.status}\nfollow it with: knflow get {run.id}")
        raise typer.Exit(EXIT_OK)
    if not out.as_json:
        out.console.print(f"run [bold]{run.id}[/] of {run.workflow} ({run.workflow_version or '-'})")
    progress = None if out.as_json else _progress.Progress(out.console)
    on_poll = None if progress is None else (lambda polled: progress(_context.as_json(polled)))
    try:
        final = client.wait(run.id, timeout=timeout, poll=POLL_SECONDS, on_poll=on_poll)
    except WaitTimeoutError as exc:
        if out.as_json:
            out.json(_context.as_json(exc.run))
        _context.fail(f"{exc}; follow it with: knflow get {run.id}", EXIT_TIMEOUT)
    shown = _context.as_json(final)
    if out.as_json:
        out.json(shown)
    else:
        took = _render.format_duration(_render.duration_ms(shown))
        out.console.print(Text.assemble(f"run {final.id} ", _render.status_text(final.status), f" in {took}"))
        _render.show_outcome(out.console if final.status == "succeeded" else out.err, shown)
    raise typer.Exit(EXIT_OK if final.status == "succeeded" else EXIT_RUN_FAILED)


@app.command()
@handles_errors
def runs(
    *,
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", help="Only runs of this workflow.")] = None,
    status: Annotated[str | None, typer.Option("--status", "-s", help="Only runs in this status.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Continue from a previous page.")] = None,
    top_level: Annotated[
        bool, typer.Option("--top-level", help="Leave out child runs (of sub-workflow steps).")
    ] = False,
    parent: Annotated[str | None, typer.Option("--parent", metavar="RUN", help="Only the child runs of RUN.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first; a child run (started by a sub-workflow step) is marked with ↳."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        found = client.list_runs(
            workflow=workflow, status=status, limit=limit, cursor=cursor, top_level=top_level, parent_run_id=parent
        )
        page = _context.as_json(found)
    if out.as_json:
        out.json(page)
        return
    out.console.print(_render.runs_table(page.get("runs", [])))
    if page.get("next_cursor"):
        out.console.print(f"more: knflow runs --cursor {page['next_cursor']}", markup=False)


@app.command()
@handles_errors
def get(
    run_id: RunArgument,
    watch: Annotated[bool, typer.Option("--watch", "-W", help="Follow the run's attempts until it ends.")] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a run with its steps' timings, and its result or error.

    With --watch, the exit code is as for ``run``: 0 succeeded, 1 failed or cancelled.
    """
    with _context.make_client(url) as client:
        found = client.get_run(run_id)
        if watch and found.status in ("queued", "running"):
            progress = None if as_json else _progress.Progress(Output(as_json).console)
            on_poll = None if progress is None else (lambda polled: progress(_context.as_json(polled)))
            found = client.wait(run_id, poll=POLL_SECONDS, on_poll=on_poll)
    show(as_json, _context.as_json(found), _render.show_run)
    if watch and found.status != "succeeded":
        raise typer.Exit(EXIT_RUN_FAILED)


@app.command()
@handles_errors
def logs(
    run_id: RunArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Stream the output as it is written, until the run ends.")
    ] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print what each attempt of each step of a run wrote."""
    with _context.make_client(url) as client:
        if follow:
            _live.follow_logs(client, run_id, Output(as_json))
        else:
            show(as_json, _context.as_json(client.logs(run_id)), _render.show_logs)


@app.command()
@handles_errors
def trace(run_id: RunArgument, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Show a run's span waterfall (run, steps, attempts) from its stored timings, with its trace id."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        found = _context.as_json(client.get_run(run_id))
    rows = _waterfall.waterfall(found, now=time.time())
    if out.as_json:
        out.json({"run_id": found.get("id"), "trace_id": found.get("trace_id"), "spans": rows})
    else:
        _waterfall.show_waterfall(out.console, found, rows)


@app.command()
@handles_errors
def cancel(run_id: RunArgument, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Cancel a running run."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        found = client.cancel(run_id)
    report(out, _context.as_json(found), f"run {found.id}: {found.status}")


@app.command()
@handles_errors
def rollback(
    workflow: Annotated[str, typer.Argument(help="The workflow to move back.")],
    version: Annotated[
        str | None, typer.Argument(help="The version to deploy again (default: the one before the deployed one).")
    ] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy an earlier version of WORKFLOW again; runs in progress keep their own versions."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        found = client.rollback(workflow, version)
    report(out, _context.as_json(found), f"workflow {found.workflow}: {found.status} at version {found.version}")
    if found.status != "ready":
        raise typer.Exit(EXIT_RUN_FAILED)


@app.command()
@handles_errors
def undeploy(
    workflow: Annotated[str, typer.Argument(help="The workflow to stop serving.")],
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop serving a workflow (its versions and runs are kept)."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        found = client.undeploy(workflow)
    report(out, _context.as_json(found), f"workflow {found.workflow}: {found.status}")


app.command()(_files.files)
app.command()(_files.download)
app.command()(_catalog.workflows)
app.command()(_catalog.graph)
app.command()(_events.rejected)
_approvals.register(app)
_maps.register(app)
app.add_typer(_access.keys_app, name="keys")
app.add_typer(_access.secrets_app, name="secrets")
app.add_typer(_projects.projects_app, name="projects")
