"""Map (``knflow.dev/v2``): one action run once per item of a list known only at run time, at most
``max_parallel`` items in flight, the results joined in input order (docs/sdk.md#map).

Deploy and run it on ``knflow dev``::

    knflow deploy examples/maps.py
    knflow run thumbnails -i count=20
    knflow run grades --input-json '{"scores": [70, -1, 40]}'
    knflow get RUN                 # the map's counts: 20/20 items succeeded, ...
    knflow items RUN resize        # its items, a page at a time

or in your process: ``python examples/maps.py``.
"""

from knflow import ActionError, action, unmapped, workflow


@action
def listing(count: int) -> dict:
    """The names of ``count`` photos (made up here)."""
    return {"names": [f"photo-{i}.png" for i in range(count)]}


@action(retries=2)
def resize(image: str, width: int = 128) -> str:
    """The name of the thumbnail of ``image``."""
    return image.replace(".png", f"@{width}.png")


@action
def album(files: list) -> dict:
    """The thumbnails, in the order of the photos."""
    return {"count": len(files), "first": files[0] if files else None, "files": files}


@action
def grade(score: int, passing: int) -> str:
    """``pass`` or ``fail``; a negative score is an error (not retried)."""
    if score < 0:
        raise ActionError(code=422, message=f"score {score} is negative")
    return "pass" if score >= passing else "fail"


@workflow
def thumbnails(count: int = 5, width: int = 128):
    """A thumbnail of every photo, 4 at a time; one album of them, in order."""
    found = listing(count=count)
    thumbs = resize.map(image=found["names"], width=unmapped(width), max_parallel=4)
    return album(files=thumbs)


@workflow
def grades(scores: list, passing: int = 50):
    """A grade per score; a bad score becomes an error record in the list, the others still count."""
    return grade.map(score=scores, passing=unmapped(passing), on_error="collect")


if __name__ == "__main__":
    print(thumbnails(count=3))
    print(grades(scores=[70, 40]))
