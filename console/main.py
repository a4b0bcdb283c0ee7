"""The ``callwatch`` command: the typer app that gathers every command group's module."""

from __future__ import annotations

import typer

from console import agents, alerts, demo, goals, imports, replay, simulate, state, wallboard, worker

app = typer.Typer(help="callwatch: a streaming, real-time call-center monitor.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_show_locals=False)
# the order of registration is the order of `callwatch --help`
app.command()(worker.worker)
app.command()(replay.replay)
app.command()(wallboard.stats)
app.command()(wallboard.report)
app.command()(simulate.simulate)
app.add_typer(imports.app, name="import")
app.add_typer(alerts.app, name="alerts")
app.command()(demo.demo)
app.add_typer(agents.app, name="agent")
app.command()(agents.integrity)
app.add_typer(goals.app, name="goals")
app.command()(wallboard.wallboard)
app.add_typer(state.app, name="state")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
