"""The built-in wallboard: a page for floors without Grafana, its JSON and its server push."""
