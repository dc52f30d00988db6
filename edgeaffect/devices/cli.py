"""``edgeaffect devices``: list the device profiles and say which one this machine is."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("devices")
    def devices(
        root: Path = typer.Option(Path("/"), help="Read /proc and /etc under this folder (for testing)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        """List device profiles and detect this machine."""
        from edgeaffect.devices import detect_device, list_profiles
        from edgeaffect.plain import to_plain

        here = detect_device(root)
        profiles = list_profiles()
        if as_json:
            typer.echo(json.dumps({"detected": to_plain(here), "profiles": to_plain(profiles)},
                                  indent=2, default=list))
            return
        typer.echo(f"{'':2}{'profile':18}{'formats':18}{'precisions':18}{'detector':10}description")
        for p in profiles:
            mark = "* " if p.name == here.profile else "  "
            typer.echo(f"{mark}{p.name:18}{','.join(p.formats):18}{','.join(p.precisions):18}{p.detector:10}{p.description}")
        facts = ", ".join(f"{k}={v}" for k, v in here.facts.items())
        typer.echo(f"\nthis machine: {here.model} ({here.arch}; {facts}) -> "
                   f"{here.profile or 'no matching profile'}")
