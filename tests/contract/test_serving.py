"""`serve` as a real process: every content type in and out, every error code, over real HTTP."""

from __future__ import annotations

import http.client
import io
import json
from pathlib import Path

import numpy as np
import pytest
import requests

from container import artifacts, codecs

CSV, JSON, JSONL, NPY = codecs.CSV, codecs.JSON, codecs.JSONLINES, codecs.NPY
ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def csv_body(rows: np.ndarray) -> bytes:
    return "".join(",".join(f"{v:g}" for v in row) + "\n" for row in rows).encode()


@pytest.fixture(scope="module")
def server(shared_server):
    return shared_server("default")


@pytest.fixture(scope="module")
def configured(shared_server):
    """One server with every serving setting changed from its default."""
    return shared_server("configured", {
        "BYOC_DEFAULT_OUTPUT": "probabilities",
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": JSONL,
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
        "MODEL_SERVER_WORKERS": "3",
    })


@pytest.fixture(scope="module")
def model(trained_model: Path):
    return artifacts.load_estimator(trained_model)


@pytest.fixture(scope="module")
def expected(model, features) -> list[int]:
    return model.predict(features).tolist()


def post(server, body: bytes, content_type: str | None = CSV, accept: str | None = None,
         attributes: str | None = None, session: requests.Session | None = None) -> requests.Response:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if accept is not None:
        headers["Accept"] = accept
    if attributes is not None:
        headers[ATTRIBUTES] = attributes
    return (session or requests).post(server.url + "/invocations", data=body, headers=headers, timeout=30)


def decoded(response: requests.Response) -> list:
    """The predictions in a response, whatever its type."""
    kind = codecs.media_type(response.headers["Content-Type"])
    if kind == JSON:
        return response.json()["predictions"]
    if kind == JSONL:
        return [json.loads(line) for line in response.text.splitlines()]
    if kind == CSV:
        return [json.loads(line) if "," not in line else [float(v) for v in line.split(",")]
                for line in response.text.splitlines()]
    if kind == NPY:
        return np.load(io.BytesIO(response.content), allow_pickle=False).tolist()
    raise AssertionError(f"unexpected Content-Type {response.headers['Content-Type']}")


