"""The web console's function: its page and files, the headers they carry, and what the
page's code may and may not do (docs/console.md)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, AwsStack, FakeContext, error_body_ok, load_event, load_function

STATIC = ROOT / "functions" / "console" / "static"
MODULES = sorted(STATIC.glob("*.js"))


def get(path: str, *, browser_path: str | None = None, **headers: str) -> dict[str, Any]:
    """The console function's answer to GET `path` (on the execute-api domain: /prod/...)."""
    event = copy.deepcopy(load_event("console"))
    asset = path.removeprefix("/console/") if path.startswith("/console/") else None
    event.update(
        path=path,
        resource="/console/{asset}" if asset else "/",
        pathParameters={"asset": asset} if asset else None,
    )
    event["requestContext"]["path"] = browser_path or f"/prod{path}"
    event["headers"].update(headers)
    event["multiValueHeaders"].update({k: [v] for k, v in headers.items()})
    response: dict[str, Any] = load_function("console").lambda_handler(event, FakeContext())
    return response


def header(response: dict[str, Any], name: str) -> str:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    multi = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    return str(headers.get(name.lower()) or ",".join(multi.get(name.lower(), [])))


def test_the_page_is_served_at_the_root_without_a_token(aws: AwsStack) -> None:
    response = get("/")
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert response["body"] == (STATIC / "index.html").read_text()


def test_the_page_may_connect_to_its_own_origin_and_the_buckets_only(aws: AwsStack) -> None:
    policy = header(get("/"), "Content-Security-Policy")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    # moto presigns for the real S3 addresses: the bucket's uploads and downloads
    bucket = aws.env["MATCHQ_BUCKET_NAME"]
    assert directives["connect-src"] == f"'self' https://{bucket}.s3.amazonaws.com"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'none'"


def test_every_answer_is_neither_sniffed_nor_framed_nor_referred(aws: AwsStack) -> None:
    for response in (get("/"), get("/console/app.js")):
        assert header(response, "X-Content-Type-Options") == "nosniff"
        assert header(response, "Referrer-Policy") == "no-referrer"
        assert "frame-ancestors 'none'" in header(response, "Content-Security-Policy")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_files_are_served_with_their_type(aws: AwsStack, name: str, content_type: str) -> None:
    response = get(f"/console/{name}")
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == content_type
    assert response["body"] == (STATIC / name).read_text()


@pytest.mark.parametrize("name", ["nope.js", "index.html", "..%2Fapp.py", "app.py"])
def test_anything_else_is_a_404_with_the_error_body(aws: AwsStack, name: str) -> None:
    response = get(f"/console/{name}")
    assert response["statusCode"] == 404
    assert error_body_ok(json.loads(response["body"]), "Not Found")


def test_an_unchanged_file_is_a_304(aws: AwsStack) -> None:
    etag = header(get("/console/app.js"), "ETag")
    again = get("/console/app.js", **{"If-None-Match": etag})
    assert again["statusCode"] == 304
    assert again["body"] == ""
    assert get("/console/app.js", **{"If-None-Match": '"other"'})["statusCode"] == 200


def test_the_stage_without_its_slash_is_redirected_to_it(aws: AwsStack) -> None:
    """https://<api>/prod would resolve the page's relative links against /, not /prod/."""
    response = get("/", browser_path="/prod")
    assert response["statusCode"] == 301
    assert header(response, "Location") == "prod/"
    assert get("/", browser_path="/prod/")["statusCode"] == 200
    assert get("/", browser_path="/")["statusCode"] == 200  # a custom domain's root


# ---------------------------------------------------------------- the page's code


def test_every_file_the_page_loads_is_served() -> None:
    index = (STATIC / "index.html").read_text()
    linked = re.findall(r'(?:src|href)="console/([^"]+)"', index)
    assert {"app.js", "style.css"} <= set(linked)
    imported = {
        name for module in MODULES for name in re.findall(r'from "\./([^"]+)"', module.read_text())
    }
    served = {p.name for p in STATIC.iterdir()}
    assert set(linked) | imported <= served
    assert not re.search(r'(?:src|href)="/', index), "absolute links break under /prod/"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_no_module_writes_markup_or_logs(module: Path) -> None:
    """Values from the API are put in as text only, and nothing is logged (the token)."""
    code = re.sub(r"/\*.*?\*/", "", module.read_text(), flags=re.S)
    code = re.sub(r"(^|\s)//.*", "", code, flags=re.M)  # comments may name them
    for banned in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "console.",
        "localStorage",
    ):
        assert banned not in code, f"{module.name} uses {banned}"
