"""Project names, and how a function of a project is named to a backend (``domain/projects.py``)."""

from __future__ import annotations

import pytest

from knflow_control_plane.domain.projects import action_of, function_name, invalid_name, project_of


@pytest.mark.parametrize("name", ["a", "default", "shop-eu-1", "0abc", "a" * 40])
def test_dns_labels_of_up_to_40_characters_name_projects(name: str) -> None:
    assert invalid_name(name) is None


@pytest.mark.parametrize("name", ["", "A", "shop_eu", "-a", "a-", "a.b", "a" * 41, "é"])
def test_other_names_are_refused_saying_what_a_name_is(name: str) -> None:
    reason = invalid_name(name)
    assert reason is not None and "lowercase letters, digits and '-'" in reason


def test_a_function_is_named_by_its_project_unless_it_is_the_default_one() -> None:
    assert function_name("default", "resize", "default") == "resize"  # as before projects shared a plane
    qualified = function_name("shop", "resize", "default")
    assert qualified == "shop.resize" and qualified != function_name("eu", "resize", "default")
    assert (project_of(qualified, "default"), action_of(qualified)) == ("shop", "resize")
    assert (project_of("resize", "default"), action_of("resize")) == ("default", "resize")
