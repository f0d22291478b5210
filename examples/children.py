"""Sub-workflows: a workflow calls another deployed one as a step, which starts a child run.

``thumbnail`` is a workflow of its own (run it alone, trigger it, deploy it); ``album`` calls it twice as
steps. On a control plane each call is a child run, linked both ways (``knflow get`` prints them,
``knflow runs`` marks children with ↳), pinned to the version of ``thumbnail`` deployed when the album's
run starts; a failed child fails its step, naming the child run, and ``knflow retry`` of the album runs
only what did not succeed. In your process, ``python examples/children.py`` runs the children inline.

    knflow dev &
    knflow deploy examples/children.py        # thumbnail first: album runs it
    knflow run album -i title=holidays -i cover=beach.png -i back=dunes.png
"""

from knflow import ActionError, action, workflow


@action
def resize(image: str, width: int) -> str:
    """The name of ``image``'s thumbnail (made up here)."""
    if not image.endswith(".png"):
        raise ActionError(code=422, message=f"{image} is not a PNG image")
    return image.replace(".png", f"@{width}.png")


@action
def bind(title: str, pages: list) -> dict:
    """An album of ``pages`` (its description here)."""
    return {"album": f"{title}: {', '.join(pages)}", "pages": len(pages)}


@workflow
def thumbnail(image: str, width: int = 64) -> dict:
    """One thumbnail: a workflow of its own, run by ``album`` as a step."""
    return {"thumbnail": resize(image=image, width=width)}


@workflow
def album(title: str, cover: str, back: str):
    """An album with two thumbnails, each made by a child run of ``thumbnail``."""
    front = thumbnail.named("front")(image=cover, width=256)  # a sub-workflow step called "front"
    rear = thumbnail.named("rear")(image=back)
    return bind(title=title, pages=[front["thumbnail"], rear["thumbnail"]])


if __name__ == "__main__":
    print(album(title="holidays", cover="beach.png", back="dunes.png"))
