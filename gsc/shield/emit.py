"""Write a planned output image with the Engine: FROM the base, one layer with the /gsc/
files, the planned entrypoint/cmd and labels; tagged only after the build succeeded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gsc import engine
from gsc.image.reference import check_tag
from gsc.manifest.render import render_template
from gsc.shield.plan import OutputImage


def emit(client: Any, out: OutputImage,
         log: Callable[[str], None] | None = None) -> str:
    """Build and tag ``out``; return the new image ID."""
    dockerfile = render_template(
        "Dockerfile.j2",
        {
            "base_image_id": out.base_id,
            "entrypoint": list(out.entrypoint) if out.entrypoint is not None else None,
            "cmd": list(out.cmd) if out.cmd is not None else None,
        },
    )
    members = {"Dockerfile": (dockerfile.encode(), 0o644), **out.files.members()}
    image_id = engine.build(client, engine.context_tar(members), labels=dict(out.labels),
                            log=log)
    engine.tag(client, image_id, *check_tag(out.tag))
    return image_id
