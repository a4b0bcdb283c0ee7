"""The ``callwatch`` command: the typer app that gathers every command group's module, and the one
place where a failure becomes one line and an exit status (``console.common.describe``), or, with
``--debug``, the traceback."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated, Any

import typer
from rich.text import Text
from typer import _click as typer_click
from typer.core import TyperArgument, TyperGroup, TyperOption

from console import agents, alerts, demo, goals, imports, replay, simulate, state, wallboard, worker
from console.common import describe, err

#: typer's type tags in click's plain words
_KINDS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "file": "FILE", "path": "PATH", "directory": "DIR"}


def _plain_metavars(command: Any, ctx: Any) -> None:
    """Help in click's plain words: a flag shows no value, an option the kind of value it takes
    (``INTEGER``, ``TEXT``, ``[wall|event]``), an argument only its name — not typer's ``<bool>``,
    ``<str>`` tags, which read as if a flag wanted a value typed after it. (typer's vendored click
    classes, which it does not export, hence ``Any``.)"""
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and param.metavar is None:
            if param.is_flag or param.count:
                param.metavar = ""
            else:
                label = param.display_type(ctx).strip("<>")
                param.metavar = f"[{label}]" if "|" in label else _KINDS.get(label, label.upper())
        elif isinstance(param, TyperArgument) and param.metavar is None:
            param.metavar = (param.name or "value").upper()
            # its name says what it is; the type column would repeat it as a tag
            setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010 - typer has no setting for it
    for name in getattr(command, "commands", {}):
        sub = command.get_command(ctx, name)
        if sub is not None:
            _plain_metavars(sub, type(ctx)(sub, parent=ctx, info_name=name))


class _OneLineErrors(TyperGroup):
    """The app's top group: whatever a command lets through is answered here, once for all commands."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        _plain_metavars(self, typer_click.Context(self, info_name=info_name))
        return super().make_context(info_name, args, parent, **extra)

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
    app(prog_name="callwatch")  # `python -m console` too: the usage lines name the command people type


if __name__ == "__main__":
    main()
