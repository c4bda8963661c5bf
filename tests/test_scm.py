"""Where a repository file page's raw content is (GitHub, GitHub Enterprise, GitLab)."""

from __future__ import annotations

import pytest

from microcks_pipeline.sources.scm import raw_content_url


@pytest.mark.parametrize(
    ("page", "raw"),
    [
        (
            "https://github.com/org/repo/blob/main/apis/pets/microcks.yaml",
            "https://raw.githubusercontent.com/org/repo/main/apis/pets/microcks.yaml",
        ),
        (
            "https://www.GitHub.com/org/repo/blob/v1.2/openapi.yaml",
            "https://raw.githubusercontent.com/org/repo/v1.2/openapi.yaml",
        ),
        (  # GitHub Enterprise: the same host serves /raw/
            "https://ghe.example.org/org/repo/blob/main/apis/microcks.yaml?ref=x",
            "https://ghe.example.org/org/repo/raw/main/apis/microcks.yaml?ref=x",
        ),
        (
            "https://gitlab.example/group/sub/repo/-/blob/v1.2/apis/microcks.yaml",
            "https://gitlab.example/group/sub/repo/-/raw/v1.2/apis/microcks.yaml",
        ),
    ],
)
def test_a_file_page_maps_to_its_raw_content(page: str, raw: str) -> None:
    assert raw_content_url(page, enterprise_hosts=frozenset({"ghe.example.org"})) == raw


@pytest.mark.parametrize(
    "url",
    [
        "https://raw.githubusercontent.com/org/repo/main/microcks.yaml",
        "https://github.com/org/repo/raw/main/microcks.yaml",
        "https://github.com/org/repo/tree/main/apis/",  # a folder, not a file
        "https://gitlab.example/group/repo/-/raw/main/microcks.yaml",
        "https://gitlab.example/group/repo/-/tree/main/apis/",
        "https://git.example.org/mocks/blob.yaml",
        "https://artifacts.example.org/blob/x/y.yaml",  # no owner/repo before "blob"
        # GitHub's shape on a host not named as GitHub Enterprise: may be any file server
        "https://ghe.example.org/org/repo/blob/main/apis/microcks.yaml",
    ],
)
def test_any_other_url_is_left_as_it_is(url: str) -> None:
    assert raw_content_url(url) == url
