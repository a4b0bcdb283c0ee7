"""The ``callwatch`` command: the typer app that gathers every command group's module, and the one
place where a failure becomes one line and an exit status (``console.common.describe``), or, with
``--debug``, the traceback."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from console import agents, alerts, demo, goals, imports, replay, simulate, state, wallboard, worker
from console.common import describe, err


class _OneLineErrors(TyperGroup):
    """The app's top group: whatever a command lets through is answered here, once for all commands."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context, which it does not export
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise  # typer's own answers: an exit status, Ctrl-C, a usage error with its hint
        except Exception as exc:
            message, status = describe(exc)
            if ctx.params.get("debug"):
                traceback.print_exception(exc, file=sys.stderr)
            else:
                err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)  # one line, however narrow
            raise typer.Exit(status) from None


app = typer.Typer(cls=_OneLineErrors, help="callwatch: a streaming, real-time call-center monitor.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", envvar="CALLWATCH_DEBUG",
                                        help="on an error, show its traceback instead of one line")] = False,
) -> None:
    """callwatch: a streaming, real-time call-center monitor."""


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