def assert_error(response: requests.Response, status: int, *texts: str) -> dict:
    assert response.status_code == status, response.text
    assert codecs.media_type(response.headers["Content-Type"]) == JSON
    body = response.json()
    assert set(body) == {"error", "message", "request_id"}
    assert body["request_id"] and body["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    for text in texts:
        assert text in body["message"], (text, body)
    return body


# -- health and batch -----------------------------------------------------------------------


def test_ping_is_200_with_an_empty_body(server) -> None:
    response = requests.get(server.url + "/ping", timeout=2)
    assert response.status_code == 200 and response.content == b""


def test_execution_parameters(server, configured) -> None:
    response = requests.get(server.url + "/execution-parameters", timeout=5)
    assert response.status_code == 200
    params = response.json()
    assert set(params) == {"MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB"}
    assert params["BatchStrategy"] == "MULTI_RECORD"  # the env-style spelling, as AWS's containers answer
    assert params["MaxPayloadInMB"] == 6
    assert params["MaxConcurrentTransforms"] >= 1
    assert requests.get(configured.url + "/execution-parameters", timeout=5).json() == {
        "MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}


# -- every content type in ------------------------------------------------------------------


def bodies(features: np.ndarray) -> dict[str, tuple[bytes, str]]:
    rows = features.tolist()
    return {
        "csv": (csv_body(features), "text/csv"),
        "csv-charset": (csv_body(features).replace(b"\n", b"\r\n"), "text/csv; charset=utf-8"),
        "csv-upper": (csv_body(features), "Text/CSV"),
        "json-list": (json.dumps(rows).encode(), "application/json"),
        "json-instances": (json.dumps({"instances": rows}).encode(), "application/json; charset=utf-8"),
        "json-features": (json.dumps({"instances": [{"features": r} for r in rows]}).encode(), JSON),
        "jsonlines": ("".join(json.dumps(r) + "\n" for r in rows).encode(), JSONL),
        "npy": (npy(features), NPY),
        "npy-float32": (npy(features.astype(np.float32)), NPY),
    }


@pytest.mark.parametrize("kind", ["csv", "csv-charset", "csv-upper", "json-list", "json-instances",
                                  "json-features", "jsonlines", "npy", "npy-float32"])
def test_every_content_type_in(server, features, expected, kind) -> None:
    body, content_type = bodies(features)[kind]
    response = post(server, body, content_type, accept=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected


@pytest.mark.parametrize(("body", "content_type"), [
    (b"5.1,3.5,1.4,0.2", CSV), (b"[5.1,3.5,1.4,0.2]", JSON), (b'{"instances": [5.1,3.5,1.4,0.2]}', JSON),
    (b"[5.1,3.5,1.4,0.2]\n", JSONL), (npy(np.array([5.1, 3.5, 1.4, 0.2])), NPY),
])
def test_a_single_row(server, model, body, content_type) -> None:
    response = post(server, body, content_type, accept=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict([[5.1, 3.5, 1.4, 0.2]]).tolist()


# -- every Accept out ------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [CSV, JSON, JSONL, NPY, "text/csv; charset=utf-8", "application/x-ndjson"])
def test_every_accept_out(server, features, expected, accept) -> None:
    response = post(server, csv_body(features), CSV, accept=accept)
    assert response.status_code == 200, response.text
    assert codecs.media_type(response.headers["Content-Type"]) == codecs.media_type(accept)
    assert decoded(response) == expected


def test_csv_and_jsonlines_give_one_line_per_record(server, features) -> None:
    for accept in (CSV, JSONL):
        response = post(server, csv_body(features), CSV, accept=accept)
        assert response.text.endswith("\n") and len(response.text.splitlines()) == len(features)


@pytest.mark.parametrize(("content_type", "kind"), [
    ("text/csv", "csv"), ("text/csv; charset=utf-8", "csv-charset"), (JSON, "json-list"),
    (JSONL, "jsonlines"), (NPY, "npy"),
])
def test_no_accept_answers_in_the_request_type(server, features, expected, content_type, kind) -> None:
    body, _ = bodies(features)[kind]
    for accept in (None, "*/*"):
        response = post(server, body, content_type, accept=accept)
        assert response.status_code == 200, response.text
        assert codecs.media_type(response.headers["Content-Type"]) == codecs.media_type(content_type)
        assert decoded(response) == expected


def test_accept_with_q_values(server, features, expected) -> None:
    response = post(server, csv_body(features), CSV, accept="application/json;q=0.4, application/jsonlines;q=0.8")
    assert codecs.media_type(response.headers["Content-Type"]) == JSONL
    assert decoded(response) == expected


def test_default_accept_from_the_environment(configured, features, model) -> None:
    for accept in (None, "*/*"):
        response = post(configured, csv_body(features), CSV, accept=accept, attributes="output=predictions")
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith(JSONL)
        assert decoded(response) == model.predict(features).tolist()
    # an explicit Accept still wins
    assert post(configured, csv_body(features), CSV, accept=CSV).headers["Content-Type"].startswith(CSV)


# -- probabilities ---------------------------------------------------------------------------


@pytest.mark.parametrize("attributes", ["output=probabilities", "trace=abc, output=probabilities",
                                        "output=predict_proba;trace=1"])
def test_probabilities_by_custom_attribute(server, features, model, attributes) -> None:
    response = post(server, csv_body(features), CSV, accept=JSON, attributes=attributes)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["classes"] == [0, 1, 2]
    np.testing.assert_allclose(document["predictions"], model.predict_proba(features))


def test_probabilities_in_csv_have_one_column_per_class(server, features, model) -> None:
    response = post(server, csv_body(features), CSV, accept=CSV, attributes="output=probabilities")
    rows = [[float(v) for v in line.split(",")] for line in response.text.splitlines()]
    np.testing.assert_allclose(rows, model.predict_proba(features))


def test_probabilities_by_default_from_the_environment(configured, features, model) -> None:
    response = post(configured, csv_body(features), CSV, accept=NPY)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(decoded(response), model.predict_proba(features))
    labels = post(configured, csv_body(features), CSV, accept=JSON, attributes="output=predictions")
    assert labels.json()["predictions"] == model.predict(features).tolist()


def test_other_custom_attributes_are_ignored(server, features, expected) -> None:
    response = post(server, csv_body(features), CSV, accept=JSON, attributes="c000b4f9-df62-4c85-a0bf-7c525f9104a4")
    assert response.status_code == 200 and response.json()["predictions"] == expected


def test_unknown_output_attribute_is_400(server, features) -> None:
    assert_error(post(server, csv_body(features), CSV, attributes="output=logits"), 400, "logits")


# -- errors ----------------------------------------------------------------------------------


def test_400_malformed_csv_names_the_row_and_column(server) -> None:
    body = assert_error(post(server, b"5.1,3.5,1.4,0.2\n6.2,abc,4.3,1.3\n", CSV), 400,
                        "row 2, column 2", "'abc' is not a number")
    assert body["error"] == "RequestError"


def test_400_ragged_csv(server) -> None:
    assert_error(post(server, b"5.1,3.5,1.4,0.2\n6.2,2.9,4.3\n", CSV), 400, "row 2", "3 columns")


def test_400_header_row(server) -> None:
    assert_error(post(server, b"a,b,c,d\n5.1,3.5,1.4,0.2\n", CSV), 400, "row 1", "header")


@pytest.mark.parametrize(("body", "content_type"), [
    (b"5.1,3.5,1.4\n6.2,2.9,4.3\n", CSV), (b"[[5.1,3.5,1.4,0.2,9.9]]", JSON),
    (npy(np.zeros((2, 3))), NPY), (b"[1,2]\n[3,4]\n", JSONL),
])
def test_400_wrong_number_of_features(server, body, content_type) -> None:
    assert_error(post(server, body, content_type), 400, "the model takes 4 features")


@pytest.mark.parametrize(("body", "content_type", "text"), [
    (b"[[1,2,3,4],", JSON, "Bad JSON"),
    (b'{"rows": []}', JSON, "none of which holds records"),
    (b"[[1,2,3,4]]\nnope\n", JSONL, "line 2"),
    (b"", CSV, "empty"),
    (b"garbage", NPY, "not an .npy file"),
    (npy(np.array([{"x": 1}], dtype=object), allow_pickle=True), NPY, "never unpickles"),
])
def test_400_malformed_payloads(server, body, content_type, text) -> None:
    assert_error(post(server, body, content_type), 400, text)


def test_400_body_sent_without_a_content_type_is_read_as_json(server, features, expected) -> None:
    assert post(server, json.dumps(features.tolist()).encode(), None, accept=JSON).json()["predictions"] == expected
    assert_error(post(server, csv_body(features), None), 400, "Bad JSON")


@pytest.mark.parametrize("accept", ["text/html", "image/*", "application/xml, text/plain;q=0.5"])
def test_406_unsupported_accept(server, features, accept) -> None:
    body = assert_error(post(server, csv_body(features), CSV, accept=accept), 406, "text/csv", "application/json")
    assert body["error"] == "NotAcceptable"


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", "image/jpeg"])
def test_415_unsupported_content_type(server, features, content_type) -> None:
    body = assert_error(post(server, csv_body(features), content_type), 415, content_type, "text/csv")
    assert body["error"] == "UnsupportedMediaType"


def test_413_above_the_default_6_mb(server) -> None:
    body = b"5.1,3.5,1.4,0.2\n" * (6 * 1024 * 1024 // 16 + 1)
    assert len(body) > 6 * 1024 * 1024
    response = assert_error(post(server, body, CSV), 413, "6 MB", "SAGEMAKER_MAX_PAYLOAD_IN_MB")
    assert response["error"] == "PayloadTooLarge"


def test_413_above_sagemaker_max_payload_in_mb(configured) -> None:
    row = b"5.1,3.5,1.4,0.2\n"
    limit = 1024 * 1024
    under = row * (limit // len(row))
    assert len(under) == limit
    ok = post(configured, under, CSV, accept=CSV, attributes="output=predictions")
    assert ok.status_code == 200 and len(ok.text.splitlines()) == limit // len(row)
    assert_error(post(configured, under + row, CSV), 413, "1 MB")


def test_413_for_a_chunked_body_without_content_length(configured) -> None:
    chunks = (b"5.1,3.5,1.4,0.2\n" * 4096 for _ in range(20))  # 1.25 MB, sent chunked
    response = requests.post(configured.url + "/invocations", data=chunks, headers={"Content-Type": CSV}, timeout=30)
    assert_error(response, 413, "1 MB")


def test_404_and_405_are_json(server) -> None:
    body = assert_error(requests.get(server.url + "/nope", timeout=5), 404, "/nope", "POST /invocations")
    assert body["error"] == "NotFound"
    for response, allow in [(requests.get(server.url + "/invocations", timeout=5), "POST, OPTIONS"),
                            (requests.post(server.url + "/ping", timeout=5), "GET, HEAD, OPTIONS"),
                            (requests.delete(server.url + "/execution-parameters", timeout=5), "GET, HEAD, OPTIONS")]:
        assert assert_error(response, 405, allow)["error"] == "MethodNotAllowed"
        assert response.headers["Allow"] == allow


def test_a_body_shorter_than_its_content_length_is_400(server) -> None:
    # The client sends part of the body and closes its side: no prediction on part of the records.
    import socket

    host, port = server.url.rsplit("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: 1000\r\n\r\n5.1,3.5,1.4,0.2\n")
        sock.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    document = json.loads(body)
    assert document["error"] == "RequestError"
    assert "ended after 16 of the 1000 bytes" in document["message"]


def test_errors_are_logged_with_the_request_id(server) -> None:
    body = assert_error(post(server, b"1,2\n", CSV), 400)
    deadline = __import__("time").monotonic() + 5
    while body["request_id"] not in server.log and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.05)
    line = next(line for line in server.log.splitlines() if body["request_id"] in line)
    assert "400" in line and "RequestError" in line


# -- the server keeps serving -----------------------------------------------------------------


def test_keeps_serving_on_one_keep_alive_connection_after_every_bad_request(server, features, expected) -> None:
    host, port = server.url.rsplit("//", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    good = csv_body(features)
    bad_requests = [
        ("POST", "/invocations", b"1,x\n", {"Content-Type": CSV}),                     # 400
        ("POST", "/invocations", good, {"Content-Type": CSV, "Accept": "text/html"}),  # 406
        ("POST", "/invocations", good, {"Content-Type": "application/octet-stream"}),  # 415
        ("GET", "/nope", None, {}),                                                    # 404
        ("GET", "/invocations", None, {}),                                             # 405
        ("POST", "/invocations", b"[[1,2,3]]", {"Content-Type": JSON}),                # 400
    ]
    local_ports = set()
    try:
        for method, path, body, headers in bad_requests:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            assert response.status >= 400
            assert json.loads(response.read())["error"]
            assert (response.getheader("Connection") or "").lower() != "close"
            local_ports.add(connection.sock.getsockname()[1])
            connection.request("POST", "/invocations", body=good, headers={"Content-Type": CSV, "Accept": JSON})
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["predictions"] == expected
            local_ports.add(connection.sock.getsockname()[1])
    finally:
        connection.close()
    assert len(local_ports) == 1  # one TCP connection throughout


def test_keeps_serving_after_a_413_on_the_same_connection(configured, features) -> None:
    host, port = configured.url.rsplit("//", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    big = b"5.1,3.5,1.4,0.2\n" * (2 * 1024 * 1024 // 16)  # twice the 1 MB limit, refused unread
    try:
        connection.request("POST", "/invocations", body=big, headers={"Content-Type": CSV})
        response = connection.getresponse()
        assert response.status == 413 and json.loads(response.read())["error"] == "PayloadTooLarge"
        first = connection.sock.getsockname()
        connection.request("POST", "/invocations", body=csv_body(features),
                           headers={"Content-Type": CSV, "Accept": CSV, ATTRIBUTES: "output=predictions"})
        response = connection.getresponse()
        assert response.status == 200 and len(response.read().splitlines()) == len(features)
        assert connection.sock.getsockname() == first  # the same TCP connection
    finally:
        connection.close()


def test_a_chunked_body_at_the_limit_is_whole_and_one_byte_over_is_413(configured) -> None:
    # werkzeug stops at max_content_length silently: a body over the limit must not be cut short.
    row = b"5.1,3.5,1.4,0.2\n"
    rows = 1024 * 1024 // len(row)
    at_limit = (row * 1024 for _ in range(rows // 1024))
    response = requests.post(configured.url + "/invocations", data=at_limit, timeout=30,
                             headers={"Content-Type": CSV, "Accept": CSV, ATTRIBUTES: "output=predictions"})
    assert response.status_code == 200 and len(response.text.splitlines()) == rows
    over = iter([row * rows, b"5"])
    response = requests.post(configured.url + "/invocations", data=over, headers={"Content-Type": CSV}, timeout=30)
    assert_error(response, 413, "1 MB")


def test_max_payload_0_takes_a_streamed_body_of_any_size(shared_server) -> None:
    # Batch transform with MaxPayloadInMB=0 streams the whole object with chunked encoding.
    server = shared_server("streamed", {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "SAGEMAKER_BATCH": "true",
                                        "MODEL_SERVER_WORKERS": "1"})
    assert requests.get(server.url + "/execution-parameters", timeout=5).json()["MaxPayloadInMB"] == 0
    row = b"5.1,3.5,1.4,0.2\n"
    rows = 7 * 1024 * 1024 // len(row) + 1  # over the real-time 6 MB
    body = (row * 4096 for _ in range(rows // 4096 + 1))
    response = requests.post(server.url + "/invocations", data=body, timeout=60,
                             headers={"Content-Type": CSV, "Accept": CSV})
    assert response.status_code == 200, response.text[:500]
    assert len(response.text.splitlines()) == (rows // 4096 + 1) * 4096


def test_large_bodies_back_to_back_and_pipelined_on_one_connection(server, features, model) -> None:
    # Bodies over 256 KB are read past gunicorn's buffers (container.body): what gunicorn had
    # already read, a pipelined request behind the body included, must all still be there.
    import socket

    rows = np.tile(features, (60000 // len(features) + 1, 1))[:60000]
    big, small = csv_body(rows), csv_body(features[:3])
    assert len(big) > 512 * 1024
    want_big = "".join(f"{v}\n" for v in model.predict(rows).tolist()).encode()
    want_small = "".join(f"{v}\n" for v in model.predict(features[:3]).tolist()).encode()

    def request(body: bytes) -> bytes:
        return (b"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\nAccept: text/csv\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)) + body

    host, port = server.url.rsplit("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        # Three requests in one write: the second's headers arrive with the first's body.
        sock.sendall(request(big) + request(small) + request(big))
        reader = sock.makefile("rb")
        for want in (want_big, want_small, want_big):
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 200"), status + reader.read1(2000)
            length = None
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert reader.read(length) == want
