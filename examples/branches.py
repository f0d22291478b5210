"""Dynamic flows (``knflow.dev/v2``): a map with a parallelism limit, a branch on a result, ``first_of``
and a sub-workflow. Traced into the spec like any workflow (``knflow graph`` draws it); today it runs in
your process (``python examples/branches.py``): this control plane refuses it at deploy, naming each
field, until its engine runs these steps (docs/sdk.md#dynamic-flows)."""

from knflow import action, first_of, unmapped, workflow


@action
def listing(prefix: str) -> dict:
    """The images under ``prefix`` (made up here)."""
    return {"images": [f"{prefix}/{name}.png" for name in ("cat", "dog", "owl")], "many": True}


@action
def resize(image: str, width: int = 128) -> str:
    """The name of the thumbnail of ``image``."""
    return image.replace(".png", f"@{width}.png")


@action
def archive(files: list) -> dict:
    """A zip of ``files`` (its name and size here)."""
    return {"zip": f"{len(files)} files", "files": files}


@action
def single(files: list) -> dict:
    """The one file, not zipped."""
    return {"zip": files[0] if files else None, "files": files}


@workflow
def thumbnail(image: str, width: int = 64) -> dict:
    """One thumbnail: called by ``gallery`` as a sub-workflow."""
    return {"thumbnail": resize(image=image, width=width)}


@workflow
def gallery(prefix: str, width: int = 128, cover: str = "cover.png"):
    """Thumbnails of every image under ``prefix``, 2 at a time; zipped when there are many."""
    found = listing(prefix=prefix)
    thumbs = resize.map(image=found["images"], width=unmapped(width), max_parallel=2)
    zipped = archive.when(found["many"])(files=thumbs)
    alone = single.when("not steps.listing.output.many")(files=thumbs)
    cover_thumb = thumbnail(image=cover)  # a sub-workflow: a child run
    return {"archive": first_of(zipped["zip"], alone["zip"]), "cover": cover_thumb["thumbnail"]}


if __name__ == "__main__":
    print(gallery(prefix="photos"))
