"""Erlang C for the simulator's yardstick: the core's formulas (:mod:`callwatch.erlang`), one copy."""

from __future__ import annotations

from callwatch.erlang import agents_needed, asa, erlang_c, service_level

__all__ = ["agents_needed", "asa", "erlang_c", "service_level"]
